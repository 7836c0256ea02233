"""Generate synthetic handwriting lines (writers, real MNIST digits) as PNG + .gt.txt.

By default text lines are written by every design found except the held-out ones
(`--list-writers` shows them); `--held-out` writes with the held-out designs only.

Examples:
  keras-htr synth --list-writers
  keras-htr synth --out data/synth-train --lines 50000 --kind mixed --seed 1 --workers 2
  keras-htr synth --out data/synth-unseen --lines 1000 --kind text --seed 2 --held-out --split test
  keras-htr synth --out data/synth-small --lines 500 --designs caveat,ems-allure --clean
  keras-htr synth --out data/para-train --paragraphs 5000 --seed 0
  keras-htr synth --out data/para-val --paragraphs 100 --seed 1001   (new writers, same designs)
  keras-htr synth --out data/para-test --paragraphs 200 --seed 7 --held-out
"""

from __future__ import annotations

import argparse
import os
import sys


def _names(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--out", help="output folder (created if missing)")
    parser.add_argument("--lines", type=int, help="number of lines to generate")
    parser.add_argument(
        "--paragraphs", type=int, metavar="N",
        help="generate N paragraphs instead of lines (image + .gt.txt + PAGE XML with the line "
        "boxes; for train-paragraph); --held-out writes with the held-out designs",
    )
    parser.add_argument(
        "--max-lines", type=int, default=15, help="with --paragraphs: 1 to this many lines (default 15)"
    )
    parser.add_argument(
        "--kind",
        choices=("text", "digits", "mixed"),
        default="text",
        help="lines by writers, MNIST digit strings, or both (70/30); default text",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument(
        "--designs",
        "--fonts",
        dest="designs",
        type=_names,
        help="comma-separated designs to write with (default: all but the held-out ones)",
    )
    parser.add_argument(
        "--exclude-designs",
        "--exclude-fonts",
        dest="exclude_designs",
        type=_names,
        help="comma-separated designs to leave out",
    )
    parser.add_argument(
        "--held-out",
        action="store_true",
        help="write with the held-out designs only (for a test set of unseen hands)",
    )
    parser.add_argument(
        "--font-dir",
        action="append",
        default=[],
        help="extra folder to look for the allowlisted font files in (repeatable); "
        "also $KERAS_HTR_FONT_DIR",
    )
    parser.add_argument(
        "--split",
        choices=("train", "test"),
        default="train",
        help="which split of the real MNIST digits digit lines use (never seen together in training); "
        "--list-writers says which MNIST source is installed",
    )
    parser.add_argument(
        "--start", type=int, default=0, help="index of the first line (to extend a set)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes to generate with (default 1)"
    )
    parser.add_argument("--clean", action="store_true", help="no scan degradation (clean renders)")
    parser.add_argument(
        "--list-writers",
        "--list-fonts",
        dest="list_writers",
        action="store_true",
        help="print the handwriting designs found and exit",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    if args.font_dir:  # through the environment, so that worker processes see the folders too
        from keras_htr.data.synthetic.designs import FONT_DIR_ENV

        os.environ[FONT_DIR_ENV] = os.pathsep.join(
            args.font_dir + [os.environ.get(FONT_DIR_ENV, "")]
        ).strip(os.pathsep)
    from keras_htr.data import synthetic

    if args.list_writers:
        return _list_writers(synthetic)
    if args.paragraphs is not None:
        return _paragraphs(args)
    if not args.out or not args.lines:
        print(
            "keras-htr synth: --out and --lines are required (or --list-writers)", file=sys.stderr
        )
        return 2
    if args.lines < 1 or args.workers < 1 or args.start < 0:
        print("keras-htr synth: --lines and --workers must be >= 1, --start >= 0", file=sys.stderr)
        return 2
    designs = args.designs

    def write():
        if args.kind != "digits":
            chosen = synthetic.select_designs(designs, args.exclude_designs, held_out=args.held_out)
            print(f"writers' designs ({len(chosen)}): {', '.join(d.name for d in chosen)}")
        return synthetic.write_dataset(
            args.out, args.lines, kind=args.kind, seed=args.seed, designs=designs,
            exclude_designs=args.exclude_designs, split=args.split, start=args.start,
            degrade=not args.clean, held_out=args.held_out, workers=args.workers,
            progress=not args.quiet,
        )  # fmt: skip

    return _write_and_count(write, "lines", args.out)


def _write_and_count(write, unit: str, out: str) -> int:
    """Run `write()` (counts per source), print the counts; its ValueError is a usage error."""
    try:
        counts = write()
    except ValueError as e:
        print(f"keras-htr synth: {e}", file=sys.stderr)
        return 2
    for name, n in sorted(counts.items()):
        print(f"{n:8d}  {name}")
    print(f"{sum(counts.values())} {unit} written to {out}")
    return 0


def _list_writers(synthetic) -> int:
    designs = synthetic.list_designs()
    by_source: dict = {}
    for d in designs:
        held = "held out" if d.name in synthetic.HELD_OUT_DESIGNS else ""
        print(f"{d.name:24s} {d.kind:8s} {len(d.covered):4d} chars  {d.source:32s} {held}")
        key = d.source.split(":")[0] + (":pen" if d.kind == "pen" else "")
        by_source[key] = by_source.get(key, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(by_source.items()))
    print(
        f"{len(designs)} designs ({summary}); "
        f"{sum(d.name in synthetic.HELD_OUT_DESIGNS for d in designs)} held out of training"
    )
    source = synthetic.digit_source()
    counts = {s: sum(map(len, synthetic.mnist_digits(s, source).values())) for s in synthetic.SPLITS}
    print(
        f"digit lines: MNIST {source} source ({synthetic.DIGIT_SOURCE_NAMES[source]}), "
        + ", ".join(f"{n:,} {s} digits" for s, n in counts.items())
    )
    from keras_htr.data.synthetic import designs as catalogue

    allowlisted = (
        len(catalogue.FONTPKG_DESIGNS) + len(catalogue._OUTLINE_FILES) + len(catalogue._PEN_FILES)
    )
    if len(designs) < allowlisted:
        print(f"{allowlisted - len(designs)} more designs can be installed:")
        print(f"  {catalogue.APT_COMMAND}")
        print(f"  {catalogue.SVG_FONTS_COMMAND}")
        print("  pip install 'htr-keras[synth]'  (the PyPI designs)")
    return 0


def _paragraphs(args) -> int:
    from keras_htr.data.synthetic.paragraph import write_paragraphs

    if not args.out:
        print("keras-htr synth: --out is required", file=sys.stderr)
        return 2

    def write():
        return write_paragraphs(
            args.out, args.paragraphs, split="test" if args.held_out else "train", seed=args.seed,
            max_lines=args.max_lines, start=args.start, degrade=not args.clean,
            workers=args.workers, progress=not args.quiet,
        )  # fmt: skip

    return _write_and_count(write, "paragraphs", args.out)
