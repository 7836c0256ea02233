"""Export to SavedModel (TF Serving) and TFLite, and clients for the exported models.

- `export_savedmodel(model, base_path, version)`: TF Serving layout, image bytes in, text out.
- `export_paragraph_savedmodel(model, base_path, version)`: a paragraph model, image bytes in,
  lines out.
- `export_tflite(model, path, quantize)`: LiteRT, builtin ops only; run with `TFLiteTranscriber`.
- `keras_htr.export.serving.ServingClient`: transcribe with a model behind TF Serving (REST or gRPC).

Submodules import TensorFlow; this package imports them only when a name is used.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "export_savedmodel": "keras_htr.export.savedmodel",
    "export_tflite": "keras_htr.export.tflite",
    "export_paragraph_savedmodel": "keras_htr.export.paragraph",
    "TFLiteTranscriber": "keras_htr.export.tflite",
    "ServingClient": "keras_htr.export.serving",
    "ServingError": "keras_htr.export.serving",
}


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_htr.export' has no attribute {name!r}")


__all__ = sorted(_EXPORTS)
