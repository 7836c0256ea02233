"""Search a keyword index: `keras-htr search --index INDEX.sqlite QUERY...`.

Prints the lines where each query word may occur, most probable first, as text
(`probability<TAB>path<TAB>query`) or JSON lines {"query", "path", "probability", "position",
"text"}. Case-insensitive unless --case-sensitive. Exit status 2 on a bad query or index.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("queries", nargs="+", metavar="QUERY", help="words to find")
    parser.add_argument("--index", required=True, metavar="INDEX", help="an index from `keras-htr index`")
    parser.add_argument("--format", choices=("text", "jsonl"), default="text")
    parser.add_argument(
        "--min-probability", type=float, default=0.0, metavar="P",
        help="leave out lines less probable than P (default 0)",
    )
    parser.add_argument("--limit", type=int, default=None, help="at most this many lines per query")
    parser.add_argument("--case-sensitive", action="store_true", help="match capitals exactly")


def format_hit(hit, fmt: str) -> str:
    if fmt == "jsonl":
        return json.dumps(
            {
                "query": hit.query, "path": hit.path, "probability": round(hit.probability, 6),
                "position": hit.position, "text": hit.text,
            },
            ensure_ascii=False,
        )
    return f"{hit.probability:.4f}\t{hit.path}\t{hit.query}"


def run(args: argparse.Namespace) -> int:
    from keras_htr.search import KeywordIndex

    try:
        with KeywordIndex(args.index) as index:
            hits = [
                index.search(q, min_probability=args.min_probability, limit=args.limit,
                             case_sensitive=args.case_sensitive)
                for q in args.queries
            ]
    except (FileNotFoundError, ValueError) as e:
        print(f"keras-htr search: error: {e}", file=sys.stderr)
        return 2
    for found in hits:
        for hit in found:
            print(format_hit(hit, args.format))
    return 0
