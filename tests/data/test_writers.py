"""Designs (allowlist, coverage, bad fonts), pen-path fonts and writers."""

import dataclasses
import shutil

import numpy as np
import pytest

from keras_htr.data.synthetic import ALPHABET, HELD_OUT_DESIGNS, designs, list_designs, pen
from keras_htr.data.synthetic import writer as writer_module
from keras_htr.data.synthetic.writer import Writer, crop_to_ink, sample_style

_SVG_FONT = """<?xml version="1.0"?>
<svg xmlns="http://www.w3.org/2000/svg"><defs>
<font id="T" horiz-adv-x="500"><font-face units-per-em="1000" ascent="800" descent="-200"/>
<glyph unicode=" " horiz-adv-x="300"/>
{glyphs}
</font></defs></svg>
"""


def _svg_glyph(ch: str) -> str:
    # a distinct zig-zag per character; "x" sets the x-height; "g", "j", "p", "q", "y" descend
    k = ord(ch) % 7
    low = -250 if ch in "gjpqy,;" else 0
    high = 700 if ch.isupper() or ch.isdigit() or ch in "bdfhklt" else 400
    code = f"&#x{ord(ch):x};" if ch in "\"&'<>" else ch
    return (
        f'<glyph unicode="{code}" horiz-adv-x="500" '
        f'd="M 50 {low} L {100 + 20 * k} {high} l 150 -{high - low} C 350 100 400 200 450 {high}"/>'
    )


def _write_svg_font(path, chars):
    path.write_text(_SVG_FONT.format(glyphs="\n".join(_svg_glyph(c) for c in chars)))


def _fontpkg_file(name="caveat"):
    return next(d.path for d in list_designs() if d.name == name)


@pytest.fixture
def font_dir(tmp_path, monkeypatch):
    """An extra font folder searched first, and fresh discovery (it is cached)."""
    monkeypatch.setenv(designs.FONT_DIR_ENV, str(tmp_path))
    designs._discover.cache_clear()
    yield tmp_path
    designs._discover.cache_clear()


def test_held_out_designs():
    assert len(HELD_OUT_DESIGNS) >= 6 and len(set(HELD_OUT_DESIGNS)) == len(HELD_OUT_DESIGNS)
    allowlisted = (
        set(designs.FONTPKG_DESIGNS) | set(designs._OUTLINE_FILES) | set(designs._PEN_FILES)
    )
    assert set(HELD_OUT_DESIGNS) <= allowlisted
    assert set(HELD_OUT_DESIGNS) & set(designs._PEN_FILES)  # at least one pen-path design
    assert set(HELD_OUT_DESIGNS) & set(designs.FONTPKG_DESIGNS)  # some even with PyPI fonts alone


def test_discovery_is_an_allowlist(font_dir):
    """A font the project must never use, installed or dropped in a font folder, is not picked up."""
    caveat = _fontpkg_file()
    for name in (
        "Purisa.ttf",
        "Kristi.ttf",
        "Breip.ttf",
        "dkg-handwriting.otf",
        "Rufscript010.ttf",
        "Havana.ttf",
    ):
        shutil.copy(caveat, font_dir / name)
    found = list_designs()
    assert not any(str(font_dir) in d.path for d in found)
    for d in found:
        assert not any(
            r.rstrip("*").replace("fonts-", "") in d.path.lower() for r in designs.RESERVED[:8]
        )
    sources = {d.source.split(":")[1] for d in found if d.source.startswith("debian:")}
    assert sources <= set(designs.DEBIAN_PACKAGES)


def test_allowlisted_file_in_font_dir_is_used(font_dir):
    _write_svg_font(font_dir / "EMSAllure.svg", ALPHABET)
    allure = {d.name: d for d in list_designs()}["ems-allure"]
    assert allure.kind == "pen" and allure.path == str(font_dir / "EMSAllure.svg")
    assert set("abcXYZ019.,") <= allure.covered


def test_broken_or_incomplete_fonts_are_skipped_with_a_warning_naming_them(font_dir):
    from fontTools import subset

    caveat = _fontpkg_file()
    (font_dir / "Humor-Sans.ttf").write_bytes(b"not a font at all")
    options = subset.Options()
    options.notdef_outline = True
    font = subset.load_font(caveat, options)
    sub = subset.Subsetter(options)
    sub.populate(text="".join(c for c in ALPHABET if c != "q"))  # no q
    sub.subset(font)
    subset.save_font(font, str(font_dir / "Ecolier-court.ttf"), options)
    font = subset.load_font(caveat, options)
    sub = subset.Subsetter(options)
    sub.populate(text="".join(c for c in ALPHABET if c not in "()"))  # no parentheses: usable
    sub.subset(font)
    subset.save_font(font, str(font_dir / "Joscelyn-Regular.otf"), options)
    designs._discover.cache_clear()
    with pytest.warns(UserWarning) as caught:
        found = {d.name: d for d in list_designs()}
    messages = " ".join(str(w.message) for w in caught)
    assert "'humor-sans'" in messages and "cannot load" in messages and "humor-sans" not in found
    assert (
        "'ecolier-court'" in messages
        and "lacks glyphs for 'q'" in messages
        and "ecolier-court" not in found
    )
    assert "joscelyn" in found and not set("()") & found["joscelyn"].covered


def test_writer_never_draws_a_missing_glyph():
    design = {d.name: d for d in list_designs()}["caveat"]
    narrow = dataclasses.replace(design, covered=design.covered - {"q"})
    writer = Writer.sample(np.random.default_rng(0), narrow)
    with pytest.raises(ValueError, match="covers"):
        writer.write("quite", np.random.default_rng(0))
    with pytest.raises(ValueError, match="at most"):  # never a silently cut line
        writer.write("a" * 1000, np.random.default_rng(0))


def test_svg_path_parser():
    (poly,) = pen._path_polylines("M 0 0 l 10 0 10 10 Z")
    np.testing.assert_allclose(poly, [[0, 0], [10, 0], [20, 10], [0, 0]])
    (curve,) = pen._path_polylines("M 0 0 C 0 10 10 10 10 0")
    assert (
        len(curve) == 9
        and np.allclose(curve[-1], [10, 0])
        and curve[:, 1].max() == pytest.approx(7.5)
    )
    a, _ = pen._path_polylines("M0,0 H5 V5 M 1 1 L 2 2")
    np.testing.assert_allclose(a, [[0, 0], [5, 0], [5, 5]])
    with pytest.raises(ValueError, match="unsupported"):
        pen._path_polylines("M 0 0 A 1 1 0 0 0 5 5")


def test_hershey_parser(tmp_path):
    # glyph 0 (space) and glyph 1 ("!"): bearings J,Z; a vertical bar from y=F to y=T, then a dot
    lines = ["12345  1JZ", "12345  6JZRFRT RRYSZ"] + ["12345  3JZRFRT"] * 94
    path = tmp_path / "t.jhf"
    path.write_text("\n".join(lines) + "\n")
    font = pen.load_hershey(str(path))
    bang = font.glyphs["!"]
    assert bang.advance == pytest.approx(16 / 32) and len(bang.strokes) == 2
    bar = bang.strokes[0]
    assert bar[:, 0] == pytest.approx(8 / 32) and bar[0, 1] == pytest.approx((9 + 12) / 32)
    assert bar[-1, 1] == pytest.approx((9 - 2) / 32) and len(bar) > 2  # resampled
    assert font.space == pytest.approx(16 / 32)


def _designs(kind):
    return [d for d in list_designs() if d.kind == kind]


@pytest.mark.parametrize("kind", ["outline", "pen"])
def test_writer_renders_glyph_by_glyph_with_jitter(kind, tmp_path, monkeypatch):
    found = _designs(kind)
    if not found:
        _write_svg_font(tmp_path / "EMSElfin.svg", ALPHABET)
        monkeypatch.setenv(designs.FONT_DIR_ENV, str(tmp_path))
        designs._discover.cache_clear()
        found = _designs(kind)
    design = found[0]
    writer = Writer.sample(np.random.default_rng(1), design)
    a = writer.write("Minimum jump", np.random.default_rng(2))
    b = writer.write("Minimum jump", np.random.default_rng(2))
    c = writer.write("Minimum jump", np.random.default_rng(3))
    np.testing.assert_array_equal(a.ink, b.ink)  # a pure function of the rng
    assert a.ink.dtype == np.float32 and 0 <= a.ink.min() and a.ink.max() <= 1 and a.ink.max() > 0.5
    # each glyph gets its own jitter: another rng, another line from the same writer
    assert a.ink.shape != c.ink.shape or not np.array_equal(a.ink, c.ink)
    still = Writer(design, dataclasses.replace(
        writer.style, jitter_scale=0.0, jitter_rotation=0.0, jitter_offset=0.0, pressure=0.0, drift_amp=0.0,
        warp=0.0,
    ))  # fmt: skip
    if kind == "outline":  # with no jitter, the same writer writes the same word whatever the rng
        np.testing.assert_array_equal(
            still.write("Minimum", np.random.default_rng(2)).ink,
            still.write("Minimum", np.random.default_rng(3)).ink,
        )
    designs._discover.cache_clear()


def _centroid_x(ink):
    cols = np.arange(ink.shape[1])
    return float((ink * cols).sum() / ink.sum())


@pytest.mark.parametrize("kind", ["outline", "pen"])
def test_slant_and_proportions_change_the_writing(kind):
    found = [d for d in _designs(kind) if not d.caps_only]  # an "l" with an ascender
    if not found:
        pytest.skip(f"no {kind} design installed")
    design = found[0]
    base = dataclasses.replace(
        sample_style(np.random.default_rng(0), design), slant=0.0, ascender=1.0, descender=1.0,
        jitter_scale=0.0, jitter_rotation=0.0, jitter_offset=0.0, drift_amp=0.0, slope=0.0, warp=0.0,
        deform=tuple((0.0, 1.0, 1.0, 0.0) for _ in range(6)),
    )  # fmt: skip
    rng = lambda: np.random.default_rng(0)

    def render(**change):
        line = Writer(design, dataclasses.replace(base, **change)).write("l", rng())
        return line.ink

    upright, slanted = render(), render(slant=0.4)
    top = lambda ink: ink[: ink.shape[0] // 3]
    bottom = lambda ink: ink[-ink.shape[0] // 3 :]
    lean = (_centroid_x(top(slanted)) - _centroid_x(bottom(slanted))) - (
        _centroid_x(top(upright)) - _centroid_x(bottom(upright))
    )
    assert lean > 0.1 * base.x_height_px  # the top of the "l" moved right
    rows = lambda ink: np.count_nonzero(ink.max(1) > 0.3)
    assert rows(render(ascender=1.25)) > rows(upright) * 1.05  # taller ascender


def test_neighbour_zones_draw_only_what_reaches_the_crop():
    design = next(d for d in list_designs() if d.name == "delius")
    writer = Writer(
        design,
        dataclasses.replace(
            sample_style(np.random.default_rng(0), design), slope=0.0, drift_amp=0.0
        ),
    )
    full = writer.write("agony", np.random.default_rng(0))
    desc = writer.write("agony", np.random.default_rng(0), zone="descenders")
    asc = writer.write("agony", np.random.default_rng(0), zone="ascenders")
    assert 0 < desc.ink.sum() < full.ink.sum() * 0.6  # g and y only
    assert asc.ink.max() == 0  # no ascender in "agony"
    with pytest.raises(ValueError, match="`zone`"):
        writer.write("agony", np.random.default_rng(0), zone="middle")


def test_crop_keeps_the_ascender_and_descender_zones():
    design = next(d for d in list_designs() if d.name == "caveat")
    writer = Writer.sample(np.random.default_rng(0), design)
    line = crop_to_ink(
        writer.write("a one man", np.random.default_rng(0)), np.random.default_rng(0)
    )
    assert line.ink.shape[0] >= 2.5 * line.x_height  # not cut to the x-height band
    assert 0 < line.baseline < line.ink.shape[0]


def test_all_found_designs_write_every_covered_character():
    rng = np.random.default_rng(0)
    for design in list_designs():
        writer = Writer.sample(rng, design)
        chars = "".join(sorted(design.covered - {" "}))
        ink = writer.write(chars, rng).ink
        assert ink.max() > 0.5, design.name


def test_missing_accented_letters_are_composed_over_their_base(font_dir):
    from fontTools import subset

    ascii_only = "".join(c for c in ALPHABET if ord(c) < 128)
    caveat = _fontpkg_file()
    options = subset.Options()
    font = subset.load_font(caveat, options)
    sub = subset.Subsetter(options)
    sub.populate(text=ascii_only)
    sub.subset(font)
    subset.save_font(font, str(font_dir / "ComicNeue-Regular.otf"), options)
    _write_svg_font(font_dir / "EMSElfin.svg", ascii_only)
    designs._discover.cache_clear()
    found = {d.name: d for d in list_designs()}
    for name in ("comic-neue", "ems-elfin"):
        design = found[name]
        assert (
            set("éñçÁü") <= design.covered and not set("œß¿€") & design.covered
        )  # no base letter to draw on
        style = dataclasses.replace(
            sample_style(np.random.default_rng(0), design), jitter_scale=0.0, jitter_rotation=0.0,
            jitter_offset=0.0, pressure=0.0, drift_amp=0.0, slope=0.0, weight=0, warp=0.0,
        )  # fmt: skip
        writer = Writer(design, style)
        plain, accented = (writer.write(t, np.random.default_rng(0)).ink for t in ("e", "é"))
        ink_rows = lambda ink: np.nonzero(ink.max(1) > 0.3)[0]
        assert len(ink_rows(accented)) > len(ink_rows(plain)) + 2, name  # an accent above the e
        cedilla = writer.write("ç", np.random.default_rng(0)).ink
        assert (
            len(ink_rows(cedilla))
            > len(ink_rows(writer.write("c", np.random.default_rng(0)).ink)) + 2
        )


def test_thinning_gives_a_one_pixel_skeleton():
    block = np.zeros((12, 30), bool)
    block[3:9, 2:28] = True
    skeleton = writer_module._thin(block)
    assert skeleton.sum() > 15 and skeleton.sum(axis=0).max() == 1  # one pixel thick, still long
    assert not (skeleton & ~block).any()


def test_monoline_writers_redraw_the_skeleton_with_their_pen():
    design = next(d for d in list_designs() if d.name == "delius")
    style = dataclasses.replace(
        sample_style(np.random.default_rng(0), design), jitter_scale=0.0, jitter_rotation=0.0, jitter_offset=0.0,
        pressure=0.0, drift_amp=0.0, slope=0.0, weight=0, warp=0.0, x_height_px=20.0, monoline=False,
    )  # fmt: skip
    ink = {}
    for mono, width in ((False, 0.1), (True, 0.06), (True, 0.2)):
        line = Writer(design, dataclasses.replace(style, monoline=mono, pen_width=width)).write(
            "Hom", np.random.default_rng(0)
        )
        ink[mono, width] = line.ink
    filled, thin, thick = ink[False, 0.1], ink[True, 0.06], ink[True, 0.2]
    assert abs(thin.shape[1] - filled.shape[1]) <= 3  # same letters, same places
    assert (
        thin.sum() < 0.8 * filled.sum() and thick.sum() > 1.3 * thin.sum()
    )  # the pen sets the width


def test_smooth_warp_moves_ink_a_little():
    ink = np.zeros((40, 200), np.float32)
    ink[18:22, 10:190] = 1.0
    warped = writer_module._smooth_warp(ink, np.random.default_rng(0), 3.0, 15.0)
    assert warped.shape == ink.shape and not np.allclose(warped, ink)
    rows = np.nonzero(warped.max(1) > 0.5)[0]
    assert 12 <= rows.min() and rows.max() <= 27  # displaced by at most the amplitude (and a pixel)


def test_pypi_fonts_alone_are_enough(monkeypatch):
    from keras_htr.data.synthetic import LineSynthesizer

    monkeypatch.setattr(designs, "_OUTLINE_FILES", {})
    monkeypatch.setattr(designs, "_PEN_FILES", {})
    designs._discover.cache_clear()
    try:
        found = list_designs()
        assert found and all(d.source.startswith("pypi:fontpkg-") for d in found)
        synth = LineSynthesizer(kind="text", seed=0)
        names = {d.name for d in synth.designs}
        assert names and not names & set(HELD_OUT_DESIGNS)
        line = synth.line(0)
        assert line.writer in names and line.image.size > 0
    finally:
        designs._discover.cache_clear()
