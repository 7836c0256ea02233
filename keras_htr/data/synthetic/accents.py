"""Accented letters for designs that lack them: the base letter plus accents drawn as pen strokes.

A third of the designs (the Hershey scripts, several Debian fonts) draw ASCII only, so without
this their writers would never write `é`, `ñ` or `ç`, which the Spanish, French and Portuguese
archives are full of. A hand adds the accent as a stroke or two over the letter; so do we, with the
writer's pen, over the letter's ink (the dot of `i`/`j` is left out under an accent).
"""

from __future__ import annotations

import unicodedata

import numpy as np

# Combining mark -> strokes, in x-heights: x from the letter's centre, y up from the top of its ink
# (below its baseline for the cedilla, marked by "below").
_ACUTE = [[(-0.12, 0.18), (0.16, 0.55)]]
_GRAVE = [[(0.12, 0.18), (-0.16, 0.55)]]
_CIRCUMFLEX = [[(-0.25, 0.18), (0.0, 0.5), (0.25, 0.18)]]
_DIAERESIS = [[(-0.3, 0.3), (-0.24, 0.38)], [(0.24, 0.3), (0.3, 0.38)]]  # apart: near dots merge
_TILDE = [[(-0.3, 0.25), (-0.15, 0.42), (0.0, 0.32), (0.15, 0.24), (0.3, 0.42)]]
_CEDILLA = [[(0.0, 0.0), (0.02, -0.2), (0.16, -0.28), (0.12, -0.42), (-0.12, -0.45)]]
MARKS = {
    "\u0301": _ACUTE,
    "\u0300": _GRAVE,
    "\u0302": _CIRCUMFLEX,
    "\u0308": _DIAERESIS,
    "\u0303": _TILDE,
    "\u0327": _CEDILLA,
}
BELOW = frozenset({"\u0327"})
DOTTED = frozenset("ij")  # letters whose dot an accent replaces


def decompose(ch: str) -> tuple | None:
    """(base letter, combining marks) for an accented letter we can draw, else None."""
    parts = unicodedata.normalize("NFD", ch)
    if len(parts) < 2 or not all(m in MARKS for m in parts[1:]):
        return None
    return parts[0], parts[1:]


def composable(chars, native) -> set:
    """The characters of `chars` not in `native` whose base letter is in `native`."""
    out = set()
    for ch in chars:
        if ch in native:
            continue
        d = decompose(ch)
        if d is not None and d[0] in native:
            out.add(ch)
    return out


def mark_polylines(marks: str, centre_x: float, top: float, bottom: float, x_height: float) -> list:
    """Accent strokes as (n, 2) arrays, y up, for a letter whose ink spans `bottom`..`top`
    (y up, same units as `x_height`), centred on `centre_x`."""
    out = []
    stack = 0.0
    for mark in marks:
        for stroke in MARKS[mark]:
            p = np.array(stroke, np.float64) * x_height
            if mark in BELOW:
                p[:, 1] += bottom
            else:
                p[:, 1] += top + stack
            p[:, 0] += centre_x
            out.append(p)
        if mark not in BELOW:
            stack += 0.45 * x_height
    return out
