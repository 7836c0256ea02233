"""Line image preprocessing: file -> 8-bit gray (host), gray -> normalised line tensor (TF ops).

Two halves, so that the same code runs everywhere:

- `load_image` runs on the host with Pillow: it decodes any file format and mode, applies the
  EXIF orientation and refuses decompression bombs before decoding them.
- `preprocess_line` is pure TensorFlow ops (no `py_function`), so training, evaluation,
  `transcribe` and the exported SavedModel all preprocess a line identically:

  1. invert to ink = 1, background = 0;
  2. contrast normalisation: the median (paper) maps to 0 and a high quantile (ink) to 1;
  3. crop of the empty margins around the ink;
  4. slant correction: try a grid of horizontal shears (then a finer one around the best) and
     keep the shear whose vertical projection is most concentrated (sum of squared column
     sums of ink), i.e. the one that makes the strokes upright;
  5. height normalisation to `height` pixels, keeping the aspect ratio, with a small margin;
  6. optional binarisation with Otsu's threshold.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import warnings
from typing import Union

import numpy as np
from PIL import Image, ImageOps

#: Largest image `load_image` decodes: a 300 dpi A3 scan is ~17 Mpx; this leaves room for 600 dpi.
DEFAULT_MAX_PIXELS = 80_000_000
#: Widest preprocessed line (pixels) transcribed; wider ones are reported as errors (memory).
MAX_LINE_WIDTH = 16384


class ImageError(ValueError):
    """An image that cannot be used, with the file it came from in the message."""


def _mode_to_gray(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> uint8 (H, W); transparency is composited on white paper."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(paper, rgba).convert("L"))
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _to_uint8(np.asarray(image), "<image>")
    if mode == "CMYK":
        image = image.convert("RGB")
    return np.asarray(image.convert("L"))


@contextlib.contextmanager
def _open_checked(source, name: str, max_pixels: int):
    """Open an image lazily (header only) and refuse it if empty or too large, naming `name`.

    Pillow's own bomb warning is ignored (our `max_pixels` decides); its hard limit
    (2 * `Image.MAX_IMAGE_PIXELS`) still raises and is reported the same way.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise ImageError(
                        f"{name}: image of {width}x{height} pixels exceeds the limit of "
                        f"{max_pixels} pixels (decompression bomb?); not decoded"
                    )
                if width == 0 or height == 0:
                    raise ImageError(f"{name}: empty image ({width}x{height})")
                yield image
    except ImageError:
        raise
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: refused, decompression bomb ({e})") from None
    except FileNotFoundError:
        raise ImageError(f"{name}: file not found") from None
    except (OSError, ValueError, SyntaxError, MemoryError) as e:
        raise ImageError(f"{name}: cannot decode image ({e})") from None


def load_image(
    path_or_bytes: Union[str, os.PathLike, bytes, np.ndarray],
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> np.ndarray:
    """Decode an image file to a uint8 gray array (H, W), upright, transparency on white.

    Args:
        path_or_bytes: a file path, the encoded bytes of an image, or an array: gray or
            RGB(A), of any dtype (floats in [0, 1] or [0, 255], 16-bit, bool), read like the
            same image in uint8.
        max_pixels: images with more pixels are refused from their header, before decoding
            (decompression bombs).

    Returns:
        `np.ndarray` uint8 of shape (H, W).

    Raises:
        ImageError: unreadable, empty, truncated or oversized images; the message names the file.
    """
    if isinstance(path_or_bytes, np.ndarray):
        return _array_to_gray(path_or_bytes)
    is_bytes = isinstance(path_or_bytes, (bytes, bytearray))
    name = "<bytes>" if is_bytes else os.fspath(path_or_bytes)
    with _open_checked(io.BytesIO(path_or_bytes) if is_bytes else name, name, max_pixels) as image:
        image.load()
        gray = _mode_to_gray(ImageOps.exif_transpose(image))
    return np.ascontiguousarray(gray)


def probe_image(path: Union[str, os.PathLike], max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple:
    """(width, height) from the header only: a cheap check for lazily read datasets.

    Raises:
        ImageError: the file is missing, not an image, empty, or larger than `max_pixels`.
    """
    name = os.fspath(path)
    with _open_checked(name, name, max_pixels) as image:
        return image.size


def _to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    """Pixel values of any dtype -> uint8, read as the image they stand for.

    The range comes from the dtype where it says it (bool: 0/255 like Pillow's mode "1";
    16-bit unsigned: 0..65535), else from the values: floats up to 1 are in [0, 1], and other
    values are 8-bit when they fit in 0..255, 16-bit otherwise. Clipping alone would turn a
    [0, 1] float image black and a 16-bit one white.
    """
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return np.where(array, 255, 0).astype(np.uint8)
    if array.dtype.kind not in "uif":
        raise ImageError(
            f"{name}: expected real pixel values (bool, integer or float), got dtype {array.dtype}"
        )
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ImageError(f"{name}: expected finite pixel values, got NaN or infinity")
    if array.dtype.kind == "u" and array.dtype.itemsize == 2:
        top = 65535.0
    else:
        peak = float(array.max(initial=0))
        top = 1.0 if array.dtype.kind == "f" and peak <= 1.0 else 255.0 if peak <= 255 else 65535.0
    return np.clip(array.astype(np.float64) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)


def _array_to_gray(array: np.ndarray) -> np.ndarray:
    """An (H, W), (H, W, 1), RGB or RGBA array of any dtype -> uint8 (H, W)."""
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    color = array.ndim == 3 and array.shape[-1] in (3, 4)
    if not (array.ndim == 2 or color) or array.size == 0:
        raise ImageError(
            f"<array>: expected a non-empty (H, W), (H, W, 1), RGB or RGBA image, "
            f"got shape {array.shape}"
        )
    array = _to_uint8(array, "<array>")
    if color:
        return _mode_to_gray(Image.fromarray(np.ascontiguousarray(array)))
    return array


@dataclasses.dataclass
class PreprocessConfig:
    """How a line image becomes a model input; stored in the model so inference matches training.

    Args:
        height: output height in pixels (the model's fixed input height). Defaults to 32.
        normalize_contrast: stretch paper to 0 and ink to 1. Defaults to True.
        crop_margins: remove empty rows/columns around the ink. Defaults to True.
        deslant: slant correction by the vertical-projection criterion. Defaults to True.
        max_slant: largest slant tried, as shear = tan(angle) (1.0 is 45 degrees). Defaults to 1.0.
        slant_steps: number of shears tried in [-max_slant, max_slant]. Defaults to 13.
        binarize: Otsu binarisation after resizing. Defaults to False.
        margin: blank border around the ink after resizing, as a fraction of `height`.
            Defaults to 0.0625 (2 pixels at height 32).
        ink_threshold: an ink value above this counts as ink when cropping margins.
            Defaults to 0.3.
        max_width: lines wider than this after resizing are squeezed to it (a guard against
            degenerate strips, far beyond real lines: 4096 is an aspect ratio of 128 at
            height 32). Defaults to 4096.
    """

    height: int = 32
    normalize_contrast: bool = True
    crop_margins: bool = True
    deslant: bool = True
    max_slant: float = 1.0
    slant_steps: int = 13
    binarize: bool = False
    margin: float = 0.0625
    ink_threshold: float = 0.3
    max_width: int = 4096

    def __post_init__(self):
        if not isinstance(self.height, int) or self.height < 8:
            raise ValueError(
                f"Received an invalid value for argument `height`, expected an int >= 8, "
                f"got {self.height!r}"
            )
        if not 0.0 <= self.max_slant <= 2.0:
            raise ValueError(
                f"Received an invalid value for argument `max_slant`, expected a shear in "
                f"[0, 2], got {self.max_slant!r}"
            )
        if not isinstance(self.slant_steps, int) or self.slant_steps < 1:
            raise ValueError(
                f"Received an invalid value for argument `slant_steps`, expected an int >= 1, "
                f"got {self.slant_steps!r}"
            )
        if not 0.0 <= self.margin < 0.5:
            raise ValueError(
                f"Received an invalid value for argument `margin`, expected a fraction in "
                f"[0, 0.5), got {self.margin!r}"
            )
        if not isinstance(self.max_width, int) or self.max_width < self.height:
            raise ValueError(
                f"Received an invalid value for argument `max_width`, expected an int >= height, "
                f"got {self.max_width!r}"
            )
        if not 0.0 < self.ink_threshold < 1.0:
            raise ValueError(
                f"Received an invalid value for argument `ink_threshold`, expected a value in "
                f"(0, 1), got {self.ink_threshold!r}"
            )

    @property
    def margin_pixels(self) -> int:
        return int(round(self.margin * self.height))

    def get_config(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config: dict) -> "PreprocessConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config) - names
        if unknown:
            raise ValueError(f"Unknown PreprocessConfig keys {sorted(unknown)}; known: {sorted(names)}")
        return cls(**config)


# ---------------------------------------------------------------------------------------------
# TF ops. Imported lazily so `load_image` and the config work without TensorFlow.


def _tf():
    import tensorflow as tf

    return tf


def _quantile(tf, values, q):
    """q-quantile of values in [0, 1], to 1/256 precision, from a histogram (linear time)."""
    hist = tf.histogram_fixed_width(tf.reshape(values, [-1]), [0.0, 1.0], nbins=256)
    cdf = tf.cumsum(hist)
    rank = tf.cast(tf.math.ceil(q * tf.cast(cdf[-1], tf.float32)), cdf.dtype)
    bin_index = tf.reduce_min(tf.where(cdf >= tf.maximum(rank, 1), tf.range(256), 255))
    return tf.reshape((tf.cast(bin_index, tf.float32) + 0.5) / 256.0, [])


def _ink_bounds(tf, mask):
    """[first, last + 1) of the True entries of a 1-D bool tensor, or [0, len) if none."""
    n = tf.shape(mask)[0]
    idx = tf.cast(tf.where(mask)[:, 0], tf.int32)
    has = tf.size(idx) > 0
    first = tf.cond(has, lambda: tf.reduce_min(idx), lambda: 0)
    last = tf.cond(has, lambda: tf.reduce_max(idx) + 1, lambda: n)
    return first, last


def _crop_to_ink(tf, ink, threshold, rows=True, with_offset=False):
    """`ink` without its empty margins. Isolated ink pixels (dust, speckle noise: no ink among
    their 8 neighbours) do not count, so one speck far from the line does not widen the crop.
    With `with_offset`, also the first kept column (where the crop starts in `ink`)."""
    dots = tf.cast(ink > threshold, tf.float32)[tf.newaxis, :, :, tf.newaxis]
    # A sum over the 3x3 window (zeros outside the image): an average pool with SAME padding
    # divides by the pixels inside the image, so `* 9` overcounted at borders and corners.
    neighbourhood = tf.nn.conv2d(dots, tf.ones([3, 3, 1, 1]), 1, "SAME")[0, :, :, 0]
    mask = (dots[0, :, :, 0] > 0) & (neighbourhood > 1.5)
    c0, c1 = _ink_bounds(tf, tf.reduce_any(mask, axis=0))
    if not rows:
        return (ink[:, c0:c1], c0) if with_offset else ink[:, c0:c1]
    r0, r1 = _ink_bounds(tf, tf.reduce_any(mask, axis=1))
    return (ink[r0:r1, c0:c1], c0) if with_offset else ink[r0:r1, c0:c1]


def _shear_transforms(tf, shears, height):
    """Projective transforms (output -> input) for a horizontal shear about the middle row.

    Output pixel (x, y) samples input (x - pad - s * (y - cy), y), where `pad` makes room for
    the largest shear so no ink leaves the canvas.
    """
    shears = tf.cast(shears, tf.float32)
    h = tf.cast(height, tf.float32)
    cy = (h - 1.0) / 2.0
    pad = tf.math.ceil(tf.reduce_max(tf.abs(shears)) * h / 2.0)
    ones = tf.ones_like(shears)
    zeros = tf.zeros_like(shears)
    transforms = tf.stack(
        [ones, -shears, shears * cy - pad, zeros, ones, zeros, zeros, zeros], axis=1
    )
    return transforms, tf.cast(pad, tf.int32)


def _apply_shears(tf, ink, shears):
    """The image sheared by each of `shears`: (len(shears), H, W + 2 * pad)."""
    height, width = tf.shape(ink)[0], tf.shape(ink)[1]
    transforms, pad = _shear_transforms(tf, shears, height)
    images = tf.tile(ink[tf.newaxis, :, :, tf.newaxis], [tf.shape(shears)[0], 1, 1, 1])
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.stack([height, width + 2 * pad]),
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return out[..., 0]


def _slant_scores(tf, ink, shears):
    """Vertical-projection criterion for each shear: the sum of squared column sums of ink
    after shearing. Shearing keeps the total ink, so the score is largest when the ink gathers
    in the fewest columns, i.e. when the strokes are upright.

    Rows are shifted by whole pixels and summed with one segment sum (no image per shear).
    """
    height, width = tf.shape(ink)[0], tf.shape(ink)[1]
    n = tf.shape(shears)[0]
    pad = tf.cast(tf.math.ceil(tf.reduce_max(tf.abs(shears)) * tf.cast(height, tf.float32) / 2.0), tf.int32) + 1
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    rows = tf.range(height, dtype=tf.float32) - cy
    shifts = tf.cast(tf.round(shears[:, tf.newaxis] * rows[tf.newaxis, :]), tf.int32)  # (N, H)
    columns = tf.range(width)[tf.newaxis, tf.newaxis, :] + shifts[:, :, tf.newaxis] + pad  # (N, H, W)
    span = width + 2 * pad
    segments = tf.range(n)[:, tf.newaxis, tf.newaxis] * span + columns
    values = tf.broadcast_to(ink[tf.newaxis], tf.stack([n, height, width]))
    projection = tf.math.unsorted_segment_sum(values, segments, n * span)
    projection = tf.reshape(projection, tf.stack([n, span]))
    return tf.reduce_sum(projection * projection, axis=1)


def _deslant(tf, ink, config: PreprocessConfig, with_offset=False):
    """Estimate the slant on a copy at the output height, apply it at full size. With
    `with_offset`, also where column 0 of the result lies in `ink`, on its middle row (the
    shear's fixed row)."""
    if config.slant_steps == 1 or config.max_slant == 0.0:
        return (ink, tf.constant(0, tf.int32)) if with_offset else ink
    shears = tf.linspace(-config.max_slant, config.max_slant, config.slant_steps)
    height, width = tf.shape(ink)[0], tf.shape(ink)[1]
    work_h = tf.minimum(height, config.height)
    scale = tf.cast(work_h, tf.float32) / tf.cast(height, tf.float32)
    work_w = tf.maximum(1, tf.cast(tf.round(tf.cast(width, tf.float32) * scale), tf.int32))
    small = tf.image.resize(ink[..., tf.newaxis], tf.stack([work_h, work_w]), antialias=True)
    small = small[..., 0]

    def best_of(candidates):
        scores = _slant_scores(tf, small, candidates)
        # Among the best scores (ties: whole-pixel shifts at a small height, blank images),
        # take the smallest shear.
        best = scores >= tf.reduce_max(scores) * (1.0 - 1e-6)
        return candidates[tf.argmax(tf.where(best, -tf.abs(candidates), -1e9), output_type=tf.int32)]

    # Coarse grid, then a finer one around its best (so the result is not quantised to the grid).
    shear = best_of(shears)
    if config.slant_steps > 1:
        step = 2.0 * config.max_slant / (config.slant_steps - 1)
        shear = best_of(shear + tf.linspace(-step / 2, step / 2, 7))
    out = _apply_shears(tf, ink, shear[tf.newaxis])[0]
    pad = (tf.shape(out)[1] - width) // 2  # the canvas grew by `pad` on each side
    out, c0 = _crop_to_ink(tf, out, config.ink_threshold, rows=False, with_offset=True)
    return (out, c0 - pad) if with_offset else out


def _otsu_threshold(tf, ink):
    hist = tf.cast(tf.histogram_fixed_width(ink, [0.0, 1.0], nbins=256), tf.float32)
    centers = (tf.range(256, dtype=tf.float32) + 0.5) / 256.0
    w0 = tf.cumsum(hist)
    w1 = tf.reduce_sum(hist) - w0
    m0 = tf.cumsum(hist * centers) / tf.maximum(w0, 1.0)
    m1 = (tf.reduce_sum(hist * centers) - tf.cumsum(hist * centers)) / tf.maximum(w1, 1.0)
    between = w0 * w1 * tf.square(m0 - m1)
    return centers[tf.argmax(between)] + 0.5 / 256.0


def preprocess_line(gray, config: PreprocessConfig | None = None, return_geometry: bool = False):
    """Normalise one line image for the model, in TensorFlow ops only.

    Args:
        gray: uint8 tensor or array (H, W) or (H, W, 1), dark ink on light paper.
        config: a `PreprocessConfig`; defaults to `PreprocessConfig()`.
        return_geometry: also return where the output's columns lie in `gray`, so that
            positions the model finds (e.g. characters) can be shown on the input image.

    Returns:
        float32 tensor (config.height, W', 1) in [0, 1], 1 = ink, 0 = background. With
        `return_geometry`, `(line, geometry)`: geometry is float32 `[offset, scale, width]`,
        column `x` of `line` (in pixels, left edge 0) is column `offset + scale * x` of `gray`
        (on the middle row of the ink: slant correction shears the rows about it), and `width`
        is the width of `gray`. It accounts for the margin crop, the slant correction's shift,
        the resizing and the added margin.

    Example:

    >>> import numpy as np
    >>> line = np.full((50, 200), 255, np.uint8); line[20:30, 40:160] = 0
    >>> preprocess_line(line, PreprocessConfig(height=32)).shape[0]
    32
    """
    tf = _tf()
    config = config or PreprocessConfig()
    gray = tf.convert_to_tensor(gray)
    if gray.shape.rank == 3:
        gray = gray[..., 0]
    ink = 1.0 - tf.cast(gray, tf.float32) / 255.0
    ink = tf.ensure_shape(ink, [None, None])
    if config.normalize_contrast:
        paper = _quantile(tf, ink, 0.5)
        dark = _quantile(tf, ink, 0.995)
        # A blank page must stay blank: never stretch less than 0.25 of the gray range to 1.
        span = tf.maximum(dark - paper, 0.25)
        ink = tf.clip_by_value((ink - paper) / span, 0.0, 1.0)
    image_width = tf.shape(ink)[1]
    offset = tf.constant(0, tf.int32)  # column of `gray` where column 0 of `ink` lies
    if config.crop_margins:
        ink, shift = _crop_to_ink(tf, ink, config.ink_threshold, with_offset=True)
        offset += shift
    if config.deslant:
        ink, shift = _deslant(tf, ink, config, with_offset=True)
        offset += shift
    margin = config.margin_pixels
    inner = config.height - 2 * margin
    height, width = tf.shape(ink)[0], tf.shape(ink)[1]
    new_w = tf.cast(
        tf.round(tf.cast(width, tf.float32) * inner / tf.cast(height, tf.float32)), tf.int32
    )
    new_w = tf.clip_by_value(new_w, 1, config.max_width - 2 * margin)
    line = tf.image.resize(ink[..., tf.newaxis], tf.stack([inner, new_w]), antialias=True)
    line = tf.clip_by_value(line, 0.0, 1.0)
    if config.binarize:
        line = tf.cast(line > _otsu_threshold(tf, line), tf.float32)
    if margin:
        line = tf.pad(line, [[margin, margin], [margin, margin], [0, 0]])
    line = tf.ensure_shape(line, [config.height, None, 1])
    if not return_geometry:
        return line
    scale = tf.cast(width, tf.float32) / tf.cast(new_w, tf.float32)
    geometry = tf.stack([
        tf.cast(offset, tf.float32) - margin * scale, scale, tf.cast(image_width, tf.float32)
    ])
    return line, geometry


__all__ = [
    "DEFAULT_MAX_PIXELS",
    "ImageError",
    "PreprocessConfig",
    "load_image",
    "preprocess_line",
    "probe_image",
]
