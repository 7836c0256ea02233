"""Export a paragraph recognizer (`ParagraphModel`) as a SavedModel: image bytes in, lines out.

Everything runs in the graph, as for the line export (`keras_htr.export.savedmodel`): the
header check and decoding of `keras_htr.export.image_bytes` (a bad element is reported in its
`error`, the others are read), the scaling to the model's line pitch (`prepare_block`, the same
function `ParagraphTranscriber` runs), the model (at most `max_lines` attention steps), greedy
CTC decoding of each line and ids -> characters.

Signature `serving_default`: `image_bytes` string (N,) ->

- `text` string (N,): the lines joined by "\\n";
- `lines` string (N, L): each line's text, "" past `n_lines`;
- `n_lines` int32 (N,): lines read (0 for a page without ink or an element that failed);
- `line_scores` float32 (N, L): greedy confidence of each line, -1 past `n_lines`;
- `line_y` float32 (N, L): each line's vertical centre from its attention, in input-image
  pixels, -1 past `n_lines`;
- `truncated` bool (N,): the model read `max_lines` lines without deciding the block ended;
- `error` string (N,): "" when the element was read.

No TFLite export: with builtin ops only (batch 1, variables frozen, as `export.tflite` does), the
converter refuses the model's `Cumprod` (the end-of-paragraph count), strided slices with
dynamic bounds (the attention's row windows, the feature masks) and the attention loop's
TensorArrays (`TensorListReserve` of unknown element shape). Replacing them (cumsum, `tf.slice`,
element shapes) was tried: the slices and tensor lists still failed, so it needs the model's
graph rewritten, not done here.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_htr.data.preprocess import DEFAULT_MAX_PIXELS
from keras_htr.decoders.greedy import greedy_decode
from keras_htr.export.image_bytes import (
    OK,
    STATUS_MESSAGES,
    TOO_SMALL,
    decode_each,
    decode_gray,
    header_status,
)
from keras_htr.export.savedmodel import (
    IMAGE_BYTES,
    SERVING_ENDPOINT,
    version_dir,
    write_version,
)
from keras_htr.paragraph_transcriber import MAX_BLOCK_PIXELS, prepare_block

#: `BLOCK_TOO_LARGE`: the block is too large once scaled to the model's line pitch.
BLOCK_TOO_LARGE = len(STATUS_MESSAGES)
PARAGRAPH_STATUS_MESSAGES = (
    *STATUS_MESSAGES[:TOO_SMALL],
    "image too small for a text block (under 2 pixels high or wide)",
    f"text block too large once scaled to the model's line pitch (over {MAX_BLOCK_PIXELS} pixels)",
)


def decode_blocks(image_bytes, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Decode and scale a batch of encoded paragraph images, skipping the bad ones.

    Returns:
        dict: "index" int32 (K,) position in the request of each block read; "image" float32
        (K, h, w, 1) ink padded with paper; "height", "width" int32 (K,); "factor" float32
        (K,) scale from input to model pixels; "has_ink" bool (K,); "status" int32 (N,).
    """
    image_bytes = tf.convert_to_tensor(image_bytes, tf.string)

    def decode_one(index, data):
        status = header_status(data, max_pixels)

        def read():
            ink, factor, has_ink = prepare_block(decode_gray(data)[..., 0])
            return ink, factor, has_ink

        def skip():
            return tf.zeros([1, 1]), tf.constant(1.0), tf.constant(False)

        ink, factor, has_ink = tf.cond(status == OK, read, skip)
        size = tf.shape(ink)
        status = tf.where(
            (status == OK) & (size[0] * size[1] > MAX_BLOCK_PIXELS), BLOCK_TOO_LARGE, status
        )
        ink = tf.cond(status == OK, lambda: ink, lambda: tf.zeros([1, 1]))  # no huge padding
        return index, ink[..., None], size[0], size[1], factor, has_ink, status

    none = tf.zeros([0], tf.int32)
    (index, image, height, width, factor, has_ink), status = decode_each(
        image_bytes,
        decode_one,
        padded_shapes=([], [None, None, 1], [], [], [], [], []),
        empty=(none, tf.zeros([0, 1, 1, 1]), none, none, tf.zeros([0]), tf.zeros([0], tf.bool), none),
        parallel=False,
    )
    return {
        "index": index,
        "image": tf.ensure_shape(image, [None, None, None, 1]),
        "height": height,
        "width": width,
        "factor": factor,
        "has_ink": has_ink,
        "status": status,
    }


class _Endpoint:
    """The serving function, closed over one `ParagraphModel`."""

    def __init__(self, model, max_pixels: int):
        self.model = model
        self.max_pixels = max_pixels
        self.symbols = [""] + list(model.charset.chars)

    def _read(self, blocks):
        """Per block: line texts (K, L), scores (K, L), centres (K, L), lines read (K,)."""
        model = self.model

        def run():
            out = model({"image": blocks["image"], "height": blocks["height"],
                         "width": blocks["width"]}, training=False)
            logits = tf.cast(out["logits"], tf.float32)
            k, t = tf.shape(logits)[0], tf.shape(logits)[1]
            read = tf.where(blocks["has_ink"], out["n_lines"], 0)
            lines = tf.minimum(read, t)
            flat = tf.reshape(logits, [k * t, tf.shape(logits)[2], logits.shape[-1]])
            ids, scores = greedy_decode(flat, tf.repeat(out["lengths"], t))
            chars = tf.gather(tf.constant(self.symbols), tf.maximum(ids, 0))
            texts = tf.reshape(tf.strings.reduce_join(chars, axis=-1), [k, t])
            scores = tf.reshape(scores, [k, t])
            # Centre of each line: the attention-weighted start of its window, plus half a window.
            attention = tf.cast(out["attention"][:, :t], tf.float32)
            starts = tf.cast(tf.range(tf.shape(attention)[2]) * model.stride_h, tf.float32)
            total = tf.maximum(tf.reduce_sum(attention, -1), 1e-9)
            top = tf.reduce_sum(attention * starts, -1) / total
            centre = (top + model.stride_h * model.window / 2.0) / blocks["factor"][:, None]
            real = tf.range(t)[None, :] < lines[:, None]
            return (tf.where(real, texts, ""), tf.where(real, scores, -1.0),
                    tf.where(real, centre, -1.0), lines, read >= model.max_lines)

        def nothing():
            return (tf.zeros([0, 1], tf.string), tf.zeros([0, 1]), tf.zeros([0, 1]),
                    tf.zeros([0], tf.int32), tf.zeros([0], tf.bool))

        return tf.cond(tf.size(blocks["index"]) > 0, run, nothing)

    def transcribe(self, image_bytes):
        blocks = decode_blocks(image_bytes, self.max_pixels)
        texts, scores, centres, lines, truncated = self._read(blocks)
        count = tf.shape(image_bytes)[0]
        width = tf.shape(texts)[1]
        at = blocks["index"][:, None]
        joined = tf.strings.reduce_join(
            tf.RaggedTensor.from_tensor(texts, lengths=lines), axis=1, separator="\n"
        )

        def scatter(values, fill, shape):
            return tf.tensor_scatter_nd_update(tf.fill(shape, fill), at, values)

        return {
            "text": scatter(joined, "", [count]),
            "lines": scatter(texts, "", [count, width]),
            "n_lines": scatter(lines, 0, [count]),
            "line_scores": scatter(scores, -1.0, [count, width]),
            "line_y": scatter(centres, -1.0, [count, width]),
            "truncated": scatter(truncated, False, [count]),
            "error": tf.gather(tf.constant(PARAGRAPH_STATUS_MESSAGES), blocks["status"]),
        }


def is_paragraph_model_file(path) -> bool:
    """Whether the `.keras` file at `path` (None: the default model) holds a `ParagraphModel`,
    read from its config without loading it. A missing or non-`.keras` file is not one."""
    from pathlib import Path

    from keras_htr.models.line_model import saved_model_kind
    from keras_htr.models.paragraph import PARAGRAPH_MODEL_NAME
    from keras_htr.transcriber import default_model_path

    path = Path(path) if path is not None else default_model_path()
    try:
        return saved_model_kind(path) == PARAGRAPH_MODEL_NAME
    except (FileNotFoundError, ValueError):
        return False  # the line model loader reports these


def metadata(model) -> dict:
    return {
        "format": "keras_htr.paragraph_savedmodel",
        "charset": model.charset.get_config(),
        "max_lines": model.max_lines,
        "blank_id": 0,
        "endpoints": {
            SERVING_ENDPOINT: {
                "inputs": ["image_bytes"],
                "outputs": ["text", "lines", "n_lines", "line_scores", "line_y", "truncated",
                            "error"],
            }
        },
        "status_messages": list(PARAGRAPH_STATUS_MESSAGES),
    }


def export_paragraph_savedmodel(model, base_path, version: int = 1, overwrite: bool = False,
                                max_pixels: int = DEFAULT_MAX_PIXELS, verbose: bool = False) -> str:
    """Write a `ParagraphModel` as `base_path/<version>/` (TF Serving layout), written beside
    and renamed into place like `export_savedmodel`.

    Returns:
        The version directory written.
    """
    if not hasattr(model, "read_paragraph"):
        raise ValueError(
            f"Received an invalid value for argument `model`, expected a keras_htr "
            f"ParagraphModel, got {type(model).__name__}"
        )
    target = version_dir(base_path, version, overwrite, max_pixels)
    endpoint = _Endpoint(model, max_pixels)
    archive = keras.export.ExportArchive()
    archive.add_endpoint(SERVING_ENDPOINT, endpoint.transcribe, input_signature=[IMAGE_BYTES])
    return write_version(archive, target, metadata(model), verbose=verbose)


__all__ = [
    "PARAGRAPH_STATUS_MESSAGES",
    "decode_blocks",
    "export_paragraph_savedmodel",
    "is_paragraph_model_file",
    "metadata",
]
