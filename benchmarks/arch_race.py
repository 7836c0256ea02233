"""Equal wall-clock race: validation CER against training time for line architectures.

Issue 10 asks whether the MDLSTM, now that it learns, is worth its cost: the fair question is
which model is better after the same minutes of training on the same machine, not after the
same number of steps. Each contestant trains with `keras-htr train` (the user's path) on the
same lines, one after the other (never two at once: they would share the 2 cores), for the same
wall-clock budget; the run is stopped when the budget is spent. Epochs are short (`--steps`) so
that the validation CER is sampled often; the time of each point is read from `state.json` as
it is written, so it includes validation and checkpointing, as a user's run does.

It prints a Markdown table (CER at fractions of the budget, best CER, parameters, steps done)
and writes the curves as a PNG. A race folder is resumable: finished contestants are not rerun.

    python benchmarks/arch_race.py --train /work/data/v3/train --val /work/data/v3/val \\
        --budget-minutes 30 --out /work/runs/race --png docs/arch_race.png
    python benchmarks/arch_race.py ... --contestants crnn,mdlstm-paper   # a subset

Contestants (`--contestants`, comma-separated): `crnn` (the shipped model's size),
`mdlstm-paper` (Pham et al. 2014 sizes) and `mdlstm-large` (the `large` preset), each with the
learning rate that trained it best in short trials (CRNN 1e-3; MDLSTM 3e-3, see issue 10) and
in its faster execution mode: `benchmarks/train_step.py` (batch 16 x 32 x 384) gives an MDLSTM
step 0.21 s with XLA against 0.38 s without, and a CRNN step 0.105 s without XLA against
0.124 s with it, so the MDLSTMs train with `--jit-compile` and the CRNN without
(`--xla on|off` puts every contestant in one mode).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: name -> (model config, peak learning rate, XLA: its faster mode, see the module docstring).
CONTESTANTS = {
    "crnn": (
        {
            "arch": "crnn",
            "crnn": {
                "conv_filters": [32, 48, 64, 96, 128],
                "pool_sizes": [[2, 2], [2, 2], [2, 1], [2, 1], [1, 1]],
                "lstm_units": 192, "lstm_layers": 3, "dropout": 0.25,
            },
        },
        1e-3,
        False,
    ),
    "mdlstm-paper": ({"arch": "mdlstm", "mdlstm": "paper"}, 3e-3, True),
    "mdlstm-large": ({"arch": "mdlstm", "mdlstm": "large"}, 3e-3, True),
}
#: Fractions of the budget at which the table reports the CER reached so far.
CHECKPOINTS = (0.25, 0.5, 0.75, 1.0)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="training lines (folder + .gt.txt)")
    parser.add_argument("--val", required=True, help="validation lines (other writers' lines)")
    parser.add_argument("--out", required=True, help="race folder (one run folder per contestant)")
    parser.add_argument("--budget-minutes", type=float, default=30.0, help="per contestant")
    parser.add_argument("--contestants", default=",".join(CONTESTANTS))
    parser.add_argument("--steps", type=int, default=150, help="training steps per epoch")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--xla", choices=("best", "on", "off"), default="best",
                        help="best: each contestant in its faster mode (default); on/off: all alike")
    parser.add_argument("--png", default="", help="write the curves here (e.g. docs/arch_race.png)")
    args = parser.parse_args(argv)
    if args.png and importlib.util.find_spec("matplotlib") is None:  # fail now, not after the race
        parser.error("--png needs matplotlib (pip install matplotlib), or leave it out")
    names = [n.strip() for n in args.contestants.split(",") if n.strip()]
    unknown = [n for n in names if n not in CONTESTANTS]
    if unknown or not names:
        parser.error(f"--contestants: expected names from {sorted(CONTESTANTS)}, got {unknown or names}")
    if args.budget_minutes <= 0 or args.steps < 1 or args.batch_size < 1:
        parser.error("--budget-minutes, --steps and --batch-size must be positive")
    args.contestants = names
    return args


def race(name: str, args, out: Path) -> dict:
    """Trains one contestant for the budget; returns its curve [(seconds, epoch, val_cer)]."""
    run = out / name
    result_file = out / f"{name}.json"
    if result_file.exists():
        print(f"{name}: done before, read from {result_file}")
        return json.loads(result_file.read_text())
    config, lr, xla = CONTESTANTS[name]
    xla = xla if args.xla == "best" else args.xla == "on"
    run.mkdir(parents=True, exist_ok=True)
    (run.parent / f"{name}.model.json").write_text(json.dumps(config))
    budget = args.budget_minutes * 60.0
    # Many short epochs, far more than the budget allows: the cosine schedule is then nearly
    # flat after its warm-up, the same for every contestant, whatever its speed.
    command = [
        sys.executable, "-m", "keras_htr.cli.main", "train", "--train", args.train,
        "--val", args.val, "--out", str(run / "run"), "--model-config",
        str(run.parent / f"{name}.model.json"), "--epochs", "1000", "--steps-per-epoch",
        str(args.steps), "--batch-size", str(args.batch_size), "--lr", str(lr),
        "--patience", "1000", "--quiet",
    ] + (["--jit-compile"] if xla else [])
    state_file = run / "run" / "state.json"
    curve, seen = [], 0
    log = open(run / "train.log", "w")
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        while process.poll() is None and time.monotonic() - start < budget:
            time.sleep(2.0)
            try:
                state = json.loads(state_file.read_text())
            except (OSError, ValueError):
                continue  # not written yet, or being replaced
            if state["epoch"] > seen:
                seen = state["epoch"]
                cer = state["history"]["val_cer"][-1]
                curve.append((time.monotonic() - start, seen, cer))
                print(f"{name}: {curve[-1][0] / 60:5.1f} min, epoch {seen}, val CER {cer:.4f}", flush=True)
    finally:
        process.terminate()
        process.wait()
        log.close()
    if process.returncode not in (0, -15) and not curve:
        raise SystemExit(f"{name}: training failed, see {run / 'train.log'}")
    result = {"name": name, "curve": curve, "budget_s": budget, "steps_per_epoch": args.steps, "xla": xla,
              "batch_size": args.batch_size, "parameters": _parameters(run / "run")}
    result_file.write_text(json.dumps(result))
    return result


def _parameters(run: Path):
    import keras

    import keras_htr.models  # noqa: F401  (registers the model classes)

    path = run / "last.keras"
    return int(keras.models.load_model(path, compile=False).count_params()) if path.exists() else None


def best_by(curve, seconds: float):
    cers = [cer for t, _, cer in curve if t <= seconds]
    return min(cers) if cers else None


def table(results) -> str:
    budget = results[0]["budget_s"]
    head = "| model | parameters | epochs x steps | " + " | ".join(
        f"best CER by {f * budget / 60:.3g} min" for f in CHECKPOINTS
    ) + " |"
    rows = [head, "|" + " --- |" * (3 + len(CHECKPOINTS))]
    for r in results:
        epochs = r["curve"][-1][1] if r["curve"] else 0
        cells = [best_by(r["curve"], f * budget) for f in CHECKPOINTS]
        rows.append(
            f"| {r['name']} ({'XLA' if r.get('xla') else 'graph'}) | {r['parameters'] or 'n/a'} | {epochs} x {r['steps_per_epoch']} | "
            + " | ".join("n/a" if c is None else f"{100 * c:.1f}%" for c in cells) + " |"
        )
    return "\n".join(rows)


def plot(results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for r in results:
        if r["curve"]:
            ax.plot([t / 60 for t, _, _ in r["curve"]], [100 * c for _, _, c in r["curve"]],
                    marker="o", markersize=3, label=r["name"])
    ax.set_xlabel("training time (minutes, 2 CPU cores)")
    ax.set_ylabel("validation CER (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Same wall-clock budget, same lines")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"load before the race: {os.getloadavg()[0]:.2f} (a fair race needs a quiet machine)")
    results = [race(name, args, out) for name in args.contestants]
    print(table(results))
    if args.png:
        plot(results, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
