"""Encoded image bytes -> preprocessed, padded line batch, in TF graph ops (for a SavedModel).

A serving batch may hold bytes that are not an image, a truncated file, or a header that
announces a gigantic image (a decompression bomb). None of these may take the server down or
fail the other lines of the batch, and a graph has no try/except. So:

- each element's header is parsed with string ops (PNG IHDR, GIF screen, BMP info header,
  JPEG via `tf.image.extract_jpeg_shape`) and refused *before* decoding when the format is
  unknown or the image too large; its status says why;
- the decoding runs inside a `tf.data` map followed by `ignore_errors()`: an element whose
  decoder raises (corrupt or truncated data) is dropped from the batch, and its missing index
  marks it undecodable. `tf.data` ops are core TensorFlow ops, so TF Serving runs them.

The decoded gray image goes through `keras_htr.data.preprocess.preprocess_line`, the same
function training and the local recognizer use. Transparency is composited on white paper,
as the host-side `load_image` does.
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from keras_htr.data.preprocess import DEFAULT_MAX_PIXELS, PreprocessConfig, preprocess_line

# Status of each element of a batch; `STATUS_MESSAGES[status]` is the error text ("" = ok).
OK, NOT_AN_IMAGE, TOO_LARGE, UNDECODABLE, TOO_SMALL = 0, 1, 2, 3, 4
STATUS_MESSAGES = (
    "",
    "not a PNG, JPEG, GIF or BMP image",
    "image too large (refused before decoding)",
    "corrupt or truncated image data",
    "image too small for a text line (under 2 pixels high or wide)",
)

_UNKNOWN, _PNG, _JPEG, _GIF, _BMP = 0, 1, 2, 3, 4


def _bytes_at(data, offset, length):
    return tf.cast(tf.io.decode_raw(tf.strings.substr(data, offset, length), tf.uint8), tf.int64)


def _uint_be(data, offset, length):
    value = tf.constant(0, tf.int64)
    raw = _bytes_at(data, offset, length)
    for k in range(length):
        value = value * 256 + raw[k]
    return value


def _uint_le(data, offset, length):
    value = tf.constant(0, tf.int64)
    raw = _bytes_at(data, offset, length)
    for k in reversed(range(length)):
        value = value * 256 + raw[k]
    return value


def _int32_le(data, offset):
    value = _uint_le(data, offset, 4)
    return tf.where(value >= 2**31, value - 2**32, value)


def header_size(data):
    """`(format, height, width)` of encoded image bytes, read from the header only.

    `format` is 0 for an unknown format (then height = width = 0). A JPEG whose header cannot
    be parsed raises (the caller runs this under `ignore_errors`).
    """
    n = tf.strings.length(data)

    def starts_with(magic: bytes, min_length: int):
        return tf.logical_and(n >= min_length, tf.strings.substr(data, 0, len(magic)) == magic)

    def png():
        return tf.constant(_PNG), _uint_be(data, 20, 4), _uint_be(data, 16, 4)

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(data), tf.int64)
        return tf.constant(_JPEG), shape[0], shape[1]

    def gif():
        return tf.constant(_GIF), _uint_le(data, 8, 2), _uint_le(data, 6, 2)

    def bmp():
        # Height is negative for top-down bitmaps.
        return tf.constant(_BMP), tf.abs(_int32_le(data, 22)), tf.abs(_int32_le(data, 18))

    def unknown():
        zero = tf.constant(0, tf.int64)
        return tf.constant(_UNKNOWN), zero, zero

    return tf.case(
        [
            (starts_with(b"\x89PNG\r\n\x1a\n", 24), png),
            (starts_with(b"\xff\xd8\xff", 4), jpeg),
            (starts_with(b"GIF8", 10), gif),
            (starts_with(b"BM", 26), bmp),
        ],
        default=unknown,
        exclusive=True,
    )


def header_status(data, max_pixels: int):
    """The status of encoded bytes from their header alone: `OK` or why they are refused.

    `NOT_AN_IMAGE` (unknown format), `TOO_LARGE` (over `max_pixels`, a possible decompression
    bomb) or `TOO_SMALL` (under 2 pixels high or wide, as `Transcriber` refuses them).
    """
    kind, h, w = header_size(data)
    return tf.case(
        [
            (kind == _UNKNOWN, lambda: NOT_AN_IMAGE),
            (h * w > max_pixels, lambda: TOO_LARGE),
            ((h < 2) | (w < 2), lambda: TOO_SMALL),
        ],
        default=lambda: OK,
    )


def decode_gray(data):
    """Encoded bytes -> uint8 (H, W, 1) gray; alpha composited on white like `load_image`."""
    # JPEG with the accurate integer DCT: the default (fast) one differs from Pillow's decoding
    # by up to 3 gray levels on half the pixels, which moves the logits.
    image = tf.cond(
        tf.strings.substr(data, 0, 3) == b"\xff\xd8\xff",
        lambda: tf.io.decode_jpeg(data, channels=0, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False),
    )
    image = tf.ensure_shape(image, [None, None, None])
    pixels = tf.cast(image, tf.float32)
    channels = tf.shape(image)[2]

    def luma(rgb):  # ITU-R 601-2, the weights of Pillow's "L" conversion
        return tf.reduce_sum(rgb * tf.constant([0.299, 0.587, 0.114]), axis=-1, keepdims=True)

    def on_white(color, alpha):
        alpha = alpha / 255.0
        return color * alpha + 255.0 * (1.0 - alpha)

    gray = tf.switch_case(
        tf.clip_by_value(channels, 1, 4) - 1,
        [
            lambda: pixels[..., :1],
            lambda: on_white(pixels[..., :1], pixels[..., 1:2]),
            lambda: luma(pixels[..., :3]),
            lambda: luma(on_white(pixels[..., :3], pixels[..., 3:4])),
        ],
    )
    return tf.cast(tf.clip_by_value(tf.round(gray), 0.0, 255.0), tf.uint8)


@dataclasses.dataclass
class DecodedBatch:
    """The decodable lines of a batch, right-padded with blank paper, and every element's status.

    Attributes:
        index: int32 (K,) position in the request of each decoded line.
        image: float32 (K, height, W, 1), 1 = ink, padded to the widest line.
        width: int32 (K,) each line's width before padding.
        status: int32 (N,) status of every element of the request (`OK`, ...).
    """

    index: tf.Tensor
    image: tf.Tensor
    width: tf.Tensor
    status: tf.Tensor


def decode_lines(
    image_bytes,
    preprocess_config: PreprocessConfig,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> DecodedBatch:
    """Decode and preprocess a batch of encoded line images, skipping the bad ones.

    Args:
        image_bytes: string tensor (N,) of PNG, JPEG, GIF or BMP file contents.
        preprocess_config: the model's `PreprocessConfig`.
        max_pixels: images with more pixels are refused from their header (the line's width
            after resizing is bounded by `preprocess_config.max_width`).
    """
    height = preprocess_config.height
    image_bytes = tf.convert_to_tensor(image_bytes, tf.string)

    def decode_one(index, data):
        status = header_status(data, max_pixels)
        line = tf.cond(
            status == OK,
            lambda: preprocess_line(decode_gray(data), preprocess_config),
            lambda: tf.zeros([height, 1, 1]),
        )
        return index, line, tf.shape(line)[1], status

    (index, image, width), status = decode_each(
        image_bytes,
        decode_one,
        padded_shapes=([], [height, None, 1], [], []),
        empty=(
            tf.zeros([0], tf.int32),
            tf.zeros([0, height, 1, 1]),
            tf.zeros([0], tf.int32),
            tf.zeros([0], tf.int32),
        ),
    )
    return DecodedBatch(
        index=index,
        image=tf.ensure_shape(image, [None, height, None, 1]),
        width=width,
        status=status,
    )


def decode_each(image_bytes, decode_one, padded_shapes, empty, parallel: bool = True):
    """Run `decode_one(index, data)` over every element, keeping those whose status is `OK`.

    `decode_one` returns a tuple whose last item is the element's status; a refused element
    must still return (small) placeholders. It runs in a `tf.data` map followed by
    `ignore_errors()`, so an element whose decoder raises is dropped and marked `UNDECODABLE`.
    `empty` is the batch (zero rows) used when every element fails. `parallel=False` decodes
    one element at a time (for images that are large once decoded).

    Returns:
        (the other outputs of the `OK` elements, batched and padded; status int32 (N,)).
    """
    count = tf.shape(image_bytes)[0]
    mapped = tf.data.Dataset.from_tensor_slices((tf.range(count), image_bytes))
    if parallel:
        mapped = mapped.map(decode_one, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        mapped = mapped.map(decode_one)
    batches = mapped.ignore_errors().padded_batch(
        tf.cast(tf.maximum(count, 1), tf.int64), padded_shapes=padded_shapes
    )
    # When every element fails there is no batch at all: fall back to an empty one.
    *outputs, status = (
        batches.concatenate(tf.data.Dataset.from_tensors(empty)).take(1).get_single_element()
    )
    index = outputs[0]
    all_status = tf.tensor_scatter_nd_update(tf.fill([count], UNDECODABLE), index[:, None], status)
    # Refused elements were kept as 1-pixel placeholders; drop them from the model's batch.
    keep = status == OK
    return tuple(tf.boolean_mask(output, keep) for output in outputs), all_status
