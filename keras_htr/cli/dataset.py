"""Summarise a dataset: lines, characters, alphabet with counts, image sizes, unreadable files.

Reads folders of line images + .gt.txt, the IAM layout, PAGE XML and ALTO. Images are decoded
one at a time (a large dataset need not fit in memory).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="dataset folder, or a PAGE/ALTO .xml file")
    parser.add_argument("--skip-flagged", action="store_true", help="leave out lines marked doubtful (IAM err)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from keras_htr.data.read import read_dataset, summarize_dataset

    try:
        dataset = read_dataset(args.path, lazy=True, skip_flagged=args.skip_flagged)
    except (FileNotFoundError, ValueError) as e:
        print(f"keras-htr dataset: {e}", file=sys.stderr)
        return 2
    summary = summarize_dataset(dataset, progress=not args.quiet)
    print(f"format:      {summary['format']}")
    print(f"lines:       {summary['lines']}" + (f" ({summary['flagged']} flagged err)" if summary["flagged"] else ""))
    print(f"characters:  {summary['characters']}")
    alphabet = summary["alphabet"]
    print(f"alphabet:    {len(alphabet)} symbols")
    for char, count in alphabet.items():
        print(f"  {char!r:>6} {count}")
    for name in ("height", "width"):
        s = summary[name]
        if s:
            print(f"{name + ':':<12} min {s['min']}  median {s['median']:.0f}  mean {s['mean']:.1f}  max {s['max']}")
    errors = summary["errors"]
    print(f"unreadable:  {len(errors)}")
    for e in errors:
        print(f"  {e.path}: {e.reason}")
    return 0 if summary["lines"] else 1
