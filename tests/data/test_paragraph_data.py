"""Paragraph data: the synthetic generator, the readers and the curriculum pipeline."""

import numpy as np
import pytest
from PIL import Image

from keras_htr.charset import Charset
from keras_htr.data.paragraph import (
    Curriculum,
    estimate_line_pitch,
    paragraph_batches,
    read_paragraphs,
    rescale_to_pitch,
)
from keras_htr.data.synthetic import HELD_OUT_DESIGNS
from keras_htr.data.synthetic.paragraph import ParagraphSynthesizer, page_xml, write_paragraphs


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """Six generated paragraphs of 2-5 lines, written to a folder."""
    out = tmp_path_factory.mktemp("paragraphs")
    counts = write_paragraphs(out, 6, seed=3, min_lines=2, max_lines=5, progress=False)
    return out, counts


@pytest.mark.parametrize("lines", [1, 4])
def test_generator_writes_the_requested_number_of_lines(lines):
    synth = ParagraphSynthesizer(seed=1, min_lines=lines, max_lines=lines, degrade=False)
    par = synth.paragraph(0)
    assert len(par.lines) == lines == len(par.boxes)
    assert all(text.strip() for text in par.lines)
    h, w = par.image.shape
    tops = [b[1] for b in par.boxes]
    assert tops == sorted(tops)  # top to bottom
    assert all(0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h for b in par.boxes)
    # The box holds that line's ink: darker than the paper on average.
    for x0, y0, x1, y1 in par.boxes:
        assert par.image[y0:y1, x0:x1].mean() < par.image.mean() + 1


def test_generator_is_reproducible_and_keeps_held_out_designs_apart():
    train = ParagraphSynthesizer(seed=5, max_lines=2)
    assert not {d.name for d in train.designs} & set(HELD_OUT_DESIGNS)
    writers = [train.paragraph(i).writer for i in range(8)]
    assert not set(writers) & set(HELD_OUT_DESIGNS)
    np.testing.assert_array_equal(train.paragraph(3).image, ParagraphSynthesizer(seed=5, max_lines=2).paragraph(3).image)
    test = ParagraphSynthesizer(split="test", seed=5, max_lines=2)
    assert {d.name for d in test.designs} <= set(HELD_OUT_DESIGNS)


def test_written_paragraphs_read_back_with_their_boxes(written):
    out, counts = written
    assert sum(counts.values()) == 6
    samples, errors = read_paragraphs(out)
    assert errors == [] and len(samples) == 6  # the .xml beside each image adds no sample
    for sample in samples:
        gt = (out / (sample.image_path.rsplit("/", 1)[1][:-4] + ".gt.txt")).read_text("utf-8")
        assert sample.lines == tuple(gt.splitlines())
        assert 2 <= len(sample.lines) <= 5 and len(sample.boxes) == len(sample.lines)


def test_page_xml_regions_are_paragraphs_and_a_bad_region_is_reported(tmp_path):
    Image.new("L", (200, 120), 255).save(tmp_path / "page.png")
    good = page_xml("page.png", (200, 120), ["first line", "second line"],
                    [(10, 50, 150, 70), (12, 72, 160, 95)])
    # A second region whose line has no text: reported by region, the first one still read.
    bad_region = (
        '    <TextRegion id="r1"><Coords points="0,0 50,0 50,20 0,20"/>'
        '<TextLine id="x"><Coords points="0,0 50,0 50,20 0,20"/></TextLine></TextRegion>\n'
    )
    xml = good.replace("  </Page>", bad_region + "  </Page>")
    (tmp_path / "page.xml").write_text(xml, encoding="utf-8")
    (tmp_path / "broken.xml").write_text("<PcGts", encoding="utf-8")
    samples, errors = read_paragraphs(tmp_path)
    assert len(samples) == 1
    sample = samples[0]
    assert sample.lines == ("first line", "second line")
    assert sample.region == (10, 50, 160, 95)
    assert sample.boxes[0] == (0, 0, 140, 20)  # relative to the region's cut
    assert sample.load().shape == (45, 150)
    reasons = {e.path.rsplit("/", 1)[1]: e.reason for e in errors}
    assert "page.xml#r1" in reasons and "broken.xml" in reasons


def test_curriculum_gives_windows_of_consecutive_lines(written):
    out, _ = written
    samples, _ = read_paragraphs(out)
    charset = Charset.from_texts(t for s in samples for t in s.lines)
    curriculum = Curriculum((2, 5))
    seen = []
    for x, y in paragraph_batches(samples, charset, 3, curriculum, seed=0):
        assert y["n_lines"].max() <= 2
        assert x["image"].shape[1] == x["height"].max()
        for k in range(len(y["n_lines"])):
            lines = tuple(charset.decode(ids) for ids in y["labels"][k, : y["n_lines"][k]])
            seen.append(lines)
            assert any(
                s.lines[i : i + len(lines)] == lines for s in samples for i in range(len(s.lines))
            )
            # The window's image holds about its own lines only (40 px pitch), and each line's
            # centre (for the attention's position loss) lies inside it, top to bottom.
            assert x["height"][k] < 40 * (len(lines) + 1.5)
            centres = y["line_centres"][k, : y["n_lines"][k]]
            assert np.all(np.diff(centres) > 10) and 0 < centres.min() and centres.max() < x["height"][k]
    assert len(seen) == 6
    curriculum.epoch = 1
    sizes = [y["n_lines"].max() for _, y in paragraph_batches(samples, charset, 6, curriculum, seed=0)]
    assert max(sizes) > 2


def test_a_bad_image_is_reported_and_the_rest_batched(written, tmp_path):
    out, _ = written
    samples, _ = read_paragraphs(out)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    (tmp_path / "bad.gt.txt").write_text("some text\n", encoding="utf-8")
    bad, errors = read_paragraphs(tmp_path)
    assert errors == [] and len(bad) == 1  # read lazily: the image is decoded when batched
    charset = Charset.from_texts(t for s in samples for t in s.lines)
    problems = []
    batches = list(paragraph_batches(samples + bad, charset, 4, errors=problems, shuffle=False))
    assert sum(len(y["n_lines"]) for _, y in batches) == 6
    assert len(problems) == 1 and "bad.png" in str(problems[0])


def test_line_pitch_is_measured_and_images_rescaled():
    synth = ParagraphSynthesizer(seed=2, min_lines=5, max_lines=5, degrade=False)
    par = synth.paragraph(0)
    true_pitch = np.mean(np.diff([(b[1] + b[3]) / 2 for b in par.boxes]))
    pitch = estimate_line_pitch(par.image)
    assert pitch is not None and abs(pitch - true_pitch) < 0.15 * true_pitch
    big = np.asarray(Image.fromarray(par.image).resize((par.image.shape[1] * 2, par.image.shape[0] * 2)))
    scaled, factor = rescale_to_pitch(big, pitch=40)
    assert 0.4 * 40 / true_pitch < factor < 0.6 * 40 / true_pitch
    assert abs(scaled.shape[0] - big.shape[0] * factor) <= 1
    one = ParagraphSynthesizer(seed=2, min_lines=1, max_lines=1, degrade=False).paragraph(0)
    assert estimate_line_pitch(one.image) is None  # a single line: no period
    blank = np.full((50, 80), 255, np.uint8)
    assert rescale_to_pitch(blank)[1] == 1.0  # an empty page is left as it is


def test_synth_command_writes_paragraphs(tmp_path, capsys):
    from keras_htr.cli.main import main

    out = tmp_path / "para"
    assert main(["synth", "--out", str(out), "--paragraphs", "2", "--max-lines", "2", "--clean", "--quiet"]) == 0
    assert f"2 paragraphs written to {out}" in capsys.readouterr().out
    samples, errors = read_paragraphs(out)
    assert errors == [] and len(samples) == 2 and all(1 <= len(s.lines) <= 2 for s in samples)
    assert main(["synth", "--out", str(out), "--paragraphs", "0"]) == 2
