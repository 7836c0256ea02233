"""`keras-htr batch` (Apache Beam, DirectRunner, 2 workers) vs `keras-htr transcribe` on the same lines.

Both commands run as a user runs them (fresh processes, wall clock from start to exit, model
loading included), on the same N line images, greedy decoding, batch size 16. Prints lines/s
of each, the ratio batch/transcribe (issue 14's target: >= 0.8), whether every text is
identical, and the machine's load (`uptime`) before and after. Runs alternate (transcribe,
batch, transcribe, batch, ...) so that a drift in the machine's load hits both alike; the
fastest run of each is compared.

    python benchmarks/batch.py --data /work/data/v3/val --data /work/data/v3/train --lines 1000
    python benchmarks/batch.py --lines 1000        # synthetic lines (needs the `synth` extra)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", action="append", help="folder(s) of line images (repeatable); "
                        "default: synthetic lines made with `keras-htr synth`")
    parser.add_argument("--lines", type=int, default=1000, help="lines to transcribe (default 1000)")
    parser.add_argument("--model", help="a .keras model (default: the shipped model)")
    parser.add_argument("--mode", choices=("multi_threading", "multi_processing"),
                        default="multi_threading", help="DirectRunner running mode (default multi_threading)")
    parser.add_argument("--workers", type=int, default=2, help="DirectRunner workers (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each command (default 1)")
    parser.add_argument("--workdir", help="where to write lists and outputs (default: a temporary folder)")
    return parser.parse_args(argv)


def uptime() -> str:
    return subprocess.run(["uptime"], check=False, capture_output=True, text=True).stdout.strip()


def collect(args, workdir: str) -> list[str]:
    from keras_htr.data.read import list_images

    if not args.data:
        folder = os.path.join(workdir, "synthetic")
        if not os.path.isdir(folder):
            subprocess.run([sys.executable, "-m", "keras_htr.cli.main", "synth", "--out", folder,
                            "--lines", str(args.lines), "--seed", "14", "--workers", "2"], check=True)
        args.data = [folder]
    paths = list_images(args.data)[: args.lines]
    if len(paths) < args.lines:
        sys.exit(f"only {len(paths)} images in {args.data}, {args.lines} wanted")
    return paths


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    return time.perf_counter() - start, done


def run_transcribe(args, paths):
    command = [sys.executable, "-m", "keras_htr.cli.main", "transcribe", "--format", "jsonl",
               "--quiet", "--batch-size", "16", *paths]
    if args.model:
        command[4:4] = ["--model", args.model]
    seconds, done = timed(command)
    if done.returncode not in (0, 1):
        sys.exit(f"transcribe failed:\n{done.stderr[-2000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return seconds, {r["path"]: r.get("text") for r in rows}


def run_batch(args, list_file, output):
    from keras_htr.beam import read_rows

    command = [sys.executable, "-m", "keras_htr.cli.main", "batch", "--inputs-from", list_file,
               "--output", output, "--overwrite", "--batch-size", "16",
               f"--direct_num_workers={args.workers}", f"--direct_running_mode={args.mode}"]
    if args.model:
        command += ["--model", args.model]
    seconds, done = timed(command)
    if done.returncode not in (0, 1):
        sys.exit(f"batch failed:\n{done.stderr[-2000:]}")
    return seconds, {r["path"]: r["text"] if r["error"] is None else None for r in read_rows(output)}


def main(argv=None):
    args = parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="keras-htr-batch-bench-")
    os.makedirs(workdir, exist_ok=True)
    paths = collect(args, workdir)
    list_file = os.path.join(workdir, "inputs.txt")
    with open(list_file, "w", encoding="utf-8") as f:
        f.write("".join(p + "\n" for p in paths))
    print(f"{len(paths)} lines from {args.data}; DirectRunner {args.workers} workers, {args.mode}")
    print(f"load before: {uptime()}")
    times = {"transcribe": [], "batch": []}
    for repeat in range(args.repeats):
        seconds, transcribed = run_transcribe(args, paths)
        times["transcribe"].append(seconds)
        print(f"  run {repeat + 1}: transcribe {seconds:.1f} s ({len(paths) / seconds:.1f} lines/s)", flush=True)
        seconds, batched = run_batch(args, list_file, os.path.join(workdir, "out"))
        times["batch"].append(seconds)
        print(f"  run {repeat + 1}: batch      {seconds:.1f} s ({len(paths) / seconds:.1f} lines/s)", flush=True)
    print(f"load after:  {uptime()}")
    best = {name: min(values) for name, values in times.items()}
    rate = {name: len(paths) / seconds for name, seconds in best.items()}
    same = sum(transcribed.get(p) is not None and transcribed.get(p) == batched.get(p) for p in paths)
    print(f"transcribe: {rate['transcribe']:.1f} lines/s ({best['transcribe']:.1f} s, best of {args.repeats})")
    print(f"batch:      {rate['batch']:.1f} lines/s ({best['batch']:.1f} s, best of {args.repeats})")
    ratio = rate["batch"] / rate["transcribe"]
    print(f"ratio batch/transcribe: {ratio:.2f}x (target >= 0.8x: {'met' if ratio >= 0.8 else 'NOT met'})")
    print(f"identical texts: {same}/{len(paths)}" + (" (all)" if same == len(paths) else ""))
    missing = [p for p in paths if p not in batched]
    if missing:
        print(f"rows missing from batch's output: {len(missing)} (e.g. {missing[0]})")


if __name__ == "__main__":
    main()
