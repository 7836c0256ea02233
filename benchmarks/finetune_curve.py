"""Fine-tuning learning curve: CER on a writer's held-out lines against the lines fine-tuned on.

The archive case (seed 000): a hand never seen, a few labelled lines of it. For each of several
unseen writers (one held-out design of `keras_htr.data.synthetic.HELD_OUT_DESIGNS` with one
fixed style, `LineSynthesizer(writer_seed=...)`, scanned with the full degradation), this
fine-tunes the model on the writer's first N lines (N = 0, 10, 25, 50, 100, 200; the sets are
nested, 0 is the model as it is) through the user's path: the lines are written as PNG +
`.gt.txt`, `keras_htr.finetune.fine_tune` runs with its defaults (a tenth of the lines held out
for validation), and `best.keras` is evaluated on other lines of the same writer.

It prints a Markdown table (CER per writer and size, the mean, the ratio to N = 0), the time of
each fine-tuning run, and the issue-11 targets; then the test lines' character errors before and
after fine-tuning by how often the lines trained on show each symbol (which errors a few lines
can fix); it writes the curve as a PNG. `--pull-to-start 0,30` runs each (writer, size) once
per L2-SP strength, on the same lines, side by side.

    python benchmarks/finetune_curve.py                            # ~10 minutes on 2 cores
    python benchmarks/finetune_curve.py --sizes 0,25 --epochs 0 --time-30  # the full defaults
    python benchmarks/finetune_curve.py --sizes 0,25 --writers 1 --png ''   # a quick check
    python benchmarks/finetune_curve.py --epochs 0 --sizes 0,10,25 --pull-to-start 0,30
    python benchmarks/finetune_curve.py --epochs 0 --sizes 0,10,25 --augment-strength 1,2
    python benchmarks/finetune_curve.py --epochs 0 --sizes 0,25 --lr 1e-3,2e-3
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from keras_htr.data.augment import MAX_STRENGTH

#: Render seed no training run uses (as in benchmarks/generalisation.py).
DEFAULT_SEED = 90210
#: Line indices of the fine-tuning lines start here; test lines are 0..test_lines-1.
FINETUNE_START = 100_000
DEFAULT_SIZES = (0, 10, 25, 50, 100, 200)
#: Epochs per fine-tuning run here: every other setting is the fine-tuning default, but 30
#: epochs x 20 runs would take over an hour on 2 cores. `--epochs 0` runs the full defaults.
DEFAULT_EPOCHS = 3
#: Issue 11: fine-tuning on 25 lines halves the CER; 30 lines take at most 10 minutes.
TARGET_SIZE, TARGET_RATIO = 25, 0.5
TIMED_SIZE, TIME_LIMIT_S = 30, 600.0
#: Bins of `errors_by_exposure`: how often a symbol occurs in the lines fine-tuned on.
EXPOSURE_BINS = (("never", 0, 0), ("1-9 times", 1, 9), ("10+ times", 10, None))
INSERTED = "inserted"


@dataclasses.dataclass
class Point:
    """CER of one writer after fine-tuning on `size` lines (0: the initial model)."""

    writer: str
    size: int
    cer: float
    seconds: float = 0.0  # fine-tuning wall time (0 for size 0)
    epochs: int = 0
    variant: str = ""  # "" (one setting), or which of the compared settings, e.g. "pull 30"
    # Character errors on the test lines by `errors_by_exposure` bin, after fine-tuning and of
    # the initial model (the same bins: how often each symbol occurs in these `size` lines).
    errors: dict = dataclasses.field(default_factory=dict)
    errors_at_0: dict = dataclasses.field(default_factory=dict)


def get_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="shipped", help="the model to start from (default: shipped)")
    parser.add_argument("--writers", type=int, default=4, help="unseen writers (default 4)")
    parser.add_argument("--skip-writers", type=int, default=0, help="start at this writer (to continue an interrupted curve)")
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)),
        help=f"fine-tuning set sizes (default {','.join(map(str, DEFAULT_SIZES))})",
    )
    parser.add_argument("--test-lines", type=int, default=30, help="held-out lines per writer (default 30)")
    parser.add_argument(
        "--epochs", type=int, default=DEFAULT_EPOCHS,
        help=f"fine-tuning epochs (default {DEFAULT_EPOCHS}, so that the 20 runs of the default "
        "sizes fit in ~10 minutes; 0: the fine-tuning default schedule, FINETUNE_DEFAULTS)",
    )
    parser.add_argument("--lr", default=None, metavar="LR[,LR...]",
                        help="peak learning rate (default: the fine-tuning default); several, "
                        "e.g. 1e-3,2e-3, are compared side by side on the same lines")
    parser.add_argument("--freeze", default=None, metavar="PART[,PART...]",
                        help="freeze the encoder while fine-tuning ('encoder'); 'none,encoder' "
                        "compares both side by side on the same lines")
    parser.add_argument("--pull-to-start", default=None, metavar="S[,S...]",
                        help="L2-SP strength (default: the fine-tuning default); several, "
                        "e.g. 0,30, are compared side by side on the same lines")
    parser.add_argument("--augment-strength", default=None, metavar="S[,S...]",
                        help="augmentation strength (default: the fine-tuning default); several, "
                        "e.g. 1,2, are compared side by side (with several pulls too: every pair)")
    parser.add_argument(
        "--time-30", action="store_true",
        help="also time one run with every fine-tuning default on 30 lines (the time target)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"render seed (default {DEFAULT_SEED})")
    parser.add_argument("--png", default="docs/finetune_curve.png", help="where to draw the curve ('' for none)")
    parser.add_argument("--json", metavar="PATH", help="also write the points as JSON")
    parser.add_argument("--workdir", help="keep the rendered lines and runs here (default: a temp dir)")
    args = parser.parse_args(argv)
    try:
        args.sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas, got {args.sizes!r}")
    if not args.sizes or args.sizes[0] < 0 or 0 < min([s for s in args.sizes if s] or [2]) < 2:
        parser.error("--sizes must be 0 or at least 2 (a tenth is held out for validation)")
    for name, top in (("pull_to_start", float("inf")), ("augment_strength", MAX_STRENGTH), ("lr", 1.0)):
        flag, given = "--" + name.replace("_", "-"), getattr(args, name)
        if given is None:
            continue
        try:
            values = [float(s) for s in given.split(",") if s.strip()]
        except ValueError:
            parser.error(f"{flag} must be numbers separated by commas, got {given!r}")
        if not values or min(values) < (1e-9 if name == "lr" else 0) or max(values) > top:
            low = "above 0" if name == "lr" else "from 0"
            parser.error(f"{flag} must be one or more numbers {low}" + (f" to {top:g}" if top < float("inf") else ""))
        setattr(args, name, values)
    if args.freeze is not None:
        args.freeze = [s.strip() for s in args.freeze.split(",") if s.strip()]
        if not args.freeze or not set(args.freeze) <= {"none", "encoder"}:
            parser.error(f"--freeze must be 'encoder', 'none' or both separated by a comma, got {args.freeze!r}")
    if args.png and importlib.util.find_spec("matplotlib") is None:  # fail now, not after an hour
        parser.error("--png needs matplotlib (pip install matplotlib), or give --png ''")
    for name in ("writers", "test_lines"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def unseen_writers(count: int, seed: int) -> list:
    """`count` (design, LineSynthesizer) pairs: held-out designs found here, one fixed hand each.

    Pen-path designs come first when present, then the outline ones, in `HELD_OUT_DESIGNS`
    order; writer `k` uses `writer_seed = seed + k`.
    """
    from keras_htr.data import synthetic

    found = {d.name: d for d in synthetic.list_designs()}
    held = [found[n] for n in synthetic.HELD_OUT_DESIGNS if n in found]
    held = [d for d in held if d.kind == "pen"] + [d for d in held if d.kind != "pen"]
    if len(held) < count:
        print(f"warning: only {len(held)} held-out designs installed", file=sys.stderr)
    return [
        (
            d.name,
            synthetic.LineSynthesizer(
                kind="text", designs=[d.name], seed=seed + k, degrade=True, writer_seed=seed + k
            ),
        )
        for k, d in enumerate(held[:count])
    ]


def write_lines(synth, start: int, count: int, folder: Path) -> Path:
    """Lines start..start+count-1 of `synth` as PNG + .gt.txt in `folder`."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + count):
        line = synth.line(i)
        Image.fromarray(line.image).save(folder / f"line-{i:07d}.png")
        (folder / f"line-{i:07d}.gt.txt").write_text(line.text + "\n", encoding="utf-8")
    return folder


def _first_lines(images: Sequence[Path], count: int, folder: Path) -> Path:
    """A folder with the first `count` of `images` and their .gt.txt (the nested sets)."""
    folder.mkdir(parents=True, exist_ok=True)
    for png in images[:count]:
        for path in (png, png.with_name(png.stem + ".gt.txt")):
            (folder / path.name).write_bytes(path.read_bytes())
    return folder


def transcripts(model_path, samples) -> list:
    """The model's greedy text of each sample."""
    from keras_htr.transcriber import load_transcriber

    done = load_transcriber(model_path).transcribe([s.image for s in samples], batch_size=32)
    return [t.text for t in done]


def trained_symbols(run_dir: Path, lines: Sequence[Path]) -> Counter:
    """How often each symbol occurs in the labels of `lines` a run trained on (those it held
    out for validation, listed in `validation_lines.txt`, excluded)."""
    from keras_htr.data.folder import gt_path_for, read_text_file
    from keras_htr.training import HELD_OUT_FILE

    held = set((run_dir / HELD_OUT_FILE).read_text(encoding="utf-8").split())
    return Counter("".join(read_text_file(gt_path_for(png)) for png in lines if str(png) not in held))


def errors_by_exposure(references, hypotheses, seen: Counter) -> dict:
    """{bin: character edits}: each substitution or deletion counted under the bin of its
    reference symbol (how often the fine-tuning lines show it, `EXPOSURE_BINS`), insertions
    apart. The edits sum to the CER's numerator."""
    from rapidfuzz.distance import Levenshtein

    from keras_htr.charset import normalize_text

    def bin_of(symbol):
        n = seen[symbol]
        return next(name for name, low, high in EXPOSURE_BINS if low <= n and (high is None or n <= high))

    counts = dict.fromkeys([name for name, _, _ in EXPOSURE_BINS] + [INSERTED], 0)
    for ref, hyp in zip(references, hypotheses):
        ref, hyp = normalize_text(ref), normalize_text(hyp)
        for op in Levenshtein.editops(ref, hyp):
            counts[INSERTED if op.tag == "insert" else bin_of(ref[op.src_pos])] += 1
    return counts


def variants(args) -> dict:
    """{name: extra fine_tune options}: one per combination of the `--pull-to-start`,
    `--augment-strength`, `--lr` and `--freeze` values; a setting given once is in every variant
    but not in its name."""
    axes = [(option, label, getattr(args, arg) or []) for arg, option, label in
            (("pull_to_start", "pull_to_start", "pull"), ("augment_strength", "augment_strength", "augment"),
             ("lr", "learning_rate", "lr"), ("freeze", "freeze", "freeze"))]
    settings = {"": {}}
    for option, label, values in axes:
        settings = {
            ", ".join(filter(None, (name, f"{label} {v:g}" if isinstance(v, float) else f"{label} {v}")
                             if len(values) > 1 else (name,))):
            {**extra, option: None if v == "none" else v}
            for name, extra in settings.items() for v in values
        } if values else settings
    return settings


def run(args, report=None) -> tuple:
    """Fine-tunes and measures every (writer, size, variant); calls `report(points, timed)`
    after each writer, so a long run leaves its results so far."""
    import keras

    from keras_htr.data.sample import Sample
    from keras_htr.finetune import fine_tune, resolve_model_path
    from keras_htr.metrics import cer

    model = resolve_model_path(args.model)
    work = Path(args.workdir or tempfile.mkdtemp(prefix="finetune_curve_"))
    options = {"verbose": 0, "seed": 0}
    if args.epochs:
        options["epochs"] = args.epochs
    settings = variants(args)
    points, timed, first = [], None, None
    for writer, synth in unseen_writers(args.skip_writers + args.writers, args.seed)[args.skip_writers :]:
        test = [
            Sample(line.image, line.text, f"{writer}-{i}")
            for i, line in ((i, synth.line(i)) for i in range(args.test_lines))
        ]
        count = max(args.sizes + [TIMED_SIZE if args.time_30 else 0])
        all_lines = sorted(write_lines(synth, FINETUNE_START, count, work / writer / "all").glob("*.png"))
        first = first or (writer, all_lines, test)
        references = [s.text for s in test]
        initial = transcripts(model, test)  # the model as it is: shared by every size and variant
        for size in args.sizes:
            if size == 0:
                points += [Point(writer, 0, cer(references, initial), variant=name) for name in settings]
                print(f"  {writer}: 0 lines, CER {points[-1].cer:.2%}", file=sys.stderr)
                continue
            subset = _first_lines(all_lines, size, work / writer / f"n{size}")
            for name, extra in settings.items():
                keras.backend.clear_session()  # each run alone, as a user's process would be
                start = time.perf_counter()
                run_dir = work / writer / f"run{size}{name.replace(' ', '').replace(',', '-')}"
                result = fine_tune(subset, run_dir, init_from=model, **options, **extra)
                seconds = time.perf_counter() - start
                texts = transcripts(result.best_model, test)
                seen = trained_symbols(run_dir, all_lines[:size])
                points.append(Point(writer, size, cer(references, texts), seconds, result.epochs_done, name,
                                    errors_by_exposure(references, texts, seen),
                                    errors_by_exposure(references, initial, seen)))
                print(
                    f"  {writer}{' ' + name if name else ''}: {size} lines, CER {points[-1].cer:.2%} "
                    f"({seconds:.0f} s, {result.epochs_done} epochs)", file=sys.stderr,
                )
        if report is not None:
            report(points, timed)
    if args.time_30 and first is not None:
        writer, all_lines, test = first
        subset = _first_lines(all_lines, TIMED_SIZE, work / writer / f"n{TIMED_SIZE}")
        start = time.perf_counter()
        result = fine_tune(subset, work / writer / "defaults30", init_from=model, verbose=0)
        timed = Point(writer, TIMED_SIZE, cer([s.text for s in test], transcripts(result.best_model, test)),
                      time.perf_counter() - start, result.epochs_done)
        print(f"  {writer}: every default on 30 lines: {timed.seconds:.0f} s, {timed.epochs} "
              f"epochs, CER {timed.cer:.2%}", file=sys.stderr)
        if report is not None:
            report(points, timed)
    return points, timed


def summary(points: Sequence[Point]) -> dict:
    """{size: mean CER over writers} of points of one variant."""
    sizes = sorted({p.size for p in points})
    return {s: sum(p.cer for p in points if p.size == s) / sum(p.size == s for p in points) for s in sizes}


def by_variant(points: Sequence[Point]) -> dict:
    """{variant: its points}, in the order the variants were run."""
    groups: dict = {}
    for p in points:
        groups.setdefault(p.variant, []).append(p)
    return groups


def format_table(points: Sequence[Point], timed: Point | None = None) -> str:
    """One Markdown table; with several variants, a row per (writer, variant) and a mean and a
    ratio row per variant, so the settings read side by side."""
    groups = by_variant(points)
    sizes = sorted({p.size for p in points})
    head = "| writer | " + " | ".join(f"{s} lines" for s in sizes) + " |"
    lines = [head, "|" + " --- |" * (len(sizes) + 1)]

    def row(label, values):
        lines.append(f"| {label} | " + " | ".join(values) + " |")

    def named(label, variant):
        return f"{label}, {variant}" if variant else label

    for variant, mine in groups.items():
        cer = {(p.writer, p.size): p.cer for p in mine}
        for w in dict.fromkeys(p.writer for p in mine):
            row(named(w, variant), [f"{cer[w, s]:.1%}" if (w, s) in cer else "-" for s in sizes])
    for variant, mine in groups.items():
        mean = summary(mine)
        row(named("**mean**", variant), [f"**{mean[s]:.1%}**" if s in mean else "-" for s in sizes])
        if mean.get(0):
            row(named("CER / CER at 0", variant), [f"{mean[s] / mean[0]:.2f}" if s in mean else "-" for s in sizes])
    for variant, mine in groups.items():
        tuned = [p for p in mine if p.size]
        if tuned:
            seconds = {s: [p.seconds for p in tuned if p.size == s] for s in sizes if s}
            row(named("fine-tuning time (mean)", variant), [
                f"{sum(seconds[s]) / len(seconds[s]):.0f} s" if seconds.get(s) else "-" for s in sizes
            ])
    lines.append("")
    for name, value, limit, met in check_targets(points, timed):
        lines.append(f"target {name}: {value} (limit {limit}) {'met' if met else 'MISSED'}")
    return "\n".join(lines)


def _total(points, size, field, name) -> int:
    """Errors of bin `name` (or "all") in `field` of `points`, summed over those of `size` lines."""
    counts = [getattr(p, field) for p in points if p.size == size]
    return sum(sum(c.values()) if name == "all" else c[name] for c in counts)


def format_exposure(points: Sequence[Point]) -> str:
    """Markdown: the test lines' character errors summed over writers, before and after
    fine-tuning, by how often the symbol occurs in the lines fine-tuned on (`EXPOSURE_BINS`):
    which errors a few labelled lines fix, and which need more lines showing those symbols."""
    lines = []
    for variant, mine in by_variant(points).items():
        tuned = [p for p in mine if p.size and p.errors]
        sizes = sorted({p.size for p in tuned})
        if not sizes:
            continue
        label = "symbol occurs in the lines trained on" + (f" ({variant})" if variant else "")
        lines += ["| " + label + " | " + " | ".join(f"{s} lines: errors before -> after" for s in sizes) + " |",
                  "|" + " --- |" * (len(sizes) + 1)]
        for name in [b for b, _, _ in EXPOSURE_BINS] + [INSERTED, "all"]:
            cells = []
            for size in sizes:
                before, after = (_total(tuned, size, field, name) for field in ("errors_at_0", "errors"))
                cells.append(f"{before} -> {after}" + (f" ({after / before:.2f})" if before else ""))
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def check_targets(points: Sequence[Point], timed: Point | None = None) -> list:
    """[(description, value, limit, met)]: CER at 25 lines <= half the CER at 0, for the mean
    and for every writer (per variant); fine-tuning time on 30 lines with the defaults."""
    out = []
    for variant, mine in by_variant(points).items():
        suffix = f" ({variant})" if variant else ""
        cer = {(p.writer, p.size): p.cer for p in mine}
        writers = list(dict.fromkeys(p.writer for p in mine))
        if writers and all((w, 0) in cer and (w, TARGET_SIZE) in cer for w in writers):
            mean = summary(mine)
            ratio = mean[TARGET_SIZE] / mean[0] if mean[0] else float("inf")
            out.append((f"mean CER at {TARGET_SIZE} lines / at 0{suffix}", f"{ratio:.2f}", TARGET_RATIO,
                        ratio <= TARGET_RATIO))
            halved = sum(cer[w, TARGET_SIZE] <= TARGET_RATIO * cer[w, 0] for w in writers)
            out.append((f"writers whose CER {TARGET_SIZE} lines halve{suffix}", f"{halved}/{len(writers)}",
                        f"{len(writers)}/{len(writers)}", halved == len(writers)))
    if timed is not None:
        out.append(("fine-tuning with the defaults on 30 lines", f"{timed.seconds:.0f} s",
                    f"{TIME_LIMIT_S:.0f} s", timed.seconds <= TIME_LIMIT_S))
    return out


def plot(points: Sequence[Point], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = by_variant(points)
    sizes = sorted({p.size for p in points})
    positions = {s: i for i, s in enumerate(sizes)}  # evenly spaced: 0 has no log position
    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for k, (variant, mine) in enumerate(groups.items()):
        style = styles[k % len(styles)]
        suffix = f" ({variant})" if variant else ""
        for c, w in enumerate(dict.fromkeys(p.writer for p in mine)):
            curve = sorted((p for p in mine if p.writer == w), key=lambda p: p.size)
            ax.plot([positions[p.size] for p in curve], [100 * p.cer for p in curve], "o" + style,
                    color=f"C{c}", alpha=0.6, label=w + suffix)
        mean = summary(mine)
        ax.plot([positions[s] for s in mean], [100 * v for v in mean.values()], "k" + style, lw=2.5,
                label="mean" + suffix)
    ax.set_xticks(range(len(sizes)), [str(s) for s in sizes])
    ax.set_xlabel("fine-tuning lines of the writer (0: the model as shipped)")
    ax.set_ylabel("CER on the writer's other lines (%)")
    ax.set_title("Fine-tuning on one unseen writer")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(groups) > 1 else 1)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    args = get_args(argv)
    start = time.perf_counter()

    def report(points, timed):
        if args.png:
            plot(points, args.png)
        if args.json:
            Path(args.json).write_text(json.dumps(
                {"args": {k: v for k, v in vars(args).items()},
                 "points": [dataclasses.asdict(p) for p in points],
                 "timed": dataclasses.asdict(timed) if timed else None}, indent=1))

    points, timed = run(args, report)
    print(f"total {time.perf_counter() - start:.0f} s", file=sys.stderr)
    print(format_table(points, timed))
    print()
    print(format_exposure(points))
    if args.png:
        print(f"curve: {args.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
