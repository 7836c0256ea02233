"""Generate synthetic handwriting lines (fonts and real MNIST digits) as PNG + .gt.txt.

Examples:
  keras-htr synth --list-fonts
  keras-htr synth --out data/synth-train --lines 20000 --kind mixed --seed 1 \\
      --exclude-fonts kalam,delius --split train
  keras-htr synth --out data/synth-test --lines 1000 --kind mixed --seed 2 \\
      --fonts kalam,delius --split test
"""

from __future__ import annotations

import argparse
import sys


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--out", help="output folder (created if missing)")
    parser.add_argument("--lines", type=int, help="number of lines to generate")
    parser.add_argument("--kind", choices=("text", "digits", "mixed"), default="text",
                        help="font-rendered words, MNIST digit strings, or both (60/40); default text")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--fonts", type=_names, help="comma-separated fonts to use (default: all)")
    parser.add_argument("--exclude-fonts", type=_names, help="comma-separated fonts to leave out")
    parser.add_argument("--split", choices=("train", "test"), default="train",
                        help="MNIST digits to use: first 400 per class (train) or last 100 (test)")
    parser.add_argument("--start", type=int, default=0, help="index of the first line (to extend a set)")
    parser.add_argument("--workers", type=int, default=1, help="processes to generate with (default 1)")
    parser.add_argument("--list-fonts", action="store_true", help="print the available fonts and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _write_chunk(job) -> dict:
    from keras_htr.data.synthetic import write_dataset

    out, lines, kind, seed, fonts, exclude, split, start = job
    return write_dataset(out, lines, kind=kind, seed=seed, fonts=fonts, exclude_fonts=exclude,
                         split=split, start=start, progress=False)


def run(args: argparse.Namespace) -> int:
    from keras_htr.data import synthetic

    if args.list_fonts:
        for name in synthetic.list_fonts():
            print(name)
        return 0
    if not args.out or not args.lines:
        print("keras-htr synth: --out and --lines are required (or --list-fonts)", file=sys.stderr)
        return 2
    if args.lines < 1 or args.workers < 1 or args.start < 0:
        print("keras-htr synth: --lines and --workers must be >= 1, --start >= 0", file=sys.stderr)
        return 2
    try:
        if args.kind != "digits":
            fonts = synthetic.select_fonts(args.fonts, args.exclude_fonts)
            print(f"fonts: {', '.join(fonts)}")
        if args.workers == 1:
            counts = synthetic.write_dataset(
                args.out, args.lines, kind=args.kind, seed=args.seed, fonts=args.fonts,
                exclude_fonts=args.exclude_fonts, split=args.split, start=args.start,
                progress=not args.quiet,
            )
        else:
            counts = _run_parallel(args)
    except ValueError as e:
        print(f"keras-htr synth: {e}", file=sys.stderr)
        return 2
    for font, n in sorted(counts.items()):
        print(f"{n:8d}  {font}")
    print(f"{sum(counts.values())} lines written to {args.out}")
    return 0


def _run_parallel(args) -> dict:
    import multiprocessing

    from tqdm import tqdm

    chunk = 200
    jobs = []
    for start in range(args.start, args.start + args.lines, chunk):
        n = min(chunk, args.start + args.lines - start)
        jobs.append((args.out, n, args.kind, args.seed, args.fonts, args.exclude_fonts, args.split, start))
    counts: dict = {}
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        bar = tqdm(total=args.lines, desc=f"synth {args.kind}", unit="line", disable=args.quiet)
        for jobs_done, part in zip(jobs, pool.imap(_write_chunk, jobs)):
            for font, n in part.items():
                counts[font] = counts.get(font, 0) + n
            bar.update(jobs_done[1])
        bar.close()
    return counts
