"""Export a line recognizer as a SavedModel for TensorFlow Serving: image bytes in, text out.

The whole path runs in the graph (no PyFunc): image decoding with a header check
(`keras_htr.export.image_bytes`), the training preprocessing, padding of lines of different
widths with each line's true width, the model, greedy CTC decoding and ids -> characters.
The archive is written with `keras.export.ExportArchive`, which saves the model's variables
so that the TF1 session loader (what TF Serving uses) restores them.

Endpoints (signatures):

- `serving_default`: `image_bytes` string (N,) -> `text` string (N,), `score` float32 (N,)
  (mean best-frame probability, -1 for an element that failed), `error` string (N,)
  ("" when the element was transcribed).
- `logits`: `image_bytes` string (N,) -> `logits` float32 (N, T, classes) (raw, blank = 0,
  zero beyond each line's frames), `lengths` int32 (N,) (0 for a failed element), `error`.
  For clients that decode themselves (beam search, language model).

The charset and preprocessing are also written to `assets.extra/keras_htr.json` (a directory
TF Serving ignores), so a client of the `logits` endpoint can map ids to characters.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from keras_htr.data.preprocess import DEFAULT_MAX_PIXELS
from keras_htr.decoders.greedy import greedy_decode
from keras_htr.export.image_bytes import STATUS_MESSAGES, decode_lines

SERVING_ENDPOINT = "serving_default"
LOGITS_ENDPOINT = "logits"
METADATA_FILE = os.path.join("assets.extra", "keras_htr.json")

IMAGE_BYTES = tf.TensorSpec([None], tf.string, name="image_bytes")


class _Endpoints:
    """The graph functions of the two endpoints, closed over one model."""

    def __init__(self, model, max_pixels: int):
        self.model = model
        self.max_pixels = max_pixels
        self.num_classes = model.charset.num_classes
        # symbols[id] is the character of id; the -1 padding is clipped to 0, the blank's "".
        self.symbols = [""] + list(model.charset.chars)

    def _run_model(self, batch):
        """Logits (K, T, C) and frame counts (K,) of the decoded lines; K may be 0."""

        def run():
            logits = self.model({"image": batch.image, "width": batch.width}, training=False)
            lengths = self.model.output_lengths(batch.width)
            return tf.cast(logits, tf.float32), tf.cast(lengths, tf.int32)

        def nothing():
            return tf.zeros([0, 0, self.num_classes]), tf.zeros([0], tf.int32)

        return tf.cond(tf.size(batch.index) > 0, run, nothing)

    def _decode(self, image_bytes):
        batch = decode_lines(image_bytes, self.model.preprocess_config, max_pixels=self.max_pixels)
        logits, lengths = self._run_model(batch)
        error = tf.gather(tf.constant(STATUS_MESSAGES), batch.status)
        return batch, logits, lengths, error

    def transcribe(self, image_bytes):
        batch, logits, lengths, error = self._decode(image_bytes)
        count = tf.shape(image_bytes)[0]
        ids, scores = greedy_decode(logits, lengths)
        chars = tf.gather(tf.constant(self.symbols), tf.maximum(ids, 0))
        text = tf.strings.reduce_join(chars, axis=-1)
        at = batch.index[:, None]
        return {
            "text": tf.tensor_scatter_nd_update(tf.fill([count], ""), at, text),
            "score": tf.tensor_scatter_nd_update(tf.fill([count], -1.0), at, scores),
            "error": error,
        }

    def logits(self, image_bytes):
        batch, logits, lengths, error = self._decode(image_bytes)
        count = tf.shape(image_bytes)[0]
        at = batch.index[:, None]
        frames = tf.shape(logits)[1]
        # Frames past a line's end hold what the model computed over padding: zero them.
        inside = tf.sequence_mask(lengths, frames, dtype=logits.dtype)[..., None]
        return {
            "logits": tf.scatter_nd(
                at, logits * inside, tf.stack([count, frames, self.num_classes])
            ),
            "lengths": tf.scatter_nd(at, lengths, tf.stack([count])),
            "error": error,
        }


def metadata(model) -> dict:
    """What a client needs besides the graph: the alphabet (id i = chars[i - 1]) and config."""
    return {
        "format": "keras_htr.savedmodel",
        "charset": model.charset.get_config(),
        "preprocess_config": model.preprocess_config.get_config(),
        "blank_id": 0,
        "endpoints": {
            SERVING_ENDPOINT: {"inputs": ["image_bytes"], "outputs": ["text", "score", "error"]},
            LOGITS_ENDPOINT: {"inputs": ["image_bytes"], "outputs": ["logits", "lengths", "error"]},
        },
        "status_messages": list(STATUS_MESSAGES),
    }


def export_savedmodel(
    model,
    base_path,
    version: int = 1,
    overwrite: bool = False,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    verbose: bool = False,
) -> str:
    """Write `model` as `base_path/<version>/`, the layout TF Serving watches.

    Args:
        model: a keras_htr `LineModel` (with `charset` and `preprocess_config`).
        base_path: the model's base path for TF Serving (e.g. `saved_models/htr_line`).
        version: positive integer version directory. Defaults to 1.
        overwrite: replace an existing version directory. Defaults to False.
        max_pixels: images with more pixels are refused per element, before decoding.
        verbose: print the endpoints as Keras does.

    Returns:
        The version directory written.

    The version is written to a temporary directory beside it and renamed into place, so a
    server watching `base_path` never loads a half-written version.
    """
    from keras_htr.models.line_model import check_line_model

    check_line_model(model)
    target = version_dir(base_path, version, overwrite, max_pixels)

    endpoints = _Endpoints(model, max_pixels)
    archive = keras.export.ExportArchive()
    # No archive.track(model): the endpoints track the variables they use, and tracking the
    # model as well would store every weight twice (as Keras and as tf.Variable objects).
    archive.add_endpoint(SERVING_ENDPOINT, endpoints.transcribe, input_signature=[IMAGE_BYTES])
    archive.add_endpoint(LOGITS_ENDPOINT, endpoints.logits, input_signature=[IMAGE_BYTES])
    return write_version(archive, target, metadata(model), verbose=verbose)


def version_dir(base_path, version: int, overwrite: bool, max_pixels: int) -> str:
    """`base_path/<version>`, refused if it exists (unless `overwrite`); creates `base_path`.

    Called before the endpoints are traced, so bad arguments fail fast: a version TF Serving
    would not load (it watches positive integer directories), a `max_pixels` that is not a
    positive int, an existing version.
    """
    from keras_htr.transcriber import check_positive

    check_positive(version=version, max_pixels=max_pixels)
    base_path = os.fspath(base_path)
    target = os.path.join(base_path, str(version))
    if os.path.exists(target) and not overwrite:
        raise FileExistsError(f"{target} exists; pass overwrite=True (--overwrite) to replace it")
    os.makedirs(base_path, exist_ok=True)
    return target


def write_version(archive, target: str, meta: dict, verbose: bool = False) -> str:
    """Write `archive` and its `meta` (to `METADATA_FILE`) as the version directory `target`.

    The version is written to a temporary directory beside it and renamed into place, so a
    server watching the base path never loads a half-written version.
    """
    base_path, version = os.path.split(target)
    staging = tempfile.mkdtemp(prefix=f".{version}-", dir=base_path)
    try:
        archive.write_out(staging, verbose=verbose)
        os.makedirs(os.path.join(staging, "assets.extra"), exist_ok=True)
        with open(os.path.join(staging, METADATA_FILE), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=2)
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_metadata(version_dir) -> dict:
    """The `keras_htr.json` written beside an exported SavedModel."""
    with open(os.path.join(os.fspath(version_dir), METADATA_FILE), encoding="utf-8") as f:
        return json.loads(f.read())


__all__ = [
    "LOGITS_ENDPOINT",
    "SERVING_ENDPOINT",
    "export_savedmodel",
    "metadata",
    "read_metadata",
]
