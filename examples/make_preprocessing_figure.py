"""Make `docs/preprocessing.png`: what each preprocessing step does to a line image.

    python examples/make_preprocessing_figure.py [--out docs/preprocessing.png]

Each row adds one step of `keras_htr.data.preprocess.preprocess_line` to the previous row:
the input (a synthetic line given extra slant, gray paper and a wide margin), contrast
normalisation, margin cropping, slant correction and (optional) binarisation. The model sees
ink = 1 on 0; the figure shows it back as dark ink on white.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_htr.data.preprocess import PreprocessConfig, preprocess_line
from keras_htr.data.synthetic import LineSynthesizer

DISPLAY_HEIGHT = 64
STEPS = [
    ("input", None),
    ("contrast", dict(normalize_contrast=True, crop_margins=False, deslant=False)),
    ("+ crop margins", dict(normalize_contrast=True, crop_margins=True, deslant=False)),
    ("+ deslant", dict(normalize_contrast=True, crop_margins=True, deslant=True)),
    ("+ binarize", dict(normalize_contrast=True, crop_margins=True, deslant=True, binarize=True)),
]


def _degrade(image: np.ndarray, shear: float, rng) -> np.ndarray:
    """Add slant, a wide margin of the same paper and a dim, low-contrast ink to a line."""
    h, w = image.shape
    paper = int(np.median(image))
    pad = int(abs(shear) * h) + 2
    slanted = Image.fromarray(image).transform(
        (w + pad, h), Image.AFFINE, (1, shear, -shear * h / 2 - pad / 2, 0, 1, 0),
        resample=Image.BILINEAR, fillcolor=paper,
    )
    page = np.full((h + 60, w + pad + 80), paper, np.uint8)
    page[30: 30 + h, 40: 40 + w + pad] = np.asarray(slanted)
    dim = 120 + page.astype(np.float32) * (205 - 120) / 255  # darkest ink 120, white paper 205
    dim += rng.normal(0, 3, dim.shape)
    return np.clip(dim, 0, 255).astype(np.uint8)


def _to_display(line) -> np.ndarray:
    """Model view (ink = 1) -> dark ink on white, `DISPLAY_HEIGHT` high."""
    ink = np.asarray(line)[..., 0]
    return (255 - np.round(ink * 255)).astype(np.uint8)


def _scaled(image: np.ndarray, height: int) -> np.ndarray:
    w = max(1, round(image.shape[1] * height / image.shape[0]))
    return np.asarray(Image.fromarray(image).resize((w, height), Image.LANCZOS))


def make_figure(out: pathlib.Path) -> None:
    rng = np.random.default_rng(0)
    synth = LineSynthesizer(kind="text", fonts=["kalam"], seed=11)
    digits = LineSynthesizer(kind="digits", split="test", seed=3)
    inputs = [
        _degrade(synth.line(2).image, 0.45, rng),
        _degrade(digits.line(4).image, -0.35, rng),
    ]
    label_w, gap = 130, 8
    rows = []
    for name, overrides in STEPS:
        cells = []
        for image in inputs:
            if overrides is None:
                cells.append(_scaled(image, DISPLAY_HEIGHT + 30))
            else:
                config = PreprocessConfig(height=DISPLAY_HEIGHT, **overrides)
                cells.append(_to_display(preprocess_line(image, config)))
        rows.append((name, cells))
    col_w = [max(row[1][i].shape[1] for row in rows) for i in range(len(inputs))]
    row_h = [max(c.shape[0] for c in cells) for _, cells in rows]
    width = label_w + sum(col_w) + gap * (len(col_w) + 1)
    height = sum(row_h) + gap * (len(rows) + 1)
    canvas = Image.new("L", (width, height), 235)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    y = gap
    for (name, cells), h in zip(rows, row_h):
        draw.text((8, y + h // 2 - 6), name, fill=0, font=font)
        x = label_w + gap
        for cell, w in zip(cells, col_w):
            canvas.paste(Image.fromarray(cell), (x, y))
            x += w + gap
        y += h + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(out)
    print(f"wrote {out} ({width}x{height})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(pathlib.Path(__file__).resolve().parents[1] / "docs" / "preprocessing.png"))
    make_figure(pathlib.Path(parser.parse_args().out))
