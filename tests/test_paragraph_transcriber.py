"""ParagraphTranscriber and `keras-htr transcribe` with a paragraph model: scaling, lines and
their positions, the writers (PAGE XML, attention maps), bad input, dispatch on the model file."""

import json
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont
from tiny_lines import TINY_CRNN, render_line, write_lines

from keras_htr.charset import Charset
from keras_htr.cli.main import main
from keras_htr.data.paragraph import read_paragraphs, rescale_to_pitch
from keras_htr.decoders.greedy import greedy_decode
from keras_htr.models.paragraph import ParagraphModel
from keras_htr.paragraph_transcriber import (
    ParagraphTranscriber,
    attention_map,
    page_xml,
    prepare_block,
)
from keras_htr.transcriber import Transcriber, load_transcriber

CHARSET = Charset("abc ")
LINES = ["abc cab", "ca bb", "bca a ab"]


def paragraph_image(lines, pitch=20, indent=6):
    """uint8 gray: `lines` written `pitch` px apart (PIL's font, ink ~4..18 px below each top)."""
    font = ImageFont.load_default(size=14)
    image = Image.new("L", (2 * indent + 9 * max(len(t) for t in lines), 8 + pitch * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for k, text in enumerate(lines):
        draw.text((indent, 4 + pitch * k), text, font=font, fill=0)
    return np.asarray(image)


def tiny(max_lines=4, stop_bias=None):
    keras.utils.set_random_seed(1)
    model = ParagraphModel(TINY_CRNN, CHARSET, line_height=16, attention_units=16, max_lines=max_lines)
    if stop_bias is not None:  # +: never says "stop" (reads max_lines); -: reads none
        kernel, _ = model.stop_head.get_weights()
        model.stop_head.set_weights([np.zeros_like(kernel), np.array([stop_bias], np.float32)])
    return model


class FixedRows(ParagraphModel):
    """A ParagraphModel whose attention reads given feature rows, one line each, then stops."""

    rows = (2, 7, 12)

    def attend(self, windows, height, width, steps, training=False):
        n_rows, batch = tf.shape(windows)[1], tf.shape(windows)[0]
        t = tf.range(steps)
        row = tf.gather(tf.constant(self.rows), tf.minimum(t, len(self.rows) - 1))
        attention = tf.one_hot(row, n_rows, dtype=windows.dtype)
        stop = tf.cast(t < len(self.rows), windows.dtype)
        return (tf.tile(attention[None], [batch, 1, 1]), tf.tile(stop[None], [batch, 1]))


@pytest.fixture(scope="module")
def fixed():
    keras.utils.set_random_seed(3)  # weights that read a non-empty text on each line
    return FixedRows(TINY_CRNN, CHARSET, line_height=16, attention_units=16, max_lines=5)


def test_prepare_block_scales_like_the_training_data_reader():
    """The in-graph scaling (also the SavedModel's) finds the line pitch as the numpy reader does."""
    for pitch in (20, 27, 52):
        gray = paragraph_image(LINES, pitch=pitch)
        ink, factor, has_ink = prepare_block(gray)
        _, expected = rescale_to_pitch(gray)
        assert float(factor) == pytest.approx(expected, rel=1e-5) and bool(has_ink)
        assert ink.shape[0] == round(gray.shape[0] * expected)
    one = render_line("abc")  # one line: its ink scaled to 0.75 x 40 px
    _, factor, _ = prepare_block(one)
    assert float(factor) == pytest.approx(rescale_to_pitch(one)[1], rel=1e-5)


def test_lines_text_and_positions_come_from_the_attention(fixed):
    gray = paragraph_image(LINES)  # pitch 20 -> scaled x2; rows of 8 scaled px, windows of 2
    [result] = ParagraphTranscriber(fixed).transcribe([gray])
    assert result.ok and len(result.lines) == 3 and not result.truncated
    assert result.image_size == (gray.shape[1], gray.shape[0])
    # The text is the model's own greedy reading of each attended line, joined by "\n".
    ink, _, _ = prepare_block(gray)
    out = fixed.read_paragraph({"image": ink[None, ..., None], "height": [ink.shape[0]],
                                "width": [ink.shape[1]]})
    ids, _ = greedy_decode(out["logits"][0, :3], np.repeat(out["lengths"].numpy(), 3))
    assert result.text == "\n".join(CHARSET.decode(r) for r in ids.numpy())
    assert result.text.split("\n") == [line.text for line in result.lines]
    # Row r reads scaled rows 8r..8r+16, i.e. image rows 4r..4r+8: each line's drawn ink.
    dark = gray < 128
    for k, (line, r) in enumerate(zip(result.lines, FixedRows.rows)):
        assert (line.y_top, line.y_bottom, line.y_centre) == pytest.approx((4 * r, 4 * r + 8, 4 * r + 4), abs=0.2)
        band = dark[4 + 20 * k : 20 + 20 * k]
        cols = np.nonzero(band.any(0))[0]
        assert abs(line.x_start - cols[0]) <= 1.5 and abs(line.x_end - cols[-1] - 1) <= 1.5
        assert 0.0 <= line.confidence <= 1.0
    # Each line's attention over the image rows peaks inside its line.
    assert result.attention.shape == (3, gray.shape[0])
    assert [int(a.argmax()) // 20 for a in result.attention] == [0, 1, 2]


def test_page_xml_reads_back_and_attention_map_colours_each_line(fixed, tmp_path):
    gray = paragraph_image(LINES)
    [result] = ParagraphTranscriber(fixed).transcribe([gray])
    Image.fromarray(gray).save(tmp_path / "block.png")
    (tmp_path / "block.xml").write_text(page_xml(result, "block.png"), encoding="utf-8")
    [sample], errors = read_paragraphs(tmp_path / "block.xml")
    assert not errors and list(sample.lines) == [t.strip() for t in result.text.split("\n")]
    for (x0, y0, x1, y1), line in zip(np.array(sample.boxes) + sample.region[:2] * 2, result.lines):
        assert (x0, y0, x1, y1) == pytest.approx((line.x_start, line.y_top, line.x_end, line.y_bottom), abs=1)
    picture = attention_map(gray, result).astype(int)
    centres = [round(line.y_centre) for line in result.lines]
    colours = [tuple(picture[y, 0]) for y in centres]  # the paper at the left, tinted
    assert len(set(colours)) == 3 and all(len(set(c)) > 1 for c in colours)
    assert tuple(picture[0, 0]) == (255, 255, 255)  # the top margin: no line read it


def test_empty_page_one_line_and_a_block_beyond_the_cap():
    reader = ParagraphTranscriber(tiny(max_lines=4, stop_bias=20.0))
    blank = np.full((120, 200), 255, np.uint8)
    many = paragraph_image(["ab c"] * 25)  # 25 lines; the model reads at most 4
    start = time.perf_counter()
    empty, one, block = reader.transcribe([blank, render_line("abc ab"), many])
    assert time.perf_counter() - start < 30  # no runaway decoding
    # No ink: no line, and the model (which would read 4) is not asked to invent one.
    assert empty.ok and empty.text == "" and empty.lines == () and not empty.truncated
    assert one.ok and 1 <= len(one.lines) <= 4
    assert block.ok and len(block.lines) == 4 and block.truncated
    assert block.text.count("\n") == 3


def test_a_bad_image_among_many_is_reported_by_name(tmp_path, fixed):
    good = tmp_path / "good.png"
    Image.fromarray(paragraph_image(LINES)).save(good)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(good.read_bytes()[:60])
    results = ParagraphTranscriber(fixed).transcribe(
        [corrupt, good, tmp_path / "missing.png", np.zeros((1, 40), np.uint8), good], batch_size=2
    )
    assert [r.ok for r in results] == [False, True, False, False, True]
    assert "corrupt.png" in results[0].error and "missing.png" in results[2].error
    assert "too small" in results[3].error
    assert results[1].text == results[4].text and len(results[1].lines) == 3


def test_load_transcriber_dispatches_on_the_model_in_the_file(tmp_path):
    from keras_htr.data.preprocess import PreprocessConfig
    from keras_htr.models.line_model import LineModel
    from keras_htr.paragraph_transcriber import load_paragraph_model

    tiny().save(tmp_path / "para.keras")
    LineModel(TINY_CRNN, CHARSET, PreprocessConfig(height=16)).save(tmp_path / "line.keras")
    assert isinstance(load_transcriber(tmp_path / "para.keras"), ParagraphTranscriber)
    assert isinstance(load_transcriber(tmp_path / "line.keras"), Transcriber)
    with pytest.raises(ValueError, match="not a keras-htr paragraph model"):
        load_paragraph_model(tmp_path / "line.keras")


def test_transcribe_command_with_a_paragraph_model(tmp_path, capsys):
    model = tmp_path / "para.keras"
    tiny(max_lines=3, stop_bias=20.0).save(model)
    images = []
    for name, lines in (("a", LINES), ("b", LINES[:2])):
        images.append(tmp_path / f"{name}.png")
        Image.fromarray(paragraph_image(lines)).save(images[-1])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    base = ["transcribe", "--model", str(model), "--quiet"]

    assert main([*base, "--format", "jsonl", *map(str, images), str(bad)]) == 1
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in rows] == [*map(str, images), str(bad)] and "error" in rows[2]
    for row in rows[:2]:
        assert row["text"] == "\n".join(line["text"] for line in row["lines"]) and len(row["lines"]) == 3
        assert set(row["lines"][0]) == {"text", "confidence", "y_top", "y_bottom", "y_centre",
                                        "x_start", "x_end"}

    out, maps = tmp_path / "page", tmp_path / "maps"
    assert main([*base, "--format", "page", "--out-dir", str(out), "--attention-maps", str(maps),
                 *map(str, images)]) == 0
    written = capsys.readouterr().out.split()
    assert written == [str(out / "a.xml"), str(out / "b.xml")]
    samples, errors = read_paragraphs(out)
    assert not errors and [len(s.lines) for s in samples] == [3, 3]
    assert Image.open(maps / "a.attention.png").mode == "RGB"
    # Existing files are not overwritten: an error naming the file, exit status 1.
    before = (out / "a.xml").read_text()
    assert main([*base, "--format", "page", "--out-dir", str(out), str(images[0])]) == 1
    assert "a.xml" in capsys.readouterr().err and (out / "a.xml").read_text() == before

    assert main([*base, "--format", "page", str(images[0])]) == 2  # no --out-dir
    assert "--out-dir" in capsys.readouterr().err


def test_paragraph_only_options_and_init_from_refuse_the_other_kind(tmp_path, capsys):
    from keras_htr.data.preprocess import PreprocessConfig
    from keras_htr.models.line_model import LineModel

    line = tmp_path / "line.keras"
    LineModel(TINY_CRNN, CHARSET, PreprocessConfig(height=16)).save(line)
    image = tmp_path / "a.png"
    Image.fromarray(render_line("abc")).save(image)
    assert main(["transcribe", "--model", str(line), "--attention-maps", str(tmp_path / "m"),
                 "--quiet", str(image)]) == 2
    assert "paragraph model" in capsys.readouterr().err
    para = tmp_path / "para.keras"
    tiny().save(para)
    data = write_lines(tmp_path / "lines", ["abc", "cab"])
    assert main(["train", "--train", str(data), "--val", str(data), "--init-from", str(para),
                 "--out", str(tmp_path / "run"), "--epochs", "1", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "para.keras holds a keras_htr>ParagraphModel, not a keras-htr line model" in err
    assert not (tmp_path / "run" / "state.json").exists()


def test_pitch_none_reads_the_image_at_its_own_scale(fixed):
    gray = paragraph_image(LINES, pitch=30)  # 98 rows: feature rows 0..12
    [result] = ParagraphTranscriber(fixed, pitch=None).transcribe([gray])
    # No scaling: row r reads image rows 8r..8r+16 (scaled by 4/3, it would be 6r..6r+12).
    assert [line.y_top for line in result.lines] == pytest.approx([8 * r for r in FixedRows.rows], abs=0.2)
