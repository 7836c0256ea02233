"""Summarise a dataset: lines, characters, alphabet with counts, image sizes, unreadable files.

Reads folders of line images + .gt.txt, the IAM layout, PAGE XML and ALTO. Images are decoded
one at a time (a large dataset need not fit in memory).
"""

from __future__ import annotations

import argparse
import collections
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", help="dataset folder, or a PAGE/ALTO .xml file")
    parser.add_argument("--skip-flagged", action="store_true", help="leave out lines marked doubtful (IAM err)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def summarize(dataset, progress: bool = False) -> dict:
    """Counts and size statistics of a `LineDataset`; images that fail to decode become errors."""
    import numpy as np

    from keras_htr.data.preprocess import ImageError
    from keras_htr.data.sample import ReadError

    chars = collections.Counter()
    heights, widths, errors = [], [], list(dataset.errors)
    flagged = 0
    samples = dataset
    if progress:
        from tqdm import tqdm

        samples = tqdm(dataset, desc="reading", unit="line")
    for sample in samples:
        try:
            image = sample.image
        except ImageError as e:
            errors.append(ReadError(sample.source, str(e)))
            continue
        heights.append(image.shape[0])
        widths.append(image.shape[1])
        chars.update(sample.text)
        flagged += sample.flagged

    def stats(values):
        if not values:
            return None
        v = np.asarray(values)
        return {"min": int(v.min()), "median": float(np.median(v)), "mean": float(v.mean()), "max": int(v.max())}

    return {
        "format": dataset.format,
        "lines": len(heights),
        "flagged": flagged,
        "characters": sum(chars.values()),
        "alphabet": dict(sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))),
        "height": stats(heights),
        "width": stats(widths),
        "errors": errors,
    }


def run(args: argparse.Namespace) -> int:
    from keras_htr.data import read_dataset

    try:
        dataset = read_dataset(args.path, lazy=True, skip_flagged=args.skip_flagged)
    except (FileNotFoundError, ValueError) as e:
        print(f"keras-htr dataset: {e}", file=sys.stderr)
        return 2
    summary = summarize(dataset, progress=not args.quiet)
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
