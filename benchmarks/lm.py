"""What the language model buys: CER and WER with and without it, and decoding speed.

Lines: English prose (license texts Debian ships, see `prose.py`; never the LM's source, which
is wordfreq) written by the held-out writers (`HELD_OUT_DESIGNS`, never trained on), fully
degraded. The model's posteriors are computed once; greedy decoding, the plain beam search and
the LM beam search then decode the same posteriors, so the speeds are those of decoding alone.

`--tune` chooses alpha and beta on other text (`TUNE_TEXTS`) written by *training* designs,
so the test writers and texts play no part in the choice.

    python benchmarks/lm.py --model keras_htr/shipped/htr_line.keras            # ~2 min
    python benchmarks/lm.py --model M --lm my.arpa.gz --alpha 0.8 --beta 1.5 --json
    python benchmarks/lm.py --model M --tune
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import prose

#: Targets of issue 13: WER cut by at least 25% (relative), CER no worse.
WER_CUT = 0.25
DEFAULT_SEED = 4242


def get_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a .keras model (default: the shipped model)")
    parser.add_argument("--lm", default="en", help="ARPA file or 'en' (default en)")
    parser.add_argument("--lines", type=int, default=200, help="test lines (default 200)")
    parser.add_argument("--alpha", type=float, default=None, help="LM weight (default: the decoder's)")
    parser.add_argument("--beta", type=float, default=None, help="word bonus (default: the decoder's)")
    parser.add_argument("--beam", type=int, default=16, help="beam width (default 16)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--tune", action="store_true", help="grid-search alpha and beta on tuning lines")
    parser.add_argument("--tune-lines", type=int, default=120)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def greedy_texts(posteriors, charset) -> list:
    out = []
    for x in posteriors:
        ids = [k for k, _ in itertools.groupby(np.argmax(x, axis=1)) if k != 0]
        out.append(charset.decode(ids))
    return out


def rates(references, hypotheses) -> dict:
    from keras_htr.metrics import ErrorCounts

    counts = ErrorCounts()
    for r, h in zip(references, hypotheses):
        counts.update(r, h)
    return {"cer": counts.cer, "wer": counts.wer}


def lm_texts(decoder, posteriors) -> tuple:
    start = time.perf_counter()
    texts = [decoder.decode(x[None], [len(x)])[0][0] for x in posteriors]
    return texts, len(posteriors) / (time.perf_counter() - start)


def beam_texts(posteriors, charset, beam: int) -> tuple:
    from keras_htr.decoders.beam import beam_decode

    start = time.perf_counter()
    texts = []
    for x in posteriors:
        ids, _ = beam_decode(x[None], [len(x)], beam_width=beam)
        texts.append(charset.decode(ids.numpy()[0]))
    return texts, len(posteriors) / (time.perf_counter() - start)


def posteriors_of(transcriber, lines) -> list:
    found = transcriber.posteriors([image for image, _, _ in lines])
    bad = [error for _, _, error in found if error]
    if bad:
        raise RuntimeError(f"lines failed: {bad[:3]}")
    return [x for x, _, _ in found]


def tune(transcriber, lm, args) -> tuple:
    from keras_htr.decoders.lm import LMDecoder

    lines = prose.render(prose.prose_lines(prose.TUNE_TEXTS), prose.training_designs(), args.seed + 1, args.tune_lines)
    posts = posteriors_of(transcriber, lines)
    refs = [t for _, t, _ in lines]
    greedy_cer = rates(refs, greedy_texts(posts, transcriber.charset))["cer"]
    best = None
    for alpha, beta in itertools.product((0.5, 1.0, 1.5, 2.0, 2.5, 3.0), (-2.0, -1.0, 0.0, 1.0)):
        decoder = LMDecoder(lm, transcriber.charset, alpha=alpha, beta=beta, beam_width=args.beam)
        r = rates(refs, lm_texts(decoder, posts)[0])
        print(f"tune alpha={alpha} beta={beta}: CER {r['cer']:.4f} WER {r['wer']:.4f}", file=sys.stderr)
        # lowest WER among the settings whose CER is no worse than greedy decoding's
        key = (r["cer"] > greedy_cer, r["wer"], r["cer"])
        if best is None or key < best[0]:
            best = (key, alpha, beta)
    return best[1], best[2]


def main(argv=None) -> int:
    args = get_args(argv)
    from keras_htr.decoders.lm import DEFAULT_ALPHA, DEFAULT_BETA, LMDecoder, load_language_model
    from keras_htr.transcriber import load_transcriber

    transcriber = load_transcriber(args.model)
    lm = load_language_model(args.lm)
    alpha = DEFAULT_ALPHA if args.alpha is None else args.alpha
    beta = DEFAULT_BETA if args.beta is None else args.beta
    if args.tune:
        alpha, beta = tune(transcriber, lm, args)
        print(f"tuned on training designs and tuning text: alpha={alpha} beta={beta}", file=sys.stderr)

    lines = prose.render(prose.prose_lines(prose.TEST_TEXTS), prose.held_out_designs(), args.seed, args.lines)
    refs = [t for _, t, _ in lines]
    start = time.perf_counter()
    posts = posteriors_of(transcriber, lines)
    forward = len(lines) / (time.perf_counter() - start)

    start = time.perf_counter()
    greedy = greedy_texts(posts, transcriber.charset)
    greedy_speed = len(lines) / (time.perf_counter() - start)
    beam, beam_speed = beam_texts(posts, transcriber.charset, args.beam)
    decoder = LMDecoder(lm, transcriber.charset, alpha=alpha, beta=beta, beam_width=args.beam)
    with_lm, lm_speed = lm_texts(decoder, posts)

    rows = {
        "greedy": {**rates(refs, greedy), "lines_per_s": greedy_speed},
        f"beam {args.beam}": {**rates(refs, beam), "lines_per_s": beam_speed},
        f"beam {args.beam} + LM": {**rates(refs, with_lm), "lines_per_s": lm_speed},
    }
    base, lm_row = rows["greedy"], rows[f"beam {args.beam} + LM"]
    wer_cut = 1 - lm_row["wer"] / base["wer"] if base["wer"] else 0.0
    report = {
        "model": str(args.model or "shipped"),
        "lm": str(lm.path),
        "alpha": alpha,
        "beta": beta,
        "lines": len(lines),
        "writers": sorted({w for _, _, w in lines}),
        "forward_lines_per_s": forward,
        "rows": rows,
        "wer_cut": wer_cut,
        "targets": {
            "wer_cut>=0.25": wer_cut >= WER_CUT,
            "cer_no_worse": lm_row["cer"] <= base["cer"],
        },
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{len(lines)} English prose lines by {len(report['writers'])} held-out writers; "
          f"LM {lm.path.name} (order {lm.order}, {lm.unit}), alpha={alpha} beta={beta}")
    print(f"{'decoder':<16}{'CER':>8}{'WER':>8}{'lines/s':>10}")
    for name, r in rows.items():
        print(f"{name:<16}{r['cer']:>8.4f}{r['wer']:>8.4f}{r['lines_per_s']:>10.1f}")
    print(f"model forward pass: {forward:.1f} lines/s (not included above)")
    print(f"WER cut by the LM: {wer_cut:.1%} (target >= 25%): {'met' if wer_cut >= WER_CUT else 'MISSED'}")
    print(f"CER no worse: {'met' if lm_row['cer'] <= base['cer'] else 'MISSED'}")
    for r, g, l in list(zip(refs, greedy, with_lm))[:5]:
        print(f"  ref : {r}\n  1best: {g}\n  +LM : {l}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
