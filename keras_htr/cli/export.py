"""Export a trained model for TensorFlow Serving (SavedModel) or for devices (TFLite).

With --format savedmodel, --out is the model's base path for TF Serving and the SavedModel is
written to PATH/VERSION (e.g. saved_models/htr_line/1); its serving_default signature takes
image_bytes and returns text, score and error. With --format tflite, --out is the .tflite file;
its charset and preprocessing go to PATH.json beside it.

A paragraph model (the model file says which kind it holds) exports as a SavedModel whose
serving_default takes image_bytes and returns text, lines, n_lines, line_scores, line_y,
truncated and error; it has no TFLite export (`keras_htr.export.paragraph` says why).
"""

from __future__ import annotations

import argparse
import os
import sys

FORMATS = ("savedmodel", "tflite")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="M", help="a .keras model (default: the shipped model)")
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument(
        "--out", required=True, metavar="PATH",
        help="savedmodel: the model's base path (the version directory goes inside); "
        "tflite: the .tflite file",
    )
    parser.add_argument(
        "--version", type=int, default=1, help="SavedModel version directory (default 1)"
    )
    parser.add_argument(
        "--quantize", choices=("none", "float16", "int8"), default="none",
        help="TFLite weights: none (float32), float16, or int8 (dynamic range) (default none)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace an existing SavedModel version"
    )


def _size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def run(args: argparse.Namespace) -> int:
    prog = "keras-htr export"
    if args.format == "savedmodel" and args.quantize != "none":
        print(f"{prog}: error: --quantize applies to --format tflite only", file=sys.stderr)
        return 2
    if args.format == "tflite" and not args.out.endswith(".tflite"):
        print(f"{prog}: error: --out must name a .tflite file, got {args.out!r}", file=sys.stderr)
        return 2
    if args.version < 1:
        print(f"{prog}: error: --version must be >= 1", file=sys.stderr)
        return 2

    from keras_htr.export.paragraph import is_paragraph_model_file
    from keras_htr.paragraph_transcriber import load_paragraph_model
    from keras_htr.transcriber import load_line_model

    try:
        paragraph = is_paragraph_model_file(args.model)
        if paragraph and args.format != "savedmodel":
            print(f"{prog}: error: a paragraph model exports to --format savedmodel only (its "
                  f"attention loop does not convert to TFLite builtin ops)", file=sys.stderr)
            return 2
        model = (load_paragraph_model if paragraph else load_line_model)(args.model)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2

    if args.format == "savedmodel":
        if paragraph:
            from keras_htr.export.paragraph import export_paragraph_savedmodel as export
        else:
            from keras_htr.export.savedmodel import export_savedmodel as export
        try:
            written = export(model, args.out, version=args.version, overwrite=args.overwrite)
        except FileExistsError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 1
        except (ValueError, OSError) as e:  # e.g. a base path that cannot be created
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 2
    else:
        from keras_htr.export.tflite import export_tflite, sidecar_path

        written = export_tflite(model, args.out, quantize=args.quantize)
        print(f"wrote {sidecar_path(written)}")
    print(f"wrote {written} ({_size(written) / 1e6:.2f} MB)")
    return 0
