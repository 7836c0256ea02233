"""Cut a text line out of a page image from its polygon (PAGE `Coords`, ALTO boxes/shapes).

Pixels outside the polygon are whitened (neighbouring lines' ascenders and descenders stay out),
and a line written at an angle is rotated to horizontal, using its baseline if known, else the
main axis of its polygon.
"""

from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from keras_htr.data.preprocess import load_image

Point = tuple  # (x, y) in page pixels

#: Lines leaning less than this are cut without rotating (rotation blurs a little).
MIN_ROTATION_DEGREES = 1.5


def parse_points(points: str) -> list:
    """'x1,y1 x2,y2 ...' -> [(x1, y1), ...]; raises ValueError on malformed text."""
    out = []
    for pair in points.split():
        x, y = pair.split(",")
        out.append((float(x), float(y)))
    if len(out) < 2:
        raise ValueError(f"polygon needs at least 2 points, got {points!r}")
    return out


def line_angle(polygon: Sequence[Point], baseline: Optional[Sequence[Point]] = None) -> float:
    """Angle in degrees of the writing direction (positive = rising to the right, image y down)."""
    if baseline is not None and len(baseline) >= 2:
        (x0, y0), (x1, y1) = baseline[0], baseline[-1]
        if abs(x1 - x0) > 1e-6 or abs(y1 - y0) > 1e-6:
            return math.degrees(math.atan2(-(y1 - y0), x1 - x0))
    pts = np.asarray(polygon, np.float64)
    pts = pts - pts.mean(axis=0)
    if len(pts) < 3 or not np.any(pts):
        return 0.0
    _, _, vt = np.linalg.svd(pts, full_matrices=False)
    dx, dy = vt[0]
    if dx < 0:
        dx, dy = -dx, -dy
    angle = math.degrees(math.atan2(-dy, dx))
    # The main axis of a short, tall polygon is vertical; lines are wider than tall.
    return angle if abs(angle) <= 60 else 0.0


def check_inside(polygon: Sequence[Point], size: tuple) -> None:
    """Raise ValueError if `polygon` lies wholly outside a page of `size` (width, height)."""
    width, height = size
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    if max(xs) < 0 or max(ys) < 0 or min(xs) >= width or min(ys) >= height:
        raise ValueError(
            f"line outside its page: box ({min(xs):g},{min(ys):g})-({max(xs):g},{max(ys):g}) "
            f"vs page {width}x{height}"
        )


def crop_line(
    page: np.ndarray, polygon: Sequence[Point], baseline: Optional[Sequence[Point]] = None
) -> np.ndarray:
    """The line inside `polygon` as uint8 gray, background white, rotated to horizontal.

    Raises:
        ValueError: the polygon lies outside the page or has no area.
    """
    h, w = page.shape
    pts = np.asarray(polygon, np.float64)
    x0, y0 = np.floor(pts.min(axis=0)).astype(int)
    x1, y1 = np.ceil(pts.max(axis=0)).astype(int) + 1
    cx0, cy0, cx1, cy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if cx1 <= cx0 or cy1 <= cy0:
        raise ValueError(f"line outside its page: box ({x0},{y0})-({x1},{y1}) vs page {w}x{h}")
    if cx1 - cx0 < 2 or cy1 - cy0 < 2:
        raise ValueError(f"line polygon has no area: box ({x0},{y0})-({x1},{y1})")
    crop = page[cy0:cy1, cx0:cx1]
    mask = Image.new("L", (cx1 - cx0, cy1 - cy0), 0)
    ImageDraw.Draw(mask).polygon([(x - cx0, y - cy0) for x, y in polygon], fill=255, outline=255)
    inside = np.asarray(mask) > 0
    line = np.where(inside, crop, 255).astype(np.uint8)
    angle = line_angle(polygon, baseline)
    if abs(angle) >= MIN_ROTATION_DEGREES:
        # Rotate counter to the writing direction, then keep the box of the rotated polygon.
        rotated = Image.fromarray(line).rotate(-angle, resample=Image.BILINEAR, expand=True, fillcolor=255)
        rmask = np.asarray(Image.fromarray(inside.astype(np.uint8) * 255).rotate(-angle, expand=True)) > 127
        rows, cols = np.nonzero(rmask)
        line = np.asarray(rotated)
        if rows.size:
            line = line[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]
    return np.ascontiguousarray(line)


@functools.lru_cache(maxsize=2)
def _cached_page(path: str) -> np.ndarray:
    # Lazy datasets read lines in page order, so two cached pages avoid re-decoding per line.
    return load_image(path)


def lazy_line(path: str, polygon, baseline=None):
    """A loader for `Sample`: decodes the page (cached) and crops the line when called."""

    def load() -> np.ndarray:
        return crop_line(_cached_page(path), polygon, baseline)

    return load
