"""CER and WER of a model on a dataset: total edits / total reference characters (words).

Lines whose image cannot be read count as empty output (every reference character an error)
and are listed on stderr. The measuring is `keras_htr.evaluation.evaluate`; this command only
parses arguments and prints.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", metavar="DATA", help="dataset (folder + .gt.txt, IAM, PAGE XML, ALTO)")
    parser.add_argument("--model", metavar="M", help="a .keras model (default: the shipped model)")
    parser.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy)")
    parser.add_argument("--batch-size", type=int, default=16, help="lines per batch (default 16)")
    from keras_htr.cli.lm import add_decoding_arguments

    add_decoding_arguments(parser)  # --lm, --lexicon, --alpha, --beta, --oov-penalty
    parser.add_argument("--json", action="store_true", help='print {"cer", "wer", "lines"} as JSON')


def run(args: argparse.Namespace) -> int:
    for name in ("beam", "batch_size"):
        if getattr(args, name) < 1:
            print(f"keras-htr evaluate: error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    from keras_htr.data import read_dataset
    from keras_htr.evaluation import evaluate
    from keras_htr.transcriber import load_transcriber

    try:
        transcriber = load_transcriber(args.model)
        from keras_htr.cli.lm import decoder_from_args

        lm = decoder_from_args(args, transcriber.charset)
        samples = read_dataset(args.data, lazy=True)
    except (FileNotFoundError, ValueError, OSError, ImportError) as e:
        print(f"keras-htr evaluate: error: {e}", file=sys.stderr)
        return 2
    for error in samples.errors:
        print(f"skipped: {error}", file=sys.stderr)
    if len(samples) == 0:
        print(f"keras-htr evaluate: error: no readable lines in {args.data}", file=sys.stderr)
        return 2
    result = evaluate(
        transcriber, samples, beam=args.beam, batch_size=args.batch_size, progress=not args.json, lm=lm
    )
    counts = result.counts
    for message in result.failed:
        print(f"unreadable (counted as empty output): {message}", file=sys.stderr)
    if args.json:
        print(json.dumps({"cer": counts.cer, "wer": counts.wer, "lines": counts.lines}))
    else:
        print(f"lines: {counts.lines}")
        print(f"CER: {counts.cer:.4f} ({counts.char_edits} edits / {counts.chars} characters)")
        print(f"WER: {counts.wer:.4f} ({counts.word_edits} edits / {counts.words} words)")
    return 0
