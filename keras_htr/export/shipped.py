"""Regenerate the shipped model's deployment files from `saved_models/htr_line.keras`.

    python -m keras_htr.export.shipped [--model saved_models/htr_line.keras] [--version 1]
        [--check DIR]

writes, beside the `.keras` file (the layout in docs/CONTRACTS.md):

- `htr_line/<version>/`: the TF Serving SavedModel (replaced if present);
- `htr_line.tflite`, `htr_line_fp16.tflite`, `htr_line_int8.tflite` and their `.json` sidecars.

With `--check DIR` (line images, e.g. a held-out folder), it then transcribes them with the
Keras model, the SavedModel and every TFLite file, and exits with status 1 unless the
SavedModel and TFLite float32 text equal the Keras text on every line.
"""

from __future__ import annotations

import argparse
import os
import sys

TFLITE_VARIANTS = (("none", ""), ("float16", "_fp16"), ("int8", "_int8"))


def export_shipped(model_path=None, version: int = 1) -> dict:
    """Write the SavedModel and the three TFLite files next to `model_path`; returns the paths."""
    from keras_htr.export.savedmodel import export_savedmodel
    from keras_htr.export.tflite import export_tflite
    from keras_htr.transcriber import default_model_path, load_transcriber

    model_path = os.fspath(model_path or default_model_path())
    model = load_transcriber(model_path).model
    stem = os.path.splitext(model_path)[0]
    written = {"savedmodel": export_savedmodel(model, stem, version=version, overwrite=True)}
    for quantize, suffix in TFLITE_VARIANTS:
        name = f"tflite{suffix or '_fp32'}"
        written[name] = export_tflite(model, f"{stem}{suffix}.tflite", quantize)
    return written


def check(model_path, written: dict, folder) -> bool:
    """Print each engine's text on the images of `folder`; True when the exact paths agree."""
    import numpy as np

    from keras_htr.cli.transcribe import expand_inputs
    from keras_htr.export.servable import LocalServable
    from keras_htr.export.serving import encode_for_server
    from keras_htr.export.tflite import TFLiteTranscriber
    from keras_htr.transcriber import load_transcriber

    paths = expand_inputs([folder])
    texts = {"keras": [r.text for r in load_transcriber(model_path).transcribe(paths)]}
    servable = LocalServable(written["savedmodel"])
    batch = [encode_for_server(p) for p in paths]
    out = servable.run("serving_default", {"image_bytes": np.array(batch, dtype=object)})
    texts["savedmodel"] = [t.decode("utf-8") for t in out["text"]]
    for name, path in written.items():
        if name.startswith("tflite"):
            texts[name] = [r.text for r in TFLiteTranscriber(path).transcribe(paths)]
    exact = ("savedmodel", "tflite_fp32")
    for name, values in texts.items():
        same = sum(a == b for a, b in zip(values, texts["keras"]))
        print(f"{name:<12} same text as keras on {same}/{len(paths)} lines")
    return all(texts[n] == texts["keras"] for n in exact)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="the .keras model (default: the shipped model)")
    parser.add_argument("--version", type=int, default=1, help="SavedModel version (default 1)")
    parser.add_argument("--check", metavar="DIR", help="line images to compare every export on")
    args = parser.parse_args(argv)
    from keras_htr.transcriber import default_model_path

    model_path = args.model or os.fspath(default_model_path())
    if not os.path.isfile(model_path):
        print(f"no model at {model_path}", file=sys.stderr)
        return 2
    written = export_shipped(model_path, args.version)
    for name, path in written.items():
        print(f"wrote {path}")
    if args.check and not check(model_path, written, args.check):
        print("the SavedModel or TFLite float32 text differs from Keras", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
