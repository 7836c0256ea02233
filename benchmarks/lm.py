"""What the language models buy: CER, WER and decoding speed of each decoding mode.

Modes, side by side on the same posteriors: greedy; plain beam search; beam search with the
character model (`--lm`, default the shipped `en`); the same with the lexicon (`--lexicon`,
default the shipped `en`: out-of-lexicon words pay a penalty); a word model alone and with the
character model spelling its unknown words (`--word-lm`; default: a word bigram built from
wordfreq's list like the shipped models, by `scripts/build_english_lm.py --unit word`, into a
temporary folder: wordfreq has no running text, so it knows word frequencies only).

Lines: English prose (license texts Debian ships, see `prose.py`; never the LM's source, which
is wordfreq) written by the held-out writers (`HELD_OUT_DESIGNS`, never trained on), fully
degraded. The model's posteriors are computed once; greedy decoding, the plain beam search and
the LM beam search then decode the same posteriors, so the speeds are those of decoding alone.

`--tune` chooses alpha and beta on other text (`TUNE_TEXTS`) written by *training* designs,
so the test writers and texts play no part in the choice.

    python benchmarks/lm.py --lines 300                                  # a few minutes
    python benchmarks/lm.py --model M --lm my.arpa.gz --alpha 0.8 --beta 1.5 --json
    python benchmarks/lm.py --tune            # weights of every mode, on the tuning lines

`--alpha/--beta/--oov-penalty` apply to every LM mode; by default each mode takes its own
(`keras_htr.decoders.lm.DEFAULT_WEIGHTS`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
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
    parser.add_argument("--oov-penalty", type=float, default=None, help="(default: the decoder's)")
    parser.add_argument("--lexicon", default="en", help="word list or 'en' (default en)")
    parser.add_argument("--word-lm", help="word ARPA model (default: built from wordfreq)")
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


#: What `--tune` tries per mode: (alpha, beta, oov_penalty).
TUNE_GRID = {
    "char": list(itertools.product((1.0, 1.5, 2.0, 2.5, 3.0), (-2.0, -1.0, 0.0, 1.0), (0.0,))),
    "lexicon": list(itertools.product((1.5, 2.0, 2.5), (-1.0, 0.0), (-1.0, -2.0, -4.0))),
    "word": list(itertools.product((0.5, 1.0, 1.5, 2.0), (-1.0, 0.0, 1.0, 2.0), (-1.0, -2.0))),
}
TUNE_GRID["word+char"] = TUNE_GRID["word"]


def tune(transcriber, modes, args) -> dict:
    """{mode name: (alpha, beta, oov_penalty)} with the lowest WER among the settings whose CER
    is no worse than greedy decoding's, on TUNE_TEXTS written by training designs."""
    from keras_htr.decoders.lm import LMDecoder

    lines = prose.render(prose.prose_lines(prose.TUNE_TEXTS), prose.training_designs(), args.seed + 1, args.tune_lines)
    posts = posteriors_of(transcriber, lines)
    refs = [t for _, t, _ in lines]
    greedy_cer = rates(refs, greedy_texts(posts, transcriber.charset))["cer"]
    chosen = {}
    for name, kwargs in modes.items():
        best = None
        mode = LMDecoder(charset=transcriber.charset, **kwargs).mode
        for alpha, beta, oov in TUNE_GRID[mode]:
            decoder = LMDecoder(charset=transcriber.charset, alpha=alpha, beta=beta,
                                oov_penalty=oov, beam_width=args.beam, **kwargs)
            r = rates(refs, lm_texts(decoder, posts)[0])
            print(f"tune {name}: alpha={alpha} beta={beta} oov={oov}: CER {r['cer']:.4f} "
                  f"WER {r['wer']:.4f}", file=sys.stderr)
            key = (r["cer"] > greedy_cer, r["wer"], r["cer"])
            if best is None or key < best[0]:
                best = (key, (alpha, beta, oov))
        chosen[name] = best[1]
        print(f"tuned {name}: alpha, beta, oov_penalty = {best[1]}", file=sys.stderr)
    return chosen


def english_word_lm(folder) -> str:
    """A word bigram from wordfreq's list (scripts/build_english_lm.py --unit word)."""
    out = os.path.join(folder, "en-words.arpa.gz")
    script = Path(__file__).resolve().parents[1] / "scripts" / "build_english_lm.py"
    subprocess.run(
        [sys.executable, str(script), "--unit", "word", "--order", "2", "--sentences", "40000",
         "--out", out, "--lexicon-out", os.path.join(folder, "lexicon.txt.gz")],
        check=True,
    )
    return out


def main(argv=None) -> int:
    args = get_args(argv)
    from keras_htr.decoders.lm import LMDecoder, load_language_model
    from keras_htr.transcriber import load_transcriber

    transcriber = load_transcriber(args.model)
    lm = load_language_model(args.lm)
    tmp = tempfile.TemporaryDirectory()  # removed when main returns (no longer referenced)
    word_lm = load_language_model(args.word_lm or english_word_lm(tmp.name))
    modes = {
        f"beam {args.beam} + char LM": {"lm": lm},
        "+ lexicon": {"lm": lm, "lexicon": args.lexicon},
        "word LM": {"lm": word_lm},
        "word LM + char LM": {"lm": (word_lm, lm)},
    }
    weights = {name: (args.alpha, args.beta, args.oov_penalty) for name in modes}
    if args.tune:
        weights = tune(transcriber, modes, args)

    lines = prose.render(prose.prose_lines(prose.TEST_TEXTS), prose.held_out_designs(), args.seed, args.lines)
    refs = [t for _, t, _ in lines]
    start = time.perf_counter()
    posts = posteriors_of(transcriber, lines)
    forward = len(lines) / (time.perf_counter() - start)

    start = time.perf_counter()
    greedy = greedy_texts(posts, transcriber.charset)
    greedy_speed = len(lines) / (time.perf_counter() - start)
    beam, beam_speed = beam_texts(posts, transcriber.charset, args.beam)
    rows = {
        "greedy": {**rates(refs, greedy), "lines_per_s": greedy_speed},
        f"beam {args.beam}": {**rates(refs, beam), "lines_per_s": beam_speed},
    }
    outputs = {}
    for name, kwargs in modes.items():
        alpha, beta, oov = weights[name]
        decoder = LMDecoder(charset=transcriber.charset, alpha=alpha, beta=beta, oov_penalty=oov,
                            beam_width=args.beam, **kwargs)
        outputs[name], speed = lm_texts(decoder, posts)
        rows[name] = {**rates(refs, outputs[name]), "lines_per_s": speed,
                      "alpha": decoder.alpha, "beta": decoder.beta, "oov_penalty": decoder.oov_penalty}
        print(f"{name}: CER {rows[name]['cer']:.4f} WER {rows[name]['wer']:.4f} "
              f"{speed:.1f} lines/s", file=sys.stderr)
    base = rows["greedy"]
    targets = {}
    for name in modes:
        cut = 1 - rows[name]["wer"] / base["wer"] if base["wer"] else 0.0
        rows[name]["wer_cut"] = cut
        targets[name] = {"wer_cut>=0.25": cut >= WER_CUT, "cer_no_worse": rows[name]["cer"] <= base["cer"]}
    report = {
        "model": str(args.model or "shipped"),
        "lm": str(lm.path),
        "word_lm": str(args.word_lm or "wordfreq bigram (built)"),
        "lexicon": str(args.lexicon),
        "lines": len(lines),
        "writers": sorted({w for _, _, w in lines}),
        "forward_lines_per_s": forward,
        "uptime": _uptime(),
        "rows": rows,
        "targets": targets,
    }
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{len(lines)} English prose lines by {len(report['writers'])} held-out writers; "
          f"char LM {lm.path.name} (order {lm.order}), lexicon {args.lexicon}, word LM "
          f"{report['word_lm']}")
    print(f"load when measured: {report['uptime']}")
    print(f"{'decoder':<22}{'CER':>8}{'WER':>8}{'WER cut':>9}{'lines/s':>10}  alpha beta oov")
    for name, r in rows.items():
        cut = f"{r['wer_cut']:>9.1%}" if "wer_cut" in r else " " * 9
        w = f"  {r['alpha']} {r['beta']} {r['oov_penalty']}" if "alpha" in r else ""
        print(f"{name:<22}{r['cer']:>8.4f}{r['wer']:>8.4f}{cut}{r['lines_per_s']:>10.1f}{w}")
    print(f"model forward pass: {forward:.1f} lines/s (not included above)")
    for name, t in targets.items():
        print(f"{name}: WER cut >= 25% {'met' if t['wer_cut>=0.25'] else 'MISSED'}, "
              f"CER no worse {'met' if t['cer_no_worse'] else 'MISSED'}")
    for i, r in enumerate(refs[:5]):
        print(f"  {'reference':<17}: {r}\n  {'greedy':<17}: {greedy[i]}")
        for name in modes:
            print(f"  {name:<17}: {outputs[name][i]}")
    return 0


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
