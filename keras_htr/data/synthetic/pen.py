"""Pen-path (single-stroke) fonts: Hershey `.jhf` files and SVG fonts, read as polylines.

A pen-path glyph is the route a pen takes, not an outline: the writer deforms that route smoothly
and draws it with its own pen, so one font gives many hands. Glyphs are polylines in em units,
x to the right, y up, the origin on the baseline at the glyph's left edge, resampled densely
(every `_STEP` em) so that a smooth deformation bends straight segments too.
"""

from __future__ import annotations

import dataclasses
import functools
import html
import re

import numpy as np

_STEP = 0.05  # em between resampled points
_HERSHEY_EM = 32.0  # Hershey units per em: capitals are 21 units tall, like 0.66 em
_HERSHEY_BASELINE = 9  # Hershey y (down) of the baseline
_MAX_GLYPHS = 5000  # bounds the work a malformed file can cause


@dataclasses.dataclass(frozen=True)
class PenGlyph:
    strokes: tuple  # of float32 arrays (n, 2): x, y in em, y up
    advance: float  # em

    @property
    def top(self) -> float:
        return float(max(s[:, 1].max() for s in self.strokes)) if self.strokes else 0.0

    @property
    def bottom(self) -> float:
        return float(min(s[:, 1].min() for s in self.strokes)) if self.strokes else 0.0


@dataclasses.dataclass(frozen=True)
class PenFont:
    glyphs: dict  # character -> PenGlyph
    x_height: float  # em
    cap_height: float  # em
    space: float  # advance of a space, em


def _resample(points: np.ndarray) -> np.ndarray:
    """Points every `_STEP` em along the polyline (keeps both ends)."""
    if len(points) < 2:
        return points.astype(np.float32)
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    t = np.concatenate([[0.0], np.cumsum(seg)])
    if t[-1] <= 0:
        return points[:1].astype(np.float32)
    n = max(2, int(np.ceil(t[-1] / _STEP)) + 1)
    u = np.linspace(0, t[-1], n)
    return np.stack([np.interp(u, t, points[:, 0]), np.interp(u, t, points[:, 1])], 1).astype(
        np.float32
    )


def _font(glyphs: dict) -> PenFont:
    def top(ch, default):
        g = glyphs.get(ch)
        if g is None or not g.strokes:
            return default
        return float(max(s[:, 1].max() for s in g.strokes))

    x_height = top("x", 0.3)
    space = glyphs[" "].advance if " " in glyphs else 0.3
    return PenFont(
        {**glyphs, **_composed(glyphs, x_height)}, x_height, top("H", x_height * 1.6), space
    )


def _composed(glyphs: dict, x_height: float) -> dict:
    """Accented letters the font lacks, as its base letter plus accent strokes."""
    from keras_htr.data.synthetic import accents
    from keras_htr.data.synthetic.text import ALPHABET

    out = {}
    for ch in sorted(
        accents.composable(ALPHABET, {c for c, g in glyphs.items() if g.strokes or c == " "})
    ):
        base, marks = accents.decompose(ch)
        glyph = glyphs[base]
        strokes = list(glyph.strokes)
        if base in accents.DOTTED and any(m not in accents.BELOW for m in marks):
            strokes = [s for s in strokes if s[:, 1].min() < 1.05 * x_height] or strokes  # no dot
        pts = np.concatenate(strokes)
        centre = (pts[:, 0].min() + pts[:, 0].max()) / 2
        extra = accents.mark_polylines(marks, centre, float(pts[:, 1].max()), 0.0, x_height)
        out[ch] = PenGlyph(tuple(strokes) + tuple(_resample(p) for p in extra), glyph.advance)
    return out


def load_hershey(path: str) -> PenFont:
    """A Hershey `.jhf` font of the 96 printable ASCII characters (glyph i is chr(32 + i))."""
    with open(path, "r", encoding="ascii", errors="replace") as f:
        text = f.read()
    lines = text.splitlines()
    records, buf = [], ""
    for line in lines:  # a record may wrap over several lines: its vertex count says how long
        buf += line
        if len(buf) < 8:
            continue
        count = int(buf[5:8])
        if len(buf) - 8 >= 2 * count:
            records.append(buf[: 8 + 2 * count])
            buf = ""
        if len(records) > _MAX_GLYPHS:
            break
    glyphs = {}
    for i, rec in enumerate(records[:96]):
        ch = chr(32 + i)
        pairs = rec[8:]
        left, right = ord(pairs[0]) - ord("R"), ord(pairs[1]) - ord("R")
        strokes, current = [], []
        for k in range(2, len(pairs) - 1, 2):
            if pairs[k : k + 2] == " R":
                if len(current) > 1:
                    strokes.append(current)
                current = []
                continue
            x, y = ord(pairs[k]) - ord("R"), ord(pairs[k + 1]) - ord("R")
            current.append(((x - left) / _HERSHEY_EM, (_HERSHEY_BASELINE - y) / _HERSHEY_EM))
        if len(current) > 1:
            strokes.append(current)
        if ch != " " and not strokes:
            continue
        glyphs[ch] = PenGlyph(
            tuple(_resample(np.array(s, np.float64)) for s in strokes), (right - left) / _HERSHEY_EM
        )
    return _font(glyphs)


_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_TOKEN = re.compile(rf"[A-Za-z]|{_NUM}")  # every letter, so an unsupported command is an error


def _path_polylines(d: str) -> list:
    """Polylines of an SVG path `d` (M, L, H, V, C, Q, Z; absolute and relative)."""
    tokens = _TOKEN.findall(d)
    polys, current = [], []
    pos = np.zeros(2)
    start = np.zeros(2)
    cmd, i = None, 0

    def nums(k):
        nonlocal i
        vals = [float(t) for t in tokens[i : i + k]]
        if len(vals) < k:
            raise ValueError(f"truncated path data near token {i}")
        i += k
        return vals

    while i < len(tokens):
        if tokens[i].isalpha():
            cmd = tokens[i]
            i += 1
            if cmd in "Zz":
                if current:
                    current.append(start.copy())
                    polys.append(current)
                    current = []
                pos = start.copy()
                continue
        if cmd is None:
            raise ValueError("path data does not start with a command")
        rel = cmd.islower()
        base = pos if rel else np.zeros(2)
        c = cmd.upper()
        if c == "M":
            if len(current) > 1:
                polys.append(current)
            pos = base + nums(2)
            start = pos.copy()
            current = [pos.copy()]
            cmd = "l" if rel else "L"  # further pairs after M are line-tos
        elif c == "L":
            pos = base + nums(2)
            current.append(pos.copy())
        elif c == "H":
            x = nums(1)[0]
            pos = np.array([pos[0] * rel + x, pos[1]])
            current.append(pos.copy())
        elif c == "V":
            y = nums(1)[0]
            pos = np.array([pos[0], pos[1] * rel + y])
            current.append(pos.copy())
        elif c in "CQ":
            k = 3 if c == "C" else 2
            pts = [pos.copy()] + [base + nums(2) for _ in range(k)]
            t = np.linspace(0, 1, 9)[1:, None]
            if c == "C":
                p0, p1, p2, p3 = pts
                curve = (
                    (1 - t) ** 3 * p0
                    + 3 * (1 - t) ** 2 * t * p1
                    + 3 * (1 - t) * t**2 * p2
                    + t**3 * p3
                )
            else:
                p0, p1, p2 = pts
                curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
            current.extend(curve)
            pos = pts[-1]
        else:
            raise ValueError(f"unsupported path command {cmd!r}")
    if len(current) > 1:
        polys.append(current)
    return [np.array(p, np.float64) for p in polys]


def load_svg_font(path: str) -> PenFont:
    """An SVG font (`<font>`, `<glyph unicode=... d=...>`), e.g. Inkscape's EMS single-line fonts."""
    with open(path, "r", encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<font\b[^>]*>", text)
    if m is None:
        raise ValueError("no <font> element")
    default_adv = float(re.search(r'horiz-adv-x="([^"]+)"', m.group(0)).group(1))
    face = re.search(r"<font-face\b[^>]*>", text)
    em = float(re.search(r'units-per-em="([^"]+)"', face.group(0)).group(1)) if face else 1000.0
    glyphs = {}
    for g in re.findall(r"<glyph\b[^>]*>", text)[:_MAX_GLYPHS]:
        attrs = dict(re.findall(r'([\w:-]+)="([^"]*)"', g))
        ch = html.unescape(attrs.get("unicode", ""))
        if len(ch) != 1:
            continue
        adv = float(attrs.get("horiz-adv-x", default_adv)) / em
        polys = _path_polylines(attrs.get("d", "")) if attrs.get("d") else []
        strokes = tuple(_resample(p / em) for p in polys if len(p) > 1)
        if ch != " " and not strokes:
            continue
        glyphs[ch] = PenGlyph(strokes, adv)
    return _font(glyphs)


@functools.lru_cache(maxsize=16)
def load_pen_font(path: str) -> PenFont:
    """The pen font at `path`: `.jhf` (Hershey) or `.svg` (SVG font)."""
    if path.endswith(".jhf"):
        return load_hershey(path)
    if path.endswith(".svg"):
        return load_svg_font(path)
    raise ValueError(
        f"Received an invalid value for argument `path`, expected a .jhf or .svg font, got {path!r}"
    )
