"""Writers: a handwriting design plus a random style, writing a line glyph by glyph.

A font alone is one hand; a reader trained on 30 fonts learns 30 hands. A *writer* is a design
(`designs.Design`) plus a style drawn at random — slant, x-height and the proportions of ascenders
and descenders, letter and word spacing, baseline drift, stroke width, pressure along the stroke,
ink tone — and every glyph it writes gets its own jitter (scale, rotation, offset), as no one writes
the same letter twice alike. Pen-path designs are also deformed smoothly (one low-frequency field
per writer, a weaker one per glyph), which gives each writer a new hand from the same font; outline
designs are displaced smoothly too, and some writers redraw an outline font's skeleton with their
own pen (a monoline hand). Accented letters a font lacks are composed (`accents.py`).

The result is an ink mask (float32, 1 = full ink) that `scan.scan` puts on paper.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from keras_htr.data.synthetic import accents, pen
from keras_htr.data.synthetic.designs import Design, native_outline_chars

# Outline glyphs are rasterised once at a size where the font's x-height is `_REF_X_HEIGHT` pixels
# (at least twice the largest written x-height), then scaled down: anti-aliased, never blown up.
_REF_X_HEIGHT = 44
_SUPERSAMPLE = 2  # pen strokes are drawn at twice the size, then reduced (anti-aliasing)
_MAX_CHARS = 400  # bounds the work one line can cause
# Pen-path designs that draw thick parts as parallel strokes: a thinner pen leaves them hollow.
_MIN_PEN = {"hershey-script-complex": 0.2}
# Outline fonts whose thinner strokes exceed this share of the x-height are never skeletonised.
_MAX_MONOLINE_STROKE = 0.19


@dataclasses.dataclass(frozen=True)
class WriterStyle:
    """How one writer writes. Lengths in x-heights unless said otherwise."""

    x_height_px: float  # size of the writing
    slant: float  # shear: x += slant * height above baseline (positive leans right)
    width: float  # horizontal scale of the glyphs
    ascender: float  # scale of what rises above the x-height (ascenders, capitals)
    descender: float  # scale of what falls below the baseline
    letter_spacing: float  # extra gap between glyphs
    word_spacing: float  # scale of the font's space
    drift_amp: float  # baseline wave amplitude
    drift_period: float  # baseline wave period
    drift_phase: float
    slope: float  # baseline slope (rise per unit run)
    weight: int  # outline fonts: -1 thinner, 0 as designed, 1 bolder
    monoline: bool  # outline fonts: skeletonised and redrawn with the pen (`pen_width`)
    warp: float  # outline fonts: amplitude of a smooth displacement of the line, in x-heights
    pen_width: float  # pen diameter (pen-path fonts and monoline writers)
    pressure: float  # 0..0.6: how much the pressure (width, darkness) varies along the stroke
    ink_tone: float  # 0 black .. 0.45 light (blue or grey pens, pencils)
    jitter_scale: float  # sd of each glyph's relative scale
    jitter_rotation: float  # sd of each glyph's rotation, radians
    jitter_offset: float  # sd of each glyph's offset
    deform: tuple  # pen-path writer deformation: (amp (em), fx, fy, phase) x 3 for x and y


@dataclasses.dataclass(frozen=True)
class RenderedLine:
    """An ink mask, the row of its baseline (at its left end) and its x-height in pixels."""

    ink: np.ndarray  # float32 (H, W) in [0, 1]
    baseline: int
    x_height: int  # pixels


def sample_style(rng: np.random.Generator, design: Design) -> WriterStyle:
    """A random writer style for `design` (connected scripts get little letter spacing, which
    would break their joins)."""
    u = rng.uniform
    if design.connected:
        letter = u(-0.06, 0.04)
    else:
        letter = u(-0.08, 0.35)
    deform = tuple(
        (
            u(0.0, 0.025),
            u(0.4, 1.5) * rng.choice([-1, 1]),
            u(0.4, 1.5) * rng.choice([-1, 1]),
            u(0, 2 * np.pi),
        )
        for _ in range(6)
    )
    return WriterStyle(
        x_height_px=u(11, 22),
        slant=float(np.clip(rng.normal(0.12, 0.16), -0.25, 0.5)),
        width=u(0.8, 1.22),
        ascender=round(u(0.8, 1.25) * 20) / 20,  # quantised: warped glyphs are cached
        descender=round(u(0.8, 1.3) * 20) / 20,
        letter_spacing=letter,
        word_spacing=u(0.65, 1.7),
        drift_amp=u(0.0, 0.25) if rng.random() < 0.8 else 0.0,
        drift_period=u(6, 30),
        drift_phase=u(0, 2 * np.pi),
        slope=float(rng.normal(0, 0.012)),
        weight=int(rng.choice([-1, 0, 1], p=[0.25, 0.5, 0.25])),
        monoline=bool(rng.random() < 0.3),
        warp=float(u(0.0, 0.08) if rng.random() < 0.6 else 0.0),
        pen_width=u(0.09, 0.22),
        pressure=u(0.0, 0.6),
        ink_tone=float(u(0.0, 0.2) if rng.random() < 0.7 else u(0.2, 0.45)),
        jitter_scale=u(0.01, 0.07),
        jitter_rotation=u(0.0, 0.07),
        jitter_offset=u(0.0, 0.07),
        deform=deform,
    )


# ---------------------------------------------------------------------------------------------
# Outline designs


@functools.lru_cache(maxsize=64)
def _outline_font(path: str) -> ImageFont.FreeTypeFont:
    box = ImageFont.truetype(path, 100).getbbox("x", anchor="ls")
    x_height = -box[1] if box[3] > box[1] else 45  # per 100 px of em
    size = int(np.clip(round(100 * _REF_X_HEIGHT / max(x_height, 1)), 40, 400))
    return ImageFont.truetype(path, size)


@functools.lru_cache(maxsize=64)
def _outline_metrics(path: str) -> tuple:
    """(x-height, advance of a space) of the font in pixels at its reference size."""
    font = _outline_font(path)
    box = font.getbbox("x", anchor="ls")
    x_height = -box[1] if box[3] > box[1] else _REF_X_HEIGHT
    return float(max(x_height, 8)), float(font.getlength(" ") or x_height * 0.7)


@functools.lru_cache(maxsize=64)
def _stroke_px(path: str) -> float:
    """Thickness of the font's thinner strokes at its reference size: the first quartile of the ink runs
    across a few lowercase letters, rows and columns."""
    runs = []
    for ch in "nmoeuachs":
        ink = _outline_glyph(path, ch, 0)[0] > 128
        for a in (ink, ink.T):
            d = np.diff(np.pad(a.astype(np.int8), ((0, 0), (1, 1))), axis=1)
            runs.append(np.nonzero(d.ravel() == -1)[0] - np.nonzero(d.ravel() == 1)[0])
    runs = np.concatenate(runs)
    return float(np.percentile(runs, 25)) if runs.size else 4.0


def _weight(path: str, wanted: int, k: float) -> int:
    """The writer's wanted weight, corrected so that thin strokes never vanish: no thinning
    below 1.5 output pixels, emboldening when the strokes would be under 1.3."""
    t = _stroke_px(path)
    if wanted < 0 and (t - 2) * k < 1.5:
        wanted = 0
    if wanted <= 0 and t * k < 1.3:
        wanted = 1
    return wanted


@functools.lru_cache(maxsize=32768)  # (a glyph is a few kB: at most ~100 MB)
def _outline_glyph(path: str, ch: str, weight: int, pen_px: int = 0) -> tuple:
    """(mask uint8, left, top, advance): the glyph at the reference size, its box relative to the origin
    on the baseline (y down), thinned or emboldened by `weight` pixels. An accented letter the
    font lacks is its base letter with the accent drawn over it. With `pen_px` (odd), the glyph
    is skeletonised and redrawn with a round pen that wide: a monoline hand from the same font."""
    if pen_px:
        skeleton, left, top, advance = _skeleton_glyph(path, ch)
        drawn = Image.fromarray(skeleton)
        for _ in range(pen_px // 2):  # n 3x3 maxima = one (2n+1) maximum, at a fraction of the cost
            drawn = drawn.filter(ImageFilter.MaxFilter(3))
        drawn = drawn.filter(ImageFilter.BoxBlur(1))
        return np.asarray(drawn), left, top, advance
    if weight != 0:
        mask, left, top, advance = _outline_glyph(path, ch, 0)
        image = Image.fromarray(mask)
        image = image.filter(ImageFilter.MaxFilter(3) if weight > 0 else ImageFilter.MinFilter(3))
        return np.asarray(image), left, top, advance
    if ch not in native_outline_chars(path):
        return _composed_glyph(path, ch)
    font = _outline_font(path)
    x0, y0, x1, y1 = font.getbbox(ch, anchor="ls")
    pad = 3
    image = Image.new("L", (x1 - x0 + 2 * pad, y1 - y0 + 2 * pad), 0)
    ImageDraw.Draw(image).text((pad - x0, pad - y0), ch, font=font, fill=255, anchor="ls")
    return np.asarray(image), x0 - pad, y0 - pad, float(font.getlength(ch))


def _composed_glyph(path: str, ch: str) -> tuple:
    decomposed = accents.decompose(ch)
    if decomposed is None:
        raise ValueError(
            f"Received an invalid value for argument `ch`, expected a character the font draws, got {ch!r}"
        )
    base, marks = decomposed
    mask, left, top, advance = _outline_glyph(path, base, 0)
    xh = _outline_metrics(path)[0]
    mask = mask.copy()
    if base in accents.DOTTED and any(m not in accents.BELOW for m in marks):
        mask[: max(0, int(-1.05 * xh - top))] = 0  # the dot goes; the accent takes its place
    rows = np.nonzero(mask.max(1) > 64)[0]
    cols = np.nonzero(mask.max(0) > 64)[0]
    ink_top = -(top + rows[0])  # y up
    centre = left + (cols[0] + cols[-1]) / 2
    strokes = accents.mark_polylines(marks, centre, ink_top, 0.0, xh)
    pts = np.concatenate(strokes)
    width = max(2, round(_stroke_px(path)))
    new_top = min(top, math.floor(-pts[:, 1].max()) - width)
    new_bottom = max(top + mask.shape[0], math.ceil(-pts[:, 1].min()) + width)
    new_left = min(left, math.floor(pts[:, 0].min()) - width)
    new_right = max(left + mask.shape[1], math.ceil(pts[:, 0].max()) + width)
    image = Image.new("L", (new_right - new_left, new_bottom - new_top), 0)
    image.paste(Image.fromarray(mask), (left - new_left, top - new_top))
    draw = ImageDraw.Draw(image)
    for p in strokes:
        draw.line(
            [(x - new_left, -y - new_top) for x, y in p], fill=255, width=width, joint="curve"
        )
        for x, y in (p[0], p[-1]):
            r = width / 2
            draw.ellipse(
                (x - new_left - r, -y - new_top - r, x - new_left + r, -y - new_top + r), fill=255
            )
    return np.asarray(image), new_left, new_top, advance


@functools.lru_cache(maxsize=8192)
def _skeleton_glyph(path: str, ch: str) -> tuple:
    """`_outline_glyph` thinned to its one-pixel skeleton (uint8 0/255)."""
    mask, left, top, advance = _outline_glyph(path, ch, 0)
    return np.where(_thin(mask > 110), 255, 0).astype(np.uint8), left, top, advance


def _thin(ink: np.ndarray) -> np.ndarray:
    """Zhang-Suen thinning of a boolean image: its one-pixel-wide skeleton."""
    img = np.pad(ink, 1).astype(np.uint8)
    for _ in range(200):  # bounded: a glyph's strokes are far thinner than 400 pixels
        changed = False
        for step in (0, 1):
            p = img
            n = [
                p[:-2, 1:-1],
                p[:-2, 2:],
                p[1:-1, 2:],
                p[2:, 2:],
                p[2:, 1:-1],
                p[2:, :-2],
                p[1:-1, :-2],
                p[:-2, :-2],
            ]
            b = sum(x.astype(np.int8) for x in n)
            a = sum(((n[i] == 0) & (n[(i + 1) % 8] == 1)).astype(np.int8) for i in range(8))
            p2, p4, p6, p8 = n[0], n[2], n[4], n[6]
            if step == 0:
                c = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                c = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (p[1:-1, 1:-1] == 1) & (b >= 2) & (b <= 6) & (a == 1) & c
            if remove.any():
                img[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            break
    return img[1:-1, 1:-1].astype(bool)


@functools.lru_cache(maxsize=8192)
def _warped_glyph(
    path: str, ch: str, weight: int, asc: float, desc: float, pen_px: int = 0
) -> tuple:
    """`_outline_glyph` stretched vertically piecewise: above the x-height line by `asc`, below
    the baseline by `desc`, the x-height band unchanged (nearest rows: it is scaled down later)."""
    mask, left, top, advance = _outline_glyph(path, ch, weight, pen_px)
    if asc == 1.0 and desc == 1.0:
        return mask, left, top, advance
    xh = _outline_metrics(path)[0]
    h = mask.shape[0]

    def forward(y):
        return -xh + (y + xh) * asc if y < -xh else (y * desc if y > 0 else y)

    new_top, new_bottom = forward(top), forward(top + h - 1)
    out_y = np.arange(math.floor(new_top), math.ceil(new_bottom) + 1, dtype=np.float32)
    src = (
        np.where(out_y < -xh, -xh + (out_y + xh) / asc, np.where(out_y > 0, out_y / desc, out_y))
        - top
    )
    rows = np.clip(np.rint(src).astype(np.intp), 0, h - 1)
    return np.ascontiguousarray(mask[rows]), left, float(out_y[0]), advance


def _affine_glyph(mask: np.ndarray, left: float, top: float, a: tuple) -> tuple:
    """Map a glyph (box at (left, top) from its origin) through the 2x2 matrix `a` (a00, a01,
    a10, a11). Returns (float32 mask, left, top) of the result, relative to the same origin."""
    h, w = mask.shape
    a00, a01, a10, a11 = a
    xs = [
        a00 * x + a01 * y
        for x, y in ((left, top), (left + w, top), (left, top + h), (left + w, top + h))
    ]
    ys = [
        a10 * x + a11 * y
        for x, y in ((left, top), (left + w, top), (left, top + h), (left + w, top + h))
    ]
    ox, oy = math.floor(min(xs)), math.floor(min(ys))
    size = (max(1, math.ceil(max(xs)) - ox), max(1, math.ceil(max(ys)) - oy))
    det = a00 * a11 - a01 * a10
    i00, i01, i10, i11 = a11 / det, -a01 / det, -a10 / det, a00 / det
    # output pixel (u, v) is the point (u + ox, v + oy); its source pixel is inv @ point - (left, top)
    c = i00 * ox + i01 * oy - left
    f = i10 * ox + i11 * oy - top
    out = Image.fromarray(mask).transform(
        size, Image.AFFINE, (i00, i01, c, i10, i11, f), resample=Image.BILINEAR
    )
    return np.asarray(out, dtype=np.float32) * (1.0 / 255.0), ox, oy


# ---------------------------------------------------------------------------------------------
# The writer


class Writer:
    """A design and a style; `write(text, rng)` renders a line glyph by glyph.

    Args:
        design: the handwriting design.
        style: the writer's style (see `sample_style`).
    """

    def __init__(self, design: Design, style: WriterStyle):
        self.design = design
        self.style = style

    @classmethod
    def sample(cls, rng: np.random.Generator, design: Design) -> Writer:
        return cls(design, sample_style(rng, design))

    @property
    def name(self) -> str:
        return self.design.name

    def write(self, text: str, rng: np.random.Generator, zone: str | None = None) -> RenderedLine:
        """The ink of `text`; every character must be in `design.covered`.

        Args:
            zone: None draws every glyph; "descenders" (or "ascenders") draws only the glyphs
                reaching below the baseline (above the x-height band), the rest leaving their
                gap: all that shows of a neighbouring line cut into a crop, at a third of the cost.
        """
        if zone not in (None, "descenders", "ascenders"):
            raise ValueError(
                f"Received an invalid value for argument `zone`, expected None, 'descenders' or 'ascenders', got {zone!r}"
            )
        missing = sorted(set(text) - self.design.covered)
        if missing:
            raise ValueError(
                f"Received an invalid value for argument `text`, expected characters that design "
                f"{self.design.name!r} covers, got {''.join(missing)!r}"
            )
        if not text.strip():
            raise ValueError(
                f"Received an invalid value for argument `text`, expected some ink, got {text!r}"
            )
        if len(text) > _MAX_CHARS:  # an error, not a cut: the label must say what is drawn
            raise ValueError(
                f"Received an invalid value for argument `text`, expected at most {_MAX_CHARS} "
                f"characters, got {len(text)}"
            )
        if self.design.kind == "pen":
            return self._write_pen(text, rng, zone)
        return self._write_outline(text, rng, zone)

    # Layout shared by both kinds: where each glyph's origin goes.
    def _baseline(self, x: float) -> float:
        s = self.style
        xh = s.x_height_px
        return (
            s.drift_amp * xh * math.sin(2 * math.pi * x / (s.drift_period * xh) + s.drift_phase)
            + s.slope * x
        )

    def _word_gap(self, space_px: float, rng) -> float:
        """A space: the font's, scaled by the writer, never under half an x-height (some
        script fonts have hair-thin spaces), and wider than the writer's letter gaps."""
        s = self.style
        gap = max(space_px * s.width, 0.5 * s.x_height_px) * s.word_spacing
        return (gap + 1.5 * max(s.letter_spacing, 0.0) * s.x_height_px) * rng.uniform(0.8, 1.25)

    def _jitter(self, rng) -> tuple:
        s = self.style
        return (
            float(np.exp(rng.normal(0, s.jitter_scale))),
            float(rng.normal(0, s.jitter_rotation)),
            float(rng.normal(0, s.jitter_offset)),
            float(rng.normal(0, s.jitter_offset)),
        )

    def _write_outline(self, text: str, rng, zone: str | None) -> RenderedLine:
        s = self.style
        path = self.design.path
        xh_ref, space_ref = _outline_metrics(path)
        k = s.x_height_px / xh_ref  # output pixels per reference pixel
        weight = _weight(path, s.weight, k)
        pen_px = 0
        # Heavy display scripts skeletonise into spurs and broken letters: those stay filled.
        if s.monoline and _stroke_px(path) < _MAX_MONOLINE_STROKE * xh_ref:
            # the pen's width at the reference size, odd, from a few sizes (cached glyphs)
            pen_px = int(
                np.clip(2 * round(max(s.pen_width * s.x_height_px, 1.3) / k / 2) + 1, 3, 11)
            )
        pieces = []
        x = 0.0
        for ch in text:
            if ch == " ":
                x += self._word_gap(space_ref * k, rng)
                continue
            mask, left, top, advance = _warped_glyph(
                path, ch, weight, s.ascender, s.descender, pen_px
            )
            if zone is not None and not _reaches(zone, top + 3, top + mask.shape[0] - 3, xh_ref):
                x += advance * k * s.width + s.letter_spacing * s.x_height_px
                continue
            js, jr, jx, jy = self._jitter(rng)
            sc = k * js
            cos, sin = math.cos(jr), math.sin(jr)
            # rotation @ shear (x -= slant * y, y down) @ scale
            a = (
                cos * sc * s.width,
                (-cos * s.slant - sin) * sc,
                sin * sc * s.width,
                (-sin * s.slant + cos) * sc,
            )
            glyph, gx, gy = _affine_glyph(mask, left, top, a)
            ox = x + gx + jx * s.x_height_px
            oy = self._baseline(x) + gy + jy * s.x_height_px
            pieces.append((glyph, ox, oy))
            x += advance * k * s.width * js + s.letter_spacing * s.x_height_px
        if not pieces:
            return _EMPTY
        ink, _, y0 = _compose(pieces)
        if s.warp > 0 and zone is None:  # (a neighbour's few intruding strokes need no warp)
            ink = _smooth_warp(ink, rng, s.warp * s.x_height_px, s.x_height_px)
        if s.pressure > 0:  # light and heavy passages: a smooth field over the line
            ink *= _pressure_field(rng, ink.shape, s.pressure, s.x_height_px)
        return RenderedLine(ink, round(-y0), round(s.x_height_px))

    def _write_pen(self, text: str, rng, zone: str | None) -> RenderedLine:
        s = self.style
        font = pen.load_pen_font(self.design.path)
        em = s.x_height_px / font.x_height  # pixels per em
        xh = font.x_height
        strokes = []
        x = 0.0
        for ch in text:
            if ch == " ":
                x += self._word_gap(font.space * em, rng)
                continue
            glyph = font.glyphs[ch]
            if zone is not None and not _reaches(zone, -glyph.top, -glyph.bottom, xh):
                x += glyph.advance * em * s.width + s.letter_spacing * s.x_height_px
                continue
            js, jr, jx, jy = self._jitter(rng)
            # this instance's own small deformation on top of the writer's
            own = rng.uniform(0, 2 * np.pi, 4)
            own_amp = rng.uniform(0, 0.012, 2)
            cx, cy = glyph.advance / 2, xh / 2
            cos, sin = math.cos(jr), math.sin(jr)
            base = self._baseline(x)
            for stroke in glyph.strokes:
                p = stroke.astype(np.float64)
                gx, gy = p[:, 0], p[:, 1]
                dx = sum(
                    amp * np.sin(2 * np.pi * (fx * gx + fy * gy) + ph)
                    for amp, fx, fy, ph in s.deform[:3]
                )
                dy = sum(
                    amp * np.sin(2 * np.pi * (fx * gx + fy * gy) + ph)
                    for amp, fx, fy, ph in s.deform[3:]
                )
                dx = dx + own_amp[0] * np.sin(2 * np.pi * gy * 1.5 + own[0]) * np.sin(
                    2 * np.pi * gx + own[1]
                )
                dy = dy + own_amp[1] * np.sin(2 * np.pi * gx * 1.5 + own[2]) * np.sin(
                    2 * np.pi * gy + own[3]
                )
                px, py = gx + dx, gy + dy
                py = np.where(
                    py > xh, xh + (py - xh) * s.ascender, np.where(py < 0, py * s.descender, py)
                )
                px, py = px - cx, py - cy  # jitter about the glyph's centre
                px, py = (cos * px - sin * py) * js + cx, (sin * px + cos * py) * js + cy
                px = px + s.slant * py
                xs = x + (px * s.width + jx * font.x_height) * em
                ys = base - (py + jy * font.x_height) * em
                strokes.append(np.stack([xs, ys], 1))
            x += glyph.advance * em * s.width * js + s.letter_spacing * s.x_height_px
        return self._draw_strokes(strokes, rng) if strokes else _EMPTY

    def _draw_strokes(self, strokes: list, rng) -> RenderedLine:
        s = self.style
        width_px = max(1.1, max(s.pen_width, _MIN_PEN.get(self.design.name, 0.0)) * s.x_height_px)
        margin = width_px + 2
        allp = np.concatenate(strokes)
        x0, y0 = allp.min(0) - margin
        x1, y1 = allp.max(0) + margin
        ss = _SUPERSAMPLE
        size = (math.ceil((x1 - x0) * ss), math.ceil((y1 - y0) * ss))
        image = Image.new("L", size, 0)
        draw = ImageDraw.Draw(image)
        chunk = 6
        for st in strokes:
            q = (st - (x0, y0)) * ss
            n = len(q)
            # pressure: a slow wave along the stroke, lighter where the pen lands and lifts
            t = np.arange(n, dtype=np.float64)
            wave = 1.0 + s.pressure * 0.5 * np.sin(
                2 * np.pi * t / rng.uniform(12, 40) + rng.uniform(0, 2 * np.pi)
            )
            ends = np.minimum(1.0, 0.6 + 0.4 * np.minimum(t, n - 1 - t) / 2.0)
            pressure = wave * ends
            for i in range(0, max(n - 1, 1), chunk):
                seg = q[i : i + chunk + 1]
                pr = float(pressure[min(i + chunk // 2, n - 1)])
                w = max(1, round(width_px * ss * (0.75 + 0.25 * pr)))
                fill = int(np.clip(255 * (1 - s.pressure * 0.5 + s.pressure * 0.5 * pr), 90, 255))
                pts = seg.tolist()
                if len(pts) == 1:
                    pts = pts * 2
                draw.line([tuple(p) for p in pts], fill=fill, width=w, joint="curve")
                if w > 2:  # round caps so chunks of different widths join smoothly
                    r = w / 2
                    for px, py in (pts[:1] if i == 0 else []) + pts[-1:]:
                        draw.ellipse((px - r, py - r, px + r, py + r), fill=fill)
        image = image.reduce(ss)
        ink = np.asarray(image, dtype=np.float32) / 255.0
        return RenderedLine(ink, round(-y0), round(s.x_height_px))


_EMPTY = RenderedLine(np.zeros((2, 2), np.float32), 1, 1)


def _reaches(zone: str, top: float, bottom: float, x_height: float) -> bool:
    """Whether a glyph spanning top..bottom (y down from the baseline) reaches `zone`."""
    if zone == "descenders":
        return bottom > 0.15 * x_height
    return top < -1.2 * x_height


def _compose(pieces: list) -> tuple:
    """Paste glyph masks (mask, x, y) onto one canvas, ink over ink keeping the darker."""
    x0 = math.floor(min(p[1] for p in pieces))
    y0 = math.floor(min(p[2] for p in pieces))
    x1 = math.ceil(max(p[1] + p[0].shape[1] for p in pieces))
    y1 = math.ceil(max(p[2] + p[0].shape[0] for p in pieces))
    canvas = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.float32)
    for mask, x, y in pieces:
        r, c = round(y - y0), round(x - x0)
        h, w = mask.shape
        region = canvas[r : r + h, c : c + w]
        np.maximum(region, mask[: region.shape[0], : region.shape[1]], out=region)
    return canvas, x0, y0


def _smooth_warp(ink: np.ndarray, rng, amplitude: float, x_height: float) -> np.ndarray:
    """`ink` displaced by a smooth random field (wavelengths of 1.5-4 x-heights): the same font,
    a different hand."""
    h, w = ink.shape
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    shifts = []
    for _ in range(2):  # sin(a x + b y + c), separable: an outer sum of two 1-D terms
        a, b = rng.uniform(1 / 4, 1 / 1.5, 2) / x_height * rng.choice([-1, 1], 2) * 2 * np.pi
        c = rng.uniform(0, 2 * np.pi)
        sa, ca = np.sin(a * xs), np.cos(a * xs)
        sb, cb = np.sin(b * ys + c), np.cos(b * ys + c)
        shifts.append(amplitude * (cb[:, None] * sa[None, :] + sb[:, None] * ca[None, :]))
    sx = np.clip(xs[None, :] + shifts[0], 0, w - 1.001)
    sy = np.clip(ys[:, None] + shifts[1], 0, h - 1.001)
    x0, y0 = sx.astype(np.intp), sy.astype(np.intp)
    fx, fy = sx - x0, sy - y0
    flat = ink.ravel()
    i = y0 * w + x0
    top = flat[i] * (1 - fx) + flat[i + 1] * fx
    bottom = flat[i + w] * (1 - fx) + flat[i + w + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _pressure_field(rng, shape: tuple, amount: float, x_height: float) -> np.ndarray:
    """A smooth field in [1 - amount, 1], varying over a few x-heights."""
    h, w = shape
    gw = max(2, int(w / (x_height * rng.uniform(1.5, 5))))
    grid = rng.uniform(1 - amount, 1, (2, gw)).astype(np.float32)
    return np.asarray(Image.fromarray(grid).resize((w, h), Image.BILINEAR))


def crop_to_ink(line: RenderedLine, rng: np.random.Generator | None = None) -> RenderedLine:
    """The line cut out as a line segmenter would: its ink, at least the ascender and descender
    zones around the baseline (so a line of x-height letters is not cut to a sliver), and
    small random margins."""
    rows = np.nonzero(line.ink.max(1) > 0.08)[0]
    cols = np.nonzero(line.ink.max(0) > 0.08)[0]
    if rows.size == 0:
        return line
    xh = max(line.x_height, 1)
    u = rng.uniform if rng is not None else (lambda lo, hi: (lo + hi) / 2)
    r0 = min(rows[0], line.baseline - int(xh * u(1.8, 2.3))) - int(xh * u(0.05, 0.3))
    r1 = max(rows[-1] + 1, line.baseline + int(xh * u(0.7, 1.1))) + int(xh * u(0.05, 0.3))
    c0 = cols[0] - int(xh * u(0.1, 0.8)) - 1
    c1 = cols[-1] + 1 + int(xh * u(0.1, 0.8)) + 1
    h, w = line.ink.shape
    pads = ((max(0, -r0), max(0, r1 - h)), (max(0, -c0), max(0, c1 - w)))
    ink = np.pad(line.ink, pads)[
        r0 + pads[0][0] : r1 + pads[0][0], c0 + pads[1][0] : c1 + pads[1][0]
    ]
    return RenderedLine(np.ascontiguousarray(ink), line.baseline - r0, line.x_height)
