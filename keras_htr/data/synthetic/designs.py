"""Handwriting designs: which fonts a writer can write with, where they come from, what they cover.

A *design* is one handwriting: an outline font (drawn from its glyph shapes) or a pen-path font
(single-stroke glyphs drawn with a pen). Discovery is an **allowlist**: only the files named in
`_OUTLINE_FILES`, `_PEN_FILES` and `FONTPKG_DESIGNS` are ever used, so a font that happens to be
installed on the machine (some are reserved for independent evaluation) is never picked up.

Sources, all optional except the PyPI wheels of the `synth` extra:

- PyPI `fontpkg-*` handwriting fonts (`pip install keras-htr[synth]`);
- Debian font packages (`apt-get install fonts-bwht fonts-comic-neue ...`, see `DEBIAN_PACKAGES`);
- Debian `hershey-fonts-data` (Hershey script simplex and script complex: pen paths; its
  `cursive.jhf` is not used: its letters are byte for byte those of `scripts.jhf`);
- Inkscape's single-line SVG fonts (EMS Allure, Elfin, Felix: pen paths), looked up in the folders
  of `font_dirs()`: `$KERAS_HTR_FONT_DIR`, `~/.local/share/keras-htr/svg_fonts`,
  `/usr/share/inkscape/extensions/svg_fonts`.

Each design's coverage comes from the font itself (the cmap, non-empty glyphs), and a line only
ever holds characters its design covers: a box drawn for a missing glyph would be label noise.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import pathlib
import warnings
from collections.abc import Sequence

KINDS = ("outline", "pen")
#: Environment variable naming extra font folders (os.pathsep-separated), searched first.
FONT_DIR_ENV = "KERAS_HTR_FONT_DIR"
#: A user folder for the Inkscape SVG fonts (the README's one-liner extracts them there); searched.
USER_FONT_DIR = pathlib.Path.home() / ".local" / "share" / "keras-htr" / "svg_fonts"
INKSCAPE_FONT_DIR = pathlib.Path("/usr/share/inkscape/extensions/svg_fonts")
HERSHEY_FONT_DIR = pathlib.Path("/usr/share/hershey-fonts")

#: PyPI handwriting fonts (`fontpkg-<name>`); the first 12 are in the `synth` extra.
FONTPKG_DESIGNS = (
    "caveat", "dancing-script", "delius", "great-vibes", "indie-flower", "kalam", "pacifico",
    "permanent-marker", "satisfy", "shadows-into-light", "yellowtail", "zeyada",
    "lobster", "lobster-two", "oleo-script",
)  # fmt: skip
#: Debian packages holding the outline and pen designs below (one `apt-get install` line).
DEBIAN_PACKAGES = (
    "fonts-bwht", "fonts-comic-neue", "fonts-ecolier-court", "fonts-humor-sans", "fonts-joscelyn",
    "fonts-kaushanscript", "fonts-kiloji", "fonts-klee", "fonts-leckerli-one", "fonts-seto",
    "fonts-tomsontalks", "fonts-urw-base35", "hershey-fonts-data",
)  # fmt: skip
#: The README's recipe for the optional designs: the Debian packages, then Inkscape's SVG fonts
#: (extracted from the .deb; Inkscape itself is not installed).
APT_COMMAND = "sudo apt-get install -y " + " ".join(DEBIAN_PACKAGES)
SVG_FONTS_COMMAND = (
    "(cd /tmp && apt-get download inkscape) && mkdir -p ~/.local/share/keras-htr/svg_fonts && "
    "dpkg-deb --fsys-tarfile /tmp/inkscape_*.deb | tar -x -C ~/.local/share/keras-htr/svg_fonts "
    "--strip-components=6 "
    + " ".join(
        f"./usr/share/inkscape/extensions/svg_fonts/EMS{n}.svg"
        for n in ("Allure", "Elfin", "Felix")
    )
)
# name: (source, file name, default folder). Only these files are ever opened.
_OUTLINE_FILES = {
    "because-we-build": ("fonts-bwht", "BecauseWeBuild-Regular.otf", "/usr/share/fonts/opentype/bwht"),
    "because-we-connect": ("fonts-bwht", "BecauseWeConnect-Regular.otf", "/usr/share/fonts/opentype/bwht"),
    "because-we-create": ("fonts-bwht", "BecauseWeCreate-Regular.otf", "/usr/share/fonts/opentype/bwht"),
    "because-we-learn": ("fonts-bwht", "BecauseWeLearn-Regular.otf", "/usr/share/fonts/opentype/bwht"),
    "because-we-mentor": ("fonts-bwht", "BecauseWeMentor-Regular.otf", "/usr/share/fonts/opentype/bwht"),
    "because-we-organize": ("fonts-bwht", "BecauseWeOrganize-Regular.otf", "/usr/share/fonts/opentype/bwht"),
    "comic-neue": ("fonts-comic-neue", "ComicNeue-Regular.otf", "/usr/share/fonts/opentype/comic-neue"),
    "ecolier-court": ("fonts-ecolier-court", "Ecolier-court.ttf", "/usr/share/fonts/truetype/ecolier-court"),
    "humor-sans": ("fonts-humor-sans", "Humor-Sans.ttf", "/usr/share/fonts/truetype/humor-sans"),
    "joscelyn": ("fonts-joscelyn", "Joscelyn-Regular.otf", "/usr/share/fonts/opentype/joscelyn"),
    "kaushan-script": ("fonts-kaushanscript", "KaushanScript-Regular.otf", "/usr/share/fonts/opentype/kaushanscript"),
    "kiloji": ("fonts-kiloji", "kiloji.ttf", "/usr/share/fonts/truetype/kiloji"),
    "klee-one": ("fonts-klee", "KleeOne-Regular.ttf", "/usr/share/fonts/truetype/klee"),
    "leckerli-one": ("fonts-leckerli-one", "LeckerliOne-Regular.ttf", "/usr/share/fonts/truetype/leckerli-one"),
    "seto": ("fonts-seto", "setofont.ttf", "/usr/share/fonts/truetype/seto"),
    "tomson-talks": ("fonts-tomsontalks", "TomsonTalks.ttf", "/usr/share/fonts/truetype/tomsontalks"),
    "z003": ("fonts-urw-base35", "Z003-MediumItalic.otf", "/usr/share/fonts/opentype/urw-base35"),
}  # fmt: skip
_PEN_FILES = {
    "hershey-script-simplex": ("hershey-fonts-data", "scripts.jhf", str(HERSHEY_FONT_DIR)),
    "hershey-script-complex": ("hershey-fonts-data", "scriptc.jhf", str(HERSHEY_FONT_DIR)),
    "ems-allure": ("inkscape-svg-fonts", "EMSAllure.svg", None),
    "ems-elfin": ("inkscape-svg-fonts", "EMSElfin.svg", None),
    "ems-felix": ("inkscape-svg-fonts", "EMSFelix.svg", None),
}
#: Whole designs never used in training by default; the generalisation benchmark renders them.
#: Some from each source, so a PyPI-only install still has held-out writers to test on.
HELD_OUT_DESIGNS = (
    "kalam", "satisfy",  # PyPI (not Indie Flower: Shadows Into Light is by the same hand)
    "because-we-mentor", "klee-one", "tomson-talks",  # Debian outline
    "ems-felix",  # pen path (the Hershey scripts share letter skeletons, so none of them)
)  # fmt: skip
#: Sources that must never be used by this project (reserved for independent evaluation).
RESERVED = (
    "fonts-breip", "fonts-sjfonts", "fonts-havana", "fonts-kristi", "fonts-tlwg-purisa*",
    "fonts-rufscript", "fonts-dkg-handwriting", "fonts-femkeklaver", "py-handwrite",
    "scikit-learn digits", "OpenCV digits",
)  # fmt: skip
# Designs whose lowercase letters are small capitals: their lines are written in capitals, so
# that the label says what a reader sees.
CAPS_ONLY = frozenset({
    "permanent-marker", "humor-sans", "tomson-talks", "because-we-build", "because-we-connect",
    "because-we-create", "because-we-learn", "because-we-mentor", "because-we-organize",
})  # fmt: skip
# Designs whose capitals are swashes no reader would read as letters: their lines have none.
LOWER_ONLY = frozenset({"joscelyn"})
# Connected scripts: letter spacing would break their joins.
CONNECTED = frozenset({
    "dancing-script", "great-vibes", "satisfy", "pacifico", "yellowtail", "zeyada", "lobster",
    "lobster-two", "kaushan-script", "leckerli-one", "z003", "hershey-script-simplex",
    "hershey-script-complex", "ems-allure",
})  # fmt: skip
# A design must draw all of these (lowercase may be capitals for CAPS_ONLY) to be used at all.
_REQUIRED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,"
_MAX_FONT_BYTES = 30_000_000  # a larger "handwriting font" is a CJK font or a broken file


@dataclasses.dataclass(frozen=True)
class Design:
    """One handwriting design.

    Attributes:
        name: short name, e.g. "caveat", "hershey-cursive".
        kind: "outline" (glyph shapes) or "pen" (single-stroke paths drawn with a pen).
        source: where it comes from: "pypi:fontpkg-caveat", "debian:fonts-bwht", ...
        path: the font file.
        covered: the characters it draws (space included).
    """

    name: str
    kind: str
    source: str
    path: str
    covered: frozenset

    @property
    def caps_only(self) -> bool:
        return self.name in CAPS_ONLY

    @property
    def connected(self) -> bool:
        return self.name in CONNECTED


def font_dirs(extra: Sequence[str] | None = None) -> list[pathlib.Path]:
    """Folders searched for allowlisted font files, first match wins: `extra`, then
    `$KERAS_HTR_FONT_DIR`, then the user folder, then Inkscape's."""
    dirs = [pathlib.Path(d) for d in (extra or ())]
    dirs += [pathlib.Path(d) for d in os.environ.get(FONT_DIR_ENV, "").split(os.pathsep) if d]
    return dirs + [USER_FONT_DIR, INKSCAPE_FONT_DIR]


def _find(file_name: str, default_dir: str | None, dirs: Sequence[pathlib.Path]) -> str | None:
    for d in list(dirs) + ([pathlib.Path(default_dir)] if default_dir else []):
        p = d / file_name
        if p.is_file():
            return str(p)
    return None


def _candidate_chars() -> str:
    from keras_htr.data.synthetic import ALPHABET

    return ALPHABET


@functools.lru_cache(maxsize=64)
def native_outline_chars(path: str) -> frozenset:
    """Characters whose cmap entry is a real, non-empty glyph (not `.notdef`, not blank)."""
    from fontTools.ttLib import TTFont
    from PIL import ImageFont

    quiet = logging.getLogger("fontTools")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # harmless table quirks of packaged fonts are not news
    try:
        with TTFont(path, lazy=True, fontNumber=0) as tt:
            cmap = tt.getBestCmap() or {}
    finally:
        quiet.setLevel(level)
    font = ImageFont.truetype(path, 48)
    covered = {" "} if 32 in cmap else set()
    for ch in _candidate_chars():
        glyph = cmap.get(ord(ch))
        if ch == " " or glyph is None or glyph == ".notdef":
            continue
        box = font.getbbox(ch)
        if box[2] > box[0] and box[3] > box[1]:
            covered.add(ch)
    return frozenset(covered)


def _outline_coverage(path: str) -> frozenset:
    """The font's own glyphs plus the accented letters composed over its base letters."""
    from keras_htr.data.synthetic import accents

    native = native_outline_chars(path)
    return native | accents.composable(_candidate_chars(), native)


def _pen_coverage(path: str) -> frozenset:
    from keras_htr.data.synthetic import pen

    font = pen.load_pen_font(path)
    return frozenset(c for c in _candidate_chars() if c in font.glyphs)


def _check(name: str, kind: str, source: str, path: str) -> Design | None:
    """The design, or None with a warning naming it if it cannot be used."""
    try:
        if os.path.getsize(path) > _MAX_FONT_BYTES:
            raise ValueError(f"file larger than {_MAX_FONT_BYTES} bytes")
        covered = _outline_coverage(path) if kind == "outline" else _pen_coverage(path)
    except Exception as e:  # noqa: BLE001  a broken font must not stop generation with the others
        warnings.warn(
            f"Skipping handwriting design {name!r} ({path}): cannot load it: {e}", stacklevel=3
        )
        return None
    if name in LOWER_ONLY:
        covered = frozenset(c for c in covered if not c.isupper())
    required = "".join(c for c in _REQUIRED if not (c.isupper() and name in LOWER_ONLY))
    missing = sorted(set(required) - covered)
    if missing:
        warnings.warn(
            f"Skipping handwriting design {name!r} ({path}): it lacks glyphs for {''.join(missing)!r}",
            stacklevel=3,
        )
        return None
    if " " not in covered:
        covered = covered | {" "}  # a space is drawn as a gap, never as a glyph
    return Design(name, kind, source, path, covered)


def _fontpkg_files() -> dict:
    try:
        import fontpkg
    except ImportError:
        warnings.warn(
            "No `fontpkg` installed: pip install 'keras-htr[synth]' for the PyPI designs",
            stacklevel=3,
        )
        return {}
    families = fontpkg.families()
    files = {}
    for name in FONTPKG_DESIGNS:
        if name not in families:
            continue
        try:
            files[name] = str(fontpkg.path(name, nearest=True))
        except Exception as e:  # noqa: BLE001  a broken package must not stop the others
            warnings.warn(
                f"Skipping handwriting design {name!r}: fontpkg cannot find its file: {e}",
                stacklevel=3,
            )
    return files


@functools.lru_cache(maxsize=8)
def _discover(dirs: tuple) -> tuple:
    designs = []
    for name, path in _fontpkg_files().items():
        designs.append(_check(name, "outline", f"pypi:fontpkg-{name}", path))
    for kind, table in (("outline", _OUTLINE_FILES), ("pen", _PEN_FILES)):
        for name, (package, file_name, default_dir) in table.items():
            path = _find(file_name, default_dir, [pathlib.Path(d) for d in dirs])
            if path is not None:
                source = (
                    f"debian:{package}"
                    if package.startswith(("fonts-", "hershey"))
                    else f"inkscape:{file_name}"
                )
                designs.append(_check(name, kind, source, path))
    return tuple(d for d in designs if d is not None)


def list_designs(extra_dirs: Sequence[str] | None = None) -> list[Design]:
    """Every usable handwriting design on this machine (allowlisted, loadable, covering at least
    ASCII letters and digits), sorted by name. Unusable ones are skipped with a warning."""
    dirs = tuple(str(d) for d in font_dirs(extra_dirs))
    return sorted(_discover(dirs), key=lambda d: d.name)


def select_designs(
    designs: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    *,
    held_out: bool = False,
    extra_dirs: Sequence[str] | None = None,
) -> list[Design]:
    """The designs named in `designs`, minus `exclude`. A name that is not found is an error.

    By default (`designs=None`), every design found except `HELD_OUT_DESIGNS`, the training
    set; with `held_out=True`, the held-out designs found instead, to measure how a model reads
    hands it has never seen."""
    available = {d.name: d for d in list_designs(extra_dirs)}
    for arg, names in (("designs", designs), ("exclude_designs", exclude)):
        unknown = sorted(set(names or ()) - set(available))
        if unknown:
            raise ValueError(
                f"Received an invalid value for argument `{arg}`, expected design names among "
                f"{sorted(available)}, got unknown {unknown}"
            )
    if designs is not None and held_out:
        raise ValueError(
            "Received an invalid value for argument `held_out`, expected False when `designs` "
            f"names the designs, got True with designs={list(designs)}"
        )
    if designs is not None:
        chosen = list(dict.fromkeys(designs))
    else:
        chosen = [n for n in available if (n in HELD_OUT_DESIGNS) == held_out]
    chosen = [n for n in chosen if n not in set(exclude or ())]
    if not chosen:
        raise ValueError(
            "Received an invalid value for argument `designs`, expected at least one design left "
            f"after `exclude_designs`, got none (designs={designs}, exclude_designs={exclude})"
        )
    return [available[n] for n in chosen]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m keras_htr.data.synthetic.designs`: print the designs found, one a line."""
    for d in list_designs():
        print(f"{d.name:24s} {d.kind:8s} {d.source:34s} {len(d.covered):4d} chars  {d.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
