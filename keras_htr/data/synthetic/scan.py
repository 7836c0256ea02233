"""Put an ink mask on paper and scan it, the way archive line images come out of a scanner.

A model trained on clean renders fails on scans: the paper of historical archives is toned and
stained, ruled, lit unevenly and shows the text of the other side through it; scanners blur, add
noise, change resolution and save JPEGs; many archives deliver binarised images; and line
segmentation cuts the descenders of the line above and the ascenders of the line below into
every crop. `scan` draws each of these effects with some probability, so a training set mixes
clean and harsh lines, with bounds chosen so that a person can still read every line (ink always
well darker than paper, blur and down-sampling bounded relative to the line's height).

Everything is numpy and Pillow; a typical line (64 x 800 px) takes a few milliseconds.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

# How often each effect fires at strength 1. Chosen so that about a fifth of the lines stay
# nearly clean and a few get most effects at once.
P_TEXTURE = 0.75
P_STAINS = 0.2
P_LIGHT = 0.45
P_RULED = 0.2
P_BLEED = 0.25
P_INTRUDER = 0.5
P_FADE = 0.35
P_BLUR = 0.45
P_NOISE = 0.7
P_LOW_RES = 0.3
P_RESCALE = 0.3
P_BINARISE = 0.12
P_JPEG = 0.35
_EFFECTS = (
    "intruders",
    "paper",
    "bleed",
    "fade",
    "tone",
    "light",
    "blur",
    "low_res",
    "noise",
    "binarise",
    "rescale",
    "jpeg",
)
# Readability: ink is always at least this much darker than the paper under it (0..1 scale).
MIN_CONTRAST = 0.4


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean, unit-scale noise varying over `cell` pixels: stains, light, pressure."""
    gh, gw = max(2, int(round(h / cell)) + 1), max(2, int(round(w / cell)) + 1)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BICUBIC))


def stroke_width(ink: np.ndarray) -> float:
    """Mean horizontal run length of the ink (px): how much blur and down-sampling it survives."""
    solid = ink > 0.5
    starts = np.count_nonzero(solid[:, 1:] & ~solid[:, :-1]) + np.count_nonzero(solid[:, 0])
    return float(np.count_nonzero(solid) / starts) if starts else 0.0


def _intruder_band(
    rng: np.random.Generator, mask: np.ndarray, depth: int, width: int, from_top: bool
) -> np.ndarray:
    """(depth, width) band of `mask` nearest the crop: its bottom rows for the line above,
    its top rows for the line below, shifted sideways at random."""
    rows = np.nonzero(mask.max(axis=1) > 0.05)[0]
    band = np.zeros((depth, width), np.float32)
    if rows.size == 0 or depth <= 0:
        return band
    mask = mask[rows[0] : rows[-1] + 1]
    part = mask[-depth:] if from_top else mask[:depth]
    # The visible rows of the neighbour touch the crop's edge: the line above ends at our top.
    ph, pw = part.shape
    x0 = int(rng.integers(min(0, width - pw), max(0, width - pw) + 1))
    src = part[:, max(0, -x0) : max(0, -x0) + width]
    dst_x = max(0, x0)
    src = src[:, : width - dst_x]
    if from_top:
        band[depth - ph :, dst_x : dst_x + src.shape[1]] = src
    else:
        band[:ph, dst_x : dst_x + src.shape[1]] = src
    return band


def _paste_intruders(rng, ink: np.ndarray, intruders, strength: float) -> np.ndarray:
    """`ink` with the neighbouring lines' strokes cut in at the top and bottom edges.

    Depth is bounded by the crop's empty margin plus a little, so an intruder may touch the
    line's own ascenders or descenders, as in real crops, but never covers its x-height band.
    """
    h, w = ink.shape
    rows = np.nonzero(ink.max(axis=1) > 0.05)[0]
    top_margin, bottom_margin = (
        (int(rows[0]), int(h - 1 - rows[-1])) if rows.size else (h // 3, h // 3)
    )
    out = ink
    for mask, from_top, margin in (
        (intruders[0], True, top_margin),
        (intruders[1], False, bottom_margin),
    ):
        if mask is None or rng.random() >= P_INTRUDER * strength:
            continue
        mask = np.asarray(mask, np.float32)
        if mask.ndim != 2:
            raise ValueError(
                f"Received an invalid value for argument `intruders`, expected 2-D ink masks or None, "
                f"got shape {mask.shape}"
            )
        depth = int(min(margin + 0.05 * h, h * rng.uniform(0.05, 0.2) * strength + 1))
        if depth < 2:
            continue
        band = _intruder_band(rng, mask, depth, w, from_top)
        out = out.copy() if out is ink else out
        region = out[:depth] if from_top else out[h - depth :]
        np.maximum(region, band, out=region)
    return out


def _paper(rng, h: int, w: int, s: float) -> np.ndarray:
    """Paper tone (0..1, 1 = white): toned, fibrous, stained, unevenly lit; ruled sometimes."""
    tone = 1.0 - s * rng.uniform(0.0, 0.3) if rng.random() < 0.8 * s + 1e-9 else 1.0 - 0.02 * s
    paper = np.full((h, w), tone, np.float32)
    if rng.random() < P_TEXTURE * s:
        # Fibres: fine noise stretched along the sheet, plus a cloudy mid-scale texture.
        fibre = _smooth_noise(rng, h, w, rng.uniform(1.5, 3.0))
        paper += fibre * s * rng.uniform(0.005, 0.025)
        paper += _smooth_noise(rng, h, w, h * rng.uniform(0.3, 1.5)) * s * rng.uniform(0.01, 0.04)
    if rng.random() < P_STAINS * s:
        stains = np.clip(
            _smooth_noise(rng, h, w, h * rng.uniform(0.5, 2.0)) - rng.uniform(0.5, 1.5), 0, None
        )
        paper -= stains * s * rng.uniform(0.05, 0.15)
    if rng.random() < P_RULED * s:
        # A printed ruling under the writing (or over it), slightly sloped, lighter than ink.
        y0 = h * (rng.uniform(0.68, 0.92) if rng.random() < 0.8 else rng.uniform(0.05, 0.2))
        slope = rng.uniform(-0.004, 0.004)
        thick = max(1.0, h / 60 * rng.uniform(0.7, 1.5))
        yy = np.arange(h, dtype=np.float32)[:, None] - (
            y0 + slope * np.arange(w, dtype=np.float32)[None, :]
        )
        line = np.clip(thick / 2 + 0.5 - np.abs(yy), 0, 1)
        paper -= line * rng.uniform(0.12, 0.35) * s
    return paper


def _lighting(rng, h: int, w: int, s: float) -> np.ndarray:
    """Multiplicative light: a gradient across the line, a gutter shadow at one end, hot spots."""
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    light = 1.0 + s * (rng.uniform(-0.12, 0.12) * xs + rng.uniform(-0.06, 0.06) * ys)
    if rng.random() < 0.3:
        side = xs if rng.random() < 0.5 else -xs
        light = light - s * rng.uniform(0.1, 0.3) * np.clip((side - 0.6) / 0.4, 0, 1) ** 2
    light = light + _smooth_noise(rng, h, w, w * rng.uniform(0.15, 0.5)) * s * 0.04
    return light


def _bleed_through(rng, ink: np.ndarray, s: float) -> np.ndarray:
    """Faint mirrored, blurred writing from the other side of the sheet, on its own baseline."""
    h, w = ink.shape
    back = ink[:, ::-1]
    dy, dx = int(rng.integers(-h // 3, h // 3 + 1)), int(rng.integers(0, w))
    back = np.roll(np.roll(back, dy, axis=0), dx, axis=1)
    if dy > 0:
        back[:dy] = 0
    elif dy < 0:
        back[dy:] = 0
    img = Image.fromarray((back * 255).astype(np.uint8)).filter(
        ImageFilter.GaussianBlur(rng.uniform(0.8, 2.0))
    )
    return np.asarray(img, np.float32) / 255 * rng.uniform(0.06, 0.2) * s


def _binarise(rng, img: np.ndarray) -> np.ndarray:
    """Black and white, as archives' bitonal scans: a local (Sauvola-like) or global threshold."""
    h = img.shape[0]
    if rng.random() < 0.6:
        base = Image.fromarray(img)
        mean = np.asarray(base.filter(ImageFilter.BoxBlur(max(4, h // 2))), np.float32)
        smooth = np.asarray(base.filter(ImageFilter.GaussianBlur(0.7)), np.float32)
        ink = smooth < mean - rng.uniform(8, 20)
    else:
        lo, hi = np.percentile(img, [1, 60])
        ink = img < lo + (hi - lo) * rng.uniform(0.45, 0.65)
    return np.where(ink, 0, 255).astype(np.uint8)


def scan(
    ink: np.ndarray,
    rng: np.random.Generator,
    *,
    ink_tone: float = 0.1,
    intruders: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    strength: float = 1.0,
) -> np.ndarray:
    """A scanned line: `ink` drawn on paper, degraded by a random mix of scanner effects.

    Args:
        ink: float (H, W) ink mask in [0, 1], 1 = full ink.
        rng: the generator; the scan is a pure function of its state and the arguments.
        ink_tone: the ink's lightness in [0, 1) (0 = black). Defaults to 0.1. Kept at least
            `MIN_CONTRAST` below the paper so the line stays readable.
        intruders: (above, below) float ink masks of the neighbouring lines, or None: the
            descenders of the line above and the ascenders of the line below, cut into the top
            and bottom of the crop as real line segmentation leaves them.
        strength: in [0, 1]: 0 gives white paper and flat ink with no effect, 1 the full
            random mix used for training and benchmarks. Defaults to 1.

    Returns:
        uint8 (H', W') image, dark ink on light paper; H', W' differ from H, W when a
        resolution change fired.
    """
    ink = np.asarray(ink, np.float32)
    if ink.ndim != 2 or min(ink.shape) < 2:
        raise ValueError(
            f"Received an invalid value for argument `ink`, expected a 2-D mask, got shape {ink.shape}"
        )
    if not 0.0 <= strength <= 1.0:
        raise ValueError(
            f"Received an invalid value for argument `strength`, expected a float in [0, 1], got {strength!r}"
        )
    if not 0.0 <= ink_tone < 1.0:
        raise ValueError(
            f"Received an invalid value for argument `ink_tone`, expected a float in [0, 1), got {ink_tone!r}"
        )
    if len(intruders) != 2:
        raise ValueError(
            f"Received an invalid value for argument `intruders`, expected a pair (above, below), got {len(intruders)} items"
        )
    s = float(strength)
    ink = np.clip(ink, 0.0, 1.0)
    h, w = ink.shape
    # One stream per effect: switching an effect on or off leaves the others' draws unchanged.
    fx = dict(
        zip(
            _EFFECTS, (np.random.default_rng(k) for k in rng.integers(0, 2**63, size=len(_EFFECTS)))
        )
    )
    if s > 0:
        ink = _paste_intruders(fx["intruders"], ink, intruders, s)
    paper = _paper(fx["paper"], h, w, s)
    if fx["bleed"].random() < P_BLEED * s:
        paper -= _bleed_through(fx["bleed"], ink, s)
    alpha = ink
    if fx["fade"].random() < P_FADE * s:
        # Pen pressure and fading: the ink thins in places, never vanishes.
        fade = np.abs(_smooth_noise(fx["fade"], h, w, h * 0.6))
        alpha = ink * np.clip(1.0 - s * fx["fade"].uniform(0.15, 0.4) * fade, 0.55, 1.0)
    tone = min(
        float(ink_tone) + s * fx["tone"].uniform(-0.05, 0.1), float(np.median(paper)) - MIN_CONTRAST
    )
    image = paper * (1.0 - alpha) + max(tone, 0.0) * alpha
    if fx["light"].random() < P_LIGHT * s:
        image *= _lighting(fx["light"], h, w, s)
    out = Image.fromarray(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8))
    # Blur and down-sampling are bounded by the pen's width: a thin pen blurred as much as a
    # broad one fades into the paper.
    pen = stroke_width(ink) or 2.0
    if fx["blur"].random() < P_BLUR * s:
        out = out.filter(
            ImageFilter.GaussianBlur(s * fx["blur"].uniform(0.3, max(0.5, min(h / 45, 0.45 * pen))))
        )
    if fx["low_res"].random() < P_LOW_RES * s:
        # Scanned at a lower resolution, then brought back to this size.
        f = fx["low_res"].uniform(min(0.8, max(0.4, 20.0 / h, 1.5 / pen)), 0.85)
        small = out.resize((max(2, int(w * f)), max(2, int(h * f))), Image.BOX)
        out = small.resize(
            (w, h), Image.NEAREST if fx["low_res"].random() < 0.25 else Image.BILINEAR
        )
    img = np.asarray(out)
    g = fx["noise"]
    if g.random() < P_NOISE * s:
        img = np.clip(
            img + g.normal(0.0, s * g.uniform(1.0, 9.0), img.shape).astype(np.float32), 0, 255
        ).astype(np.uint8)
        if g.random() < 0.15:  # dust and pepper
            dots = g.random(img.shape) < g.uniform(0.0002, 0.002) * s
            img[dots] = g.integers(0, 140)
    if fx["binarise"].random() < P_BINARISE * s:
        img = _binarise(fx["binarise"], img)
    out = Image.fromarray(img)
    if fx["rescale"].random() < P_RESCALE * s:
        f = fx["rescale"].uniform(min(max(0.7, 24.0 / h), 1.3), 1.3)  # short crops only grow
        out = out.resize((max(2, int(round(w * f))), max(2, int(round(h * f)))), Image.BILINEAR)
    if fx["jpeg"].random() < P_JPEG * s:
        buffer = io.BytesIO()
        out.save(buffer, format="JPEG", quality=int(fx["jpeg"].integers(15, 80)))
        out = Image.open(io.BytesIO(buffer.getvalue())).convert("L")
    return np.asarray(out)
