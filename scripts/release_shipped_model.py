"""Release step: make a trained model the shipped one, and regenerate its deployment files.

    python scripts/release_shipped_model.py [--model runs/crnn/best.keras] [--version 1]
        [--out-dir saved_models] [--check examples/lines/]

1. `--model` (a trained `.keras` file, e.g. a run's `best.keras`) is saved without its
   optimizer state to `keras_htr.transcriber.SHIPPED_MODEL` (`keras_htr/shipped/htr_line.keras`),
   the package data that `keras_htr.load_model()` and every command load by default. Without
   `--model`, the current shipped model is kept and only its exports are regenerated.
2. The deployment files are written to `--out-dir` (default: `saved_models/` in the checkout),
   for deployers and not installed with the package:
   - `htr_line/<version>/`: the TF Serving SavedModel (replaced if present);
   - `htr_line.tflite`, `htr_line_fp16.tflite`, `htr_line_int8.tflite` and their `.json`
     sidecars.
3. With `--check DIR` (line images, e.g. a held-out folder), every engine transcribes them and
   the script exits with status 1 unless the SavedModel and TFLite float32 text equal the
   Keras text on every line.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]
#: (quantize argument of `export_tflite`, file name suffix) of each shipped TFLite file.
TFLITE_VARIANTS = (("none", ""), ("float16", "_fp16"), ("int8", "_int8"))
#: Keep the package installable from PyPI and git hosts that refuse large files.
MAX_SHIPPED_BYTES = 20_000_000


def ship_model(model_path, shipped_path) -> pathlib.Path:
    """Save the `LineModel` at `model_path` to `shipped_path` without optimizer state.

    Raises:
        ValueError: the saved file would be larger than `MAX_SHIPPED_BYTES`.
    """
    from keras_htr.transcriber import load_line_model

    shipped_path = pathlib.Path(shipped_path)
    model = load_line_model(model_path)  # compile=False: no optimizer state in the copy
    shipped_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = shipped_path.with_name(shipped_path.stem + ".tmp.keras")
    model.save(tmp)
    size = tmp.stat().st_size
    if size > MAX_SHIPPED_BYTES:
        tmp.unlink()
        raise ValueError(
            f"Received an invalid value for argument `model_path`, expected a model saved in at "
            f"most {MAX_SHIPPED_BYTES} bytes (package data), got {size} bytes"
        )
    os.replace(tmp, shipped_path)
    return shipped_path


def export_deployment_files(model_path, out_dir, version: int = 1, name: str = "htr_line") -> dict:
    """Write the SavedModel and the three TFLite files of `model_path` to `out_dir`."""
    from keras_htr.export.savedmodel import export_savedmodel
    from keras_htr.export.tflite import export_tflite
    from keras_htr.transcriber import load_line_model

    model = load_line_model(model_path)
    stem = os.path.join(os.fspath(out_dir), name)
    written = {"savedmodel": export_savedmodel(model, stem, version=version, overwrite=True)}
    for quantize, suffix in TFLITE_VARIANTS:
        written[f"tflite{suffix or '_fp32'}"] = export_tflite(
            model, f"{stem}{suffix}.tflite", quantize
        )
    return written


def check(model_path, written: dict, folder) -> bool:
    """Print each engine's agreement with Keras on the images of `folder`; True when the
    SavedModel and TFLite float32 give the Keras text on every line."""
    import numpy as np
    import tensorflow as tf

    from keras_htr.data.read import list_images
    from keras_htr.export.serving import encode_for_server
    from keras_htr.export.tflite import TFLiteTranscriber
    from keras_htr.transcriber import load_transcriber

    paths = list_images([folder])
    texts = {"keras": [r.text for r in load_transcriber(model_path).transcribe(paths)]}
    serve = tf.saved_model.load(written["savedmodel"]).signatures["serving_default"]
    batch = np.array([encode_for_server(p) for p in paths], dtype=object)
    texts["savedmodel"] = [
        t.decode("utf-8") for t in serve(image_bytes=tf.constant(batch))["text"].numpy()
    ]
    for name, path in written.items():
        if name.startswith("tflite"):
            texts[name] = [r.text for r in TFLiteTranscriber(path).transcribe(paths)]
    for name, values in texts.items():
        same = sum(a == b for a, b in zip(values, texts["keras"]))
        print(f"{name:<12} same text as keras on {same}/{len(paths)} lines")
    return all(texts[n] == texts["keras"] for n in ("savedmodel", "tflite_fp32"))


def main(argv=None) -> int:
    from keras_htr.transcriber import SHIPPED_MODEL

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model", help="the trained .keras model to ship (default: keep the current one)"
    )
    parser.add_argument("--version", type=int, default=1, help="SavedModel version (default 1)")
    parser.add_argument(
        "--out-dir",
        default=os.fspath(REPO / "saved_models"),
        help="where the SavedModel and TFLite files go (default: saved_models/ in the checkout)",
    )
    parser.add_argument("--shipped", default=os.fspath(SHIPPED_MODEL), help=argparse.SUPPRESS)
    parser.add_argument("--check", metavar="DIR", help="line images to compare every export on")
    args = parser.parse_args(argv)
    if args.version < 1:
        parser.error(f"--version must be >= 1, got {args.version}")
    source = args.model or args.shipped
    if not os.path.isfile(source):
        print(f"release: no model at {source}", file=sys.stderr)
        return 2
    if args.model:
        print(f"wrote {ship_model(args.model, args.shipped)}")
    written = export_deployment_files(args.shipped, args.out_dir, args.version)
    for path in written.values():
        print(f"wrote {path}")
    if args.check and not check(args.shipped, written, args.check):
        print("release: the SavedModel or TFLite float32 text differs from Keras", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
