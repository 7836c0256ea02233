"""Transcribe many line images on Apache Beam into JSONL shards (needs the `beam` extra).

Writes OUTPUT/transcriptions-SSSSS-of-NNNNN.jsonl, one row per image: {"path", "text", "score",
"error"} ("error" is null when the image was transcribed). Images are files, local folders,
glob patterns on any Beam filesystem (gs://bucket/lines/*.png), or listed one per line in
--inputs-from (for millions of paths). An unreadable image or a missing path gets a row with
its error and the others are transcribed; the exit status is then 1. An OUTPUT already holding
shards is refused unless --overwrite (which deletes them first).

Other Beam pipeline options pass through, written as --name=value, e.g.
`--direct_num_workers=2 --direct_running_mode=multi_processing` for the DirectRunner (default:
one worker per core, multi_threading: threads sharing one model), or
`--project=P --region=R --temp_location=gs://... --extra_package=dist/htr_keras-0.1.0-py3-none-any.whl`
for Dataflow (see the README's "Archive scale").
"""

from __future__ import annotations

import argparse
import sys

#: Read by `keras_htr.cli.main`: unknown options are Beam's and are handed over in `pass_through`.
PASS_THROUGH = True
RUNNERS = ("DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner", "PrismRunner")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT", help="line image files, folders or glob patterns")
    parser.add_argument("--inputs-from", metavar="LIST", help="a text file with one image path per line (any Beam filesystem)")
    parser.add_argument("--output", metavar="DIR", required=True, help="directory of the JSONL shards (any Beam filesystem)")
    parser.add_argument("--runner", choices=RUNNERS, default="DirectRunner", help="Beam runner (default DirectRunner)")
    parser.add_argument("--model", metavar="M", help="a .keras model or an exported SavedModel version directory (default: the shipped model)")
    parser.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy; .keras models only)")
    parser.add_argument("--batch-size", type=int, default=16, help="lines per model batch (default 16)")
    parser.add_argument("--num-shards", type=int, default=0, help="output shards (default 0: the runner decides)")
    parser.add_argument("--overwrite", action="store_true", help="delete the shards of an earlier run in --output first")


def _error(message: str) -> int:
    print(f"keras-htr batch: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if not args.inputs and not args.inputs_from:
        return _error("give image paths (INPUT...) or --inputs-from LIST")
    for name in ("beam", "batch_size"):
        if getattr(args, name) < 1:
            return _error(f"--{name.replace('_', '-')} must be >= 1")
    if args.num_shards < 0:
        return _error("--num-shards must be >= 0")
    beam_options = list(getattr(args, "pass_through", None) or [])
    loose = [a for a in beam_options if not a.startswith("--")]
    if loose:
        return _error(f"Beam options are written --name=value; cannot tell what {loose[0]!r} belongs to")
    if args.runner == "DirectRunner":
        import logging

        # One worker per core, threads sharing one model, unless the user chose otherwise.
        given = {a.split("=", 1)[0] for a in beam_options}
        if "--direct_num_workers" not in given:
            beam_options.append("--direct_num_workers=0")
        if "--direct_running_mode" not in given:
            beam_options.append("--direct_running_mode=multi_threading")

        # Beam warns about optional Google Cloud clients and platform probes it cannot use on
        # this machine; the command's own summary and errors are what belongs on stderr.
        logging.getLogger().setLevel(logging.ERROR)
    try:
        from keras_htr.beam import run_batch
    except ImportError as e:
        return _error(f"{e}; install the extra: pip install 'htr-keras[beam]'")
    try:
        result = run_batch(
            args.output, inputs=args.inputs, inputs_from=args.inputs_from, model_path=args.model,
            pipeline_args=[f"--runner={args.runner}", *beam_options], batch_size=args.batch_size,
            beam_width=args.beam, num_shards=args.num_shards, overwrite=args.overwrite,
        )
    except (FileExistsError, FileNotFoundError, ValueError, OSError) as e:
        return _error(str(e))
    counts = "lines and errors: see the runner's counters" if result.lines < 0 else (
        f"{result.lines} lines, {result.errors} with an error")
    print(f"keras-htr batch: {result.state}: {counts}; {len(result.shards)} shard(s) in {args.output}",
          file=sys.stderr)
    return 1 if result.errors > 0 else 0
