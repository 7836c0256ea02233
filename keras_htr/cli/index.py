"""Build a keyword index: `keras-htr index DATA --out INDEX.sqlite`.

For every line image, the probability of every plausible word being in it (summed over all the
model's readings, not a match against one transcript) goes into an SQLite file that
`keras-htr search` queries. Unreadable images are listed on stderr and left out (exit status 1).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="DATA", help="line image files and/or folders of them")
    parser.add_argument("--out", required=True, metavar="INDEX", help="the SQLite index to write")
    parser.add_argument("--model", metavar="M", help="a .keras model (default: the shipped model)")
    parser.add_argument("--batch-size", type=int, default=16, help="lines per batch (default 16)")
    parser.add_argument(
        "--top-paths", type=int, default=8,
        help="readings per line whose words are proposed (default 8)",
    )
    parser.add_argument(
        "--min-probability", type=float, default=0.01,
        help="smallest relevance probability stored (default 0.01)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.batch_size < 1 or args.top_paths < 1:
        print("keras-htr index: error: --batch-size and --top-paths must be >= 1", file=sys.stderr)
        return 2
    from keras_htr.data.read import list_images

    paths = list_images(args.inputs)
    if not paths:
        print("keras-htr index: error: no image files in the given inputs", file=sys.stderr)
        return 2
    from keras_htr.search import build_index
    from keras_htr.transcriber import load_transcriber

    try:
        transcriber = load_transcriber(args.model)
        stats = build_index(
            transcriber, paths, args.out, batch_size=args.batch_size, top_paths=args.top_paths,
            min_probability=args.min_probability, progress=not args.quiet,
        )
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"keras-htr index: error: {e}", file=sys.stderr)
        return 2
    for message in stats.failed:
        print(f"not indexed: {message}", file=sys.stderr)
    print(f"indexed {stats.lines} lines, {stats.postings} word entries -> {args.out}", file=sys.stderr)
    return 1 if stats.failed else 0
