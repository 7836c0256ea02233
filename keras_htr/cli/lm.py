"""Language models for decoding: `keras-htr lm build CORPUS.txt --order N --out LM`.

Estimates an n-gram model (interpolated Kneser-Ney) from your own text, one sentence or text
line per line, and writes it as ARPA (gzip-compressed when LM ends in .gz), ready for
`keras-htr transcribe --lm LM` and `keras-htr evaluate --lm LM`. Character models (the
default) keep an open vocabulary: names, numbers and unseen words can still be read.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lm_command", metavar="ACTION")
    sub.required = True
    build = sub.add_parser("build", help="estimate an n-gram model from a text corpus")
    build.add_argument("corpus", metavar="CORPUS", help="UTF-8 text, one sentence or line per line")
    build.add_argument("--out", required=True, metavar="LM", help="the model to write (.arpa or .arpa.gz)")
    build.add_argument("--order", type=int, default=6, help="n of the n-gram model (default 6)")
    build.add_argument(
        "--unit", choices=("char", "word"), default="char",
        help="char (default; what --lm decodes with) or word (an ARPA word model for other "
        "tools: the decoder refuses it)",
    )
    build.add_argument(
        "--prune", type=int, default=1,
        help="leave out n-grams (order 3 and up) seen this often or less (default 1; 0 keeps all)",
    )


def run(args: argparse.Namespace) -> int:
    from keras_htr.decoders.ngram import build_lm

    try:
        path = build_lm(args.corpus, args.out, order=args.order, unit=args.unit, prune=args.prune)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"keras-htr lm: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0
