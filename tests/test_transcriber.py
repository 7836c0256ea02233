import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tiny_lines import TEXTS, TINY_CRNN, render_line

from keras_htr.charset import Charset
from keras_htr.models import build_model
from keras_htr.results import Transcription
from keras_htr.transcriber import MODEL_ENV, Transcriber, load_transcriber


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header announces `width` x `height` pixels (a decompression bomb)."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def lines():
    return [render_line(t) for t in TEXTS]


@pytest.fixture(scope="module")
def transcriber():
    return Transcriber(build_model(TINY_CRNN, Charset.from_texts(TEXTS)))


def save(path, array):
    Image.fromarray(array).save(path)
    return str(path)


def test_bad_inputs_reported_per_file_and_others_unaffected(transcriber, lines, tmp_path):
    good = [save(tmp_path / f"good{i}.png", g) for i, g in enumerate(lines[:2])]
    png = (tmp_path / "good0.png").read_bytes()
    bad = {
        "empty": tmp_path / "empty.png",
        "truncated": tmp_path / "truncated.png",
        "text": tmp_path / "text.png",
        "bomb": tmp_path / "bomb.png",
        "missing": tmp_path / "missing.png",
    }
    bad["empty"].write_bytes(b"")
    bad["truncated"].write_bytes(png[: len(png) // 2])
    bad["text"].write_bytes(b"hello, I am not an image\n")
    bad["bomb"].write_bytes(png_claiming_size(100_000, 100_000))
    odd = [
        save(tmp_path / "pixel.png", np.zeros((1, 1), np.uint8)),
        save(tmp_path / "black.png", np.zeros((40, 300), np.uint8)),
        save(tmp_path / "white.png", np.full((40, 300), 255, np.uint8)),
        save(tmp_path / "wide.png", np.full((24, 20_000), 255, np.uint8)),
    ]
    inputs = [good[0]] + [str(p) for p in bad.values()] + odd + [good[1]]
    results = transcriber.transcribe(inputs, batch_size=3)

    assert [r.source for r in results] == inputs
    for path in bad.values():
        result = results[inputs.index(str(path))]
        assert result.error and str(path) in result.error and "\n" not in result.error
        assert result.text == ""
    for path, fails in zip(odd, [True, False, False, False]):  # only 1x1 is refused
        result = results[inputs.index(path)]
        assert isinstance(result, Transcription)
        assert (path in result.error) if fails else result.error is None, result
    alone = transcriber.transcribe(good)
    assert [r.error for r in alone] == [None, None]
    assert [(r.text, round(r.score, 5)) for r in alone] == [
        (r.text, round(r.score, 5)) for r in (results[0], results[-1])
    ]


def test_a_batch_the_model_fails_on_fails_alone(transcriber, lines, monkeypatch):
    # The first batch breaks the model (as out of memory on a huge line would): its line gets
    # the error, named by source, and the other batches are transcribed as they are alone.
    expected = transcriber.transcribe(lines)
    real_logits, calls = transcriber._logits, []

    def failing_logits(inputs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("OOM when allocating tensor\nwith shape [1, 2, 3]")
        return real_logits(inputs)

    monkeypatch.setattr(transcriber, "_logits", failing_logits)
    results = transcriber.transcribe(lines, batch_size=1)
    failed = [r for r in results if r.error]
    assert len(calls) == len(lines) and len(failed) == 1 and failed[0].text == ""
    assert failed[0].error == f"{failed[0].source}: recognition failed (RuntimeError: with shape [1, 2, 3])"
    others = [(r, e) for r, e in zip(results, expected) if not r.error]
    # Same texts; scores equal up to float rounding (a batch of 1 pads nothing).
    assert [r.text for r, _ in others] == [e.text for _, e in others]
    assert [r.score for r, _ in others] == pytest.approx([e.score for _, e in others], rel=1e-5)


def test_arrays_bytes_and_beam(transcriber, lines):
    png = io.BytesIO()
    Image.fromarray(lines[0]).save(png, format="PNG")
    results = transcriber.transcribe([lines[0], png.getvalue()], beam=3)
    assert [r.source for r in results] == ["<array 0>", "<bytes 1>"]
    assert results[0].text == results[1].text and results[0].error is None
    assert 0.0 <= results[0].score <= 1.0
    with pytest.raises(ValueError, match="beam"):
        transcriber.transcribe([lines[0]], beam=0)


def test_load_transcriber_from_env_and_clear_error_when_absent(transcriber, tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "nowhere.keras"))
    with pytest.raises(FileNotFoundError, match="nowhere.keras"):
        load_transcriber(None)
    path = tmp_path / "model.keras"
    transcriber.model.save(path)
    monkeypatch.setenv(MODEL_ENV, str(path))
    loaded = load_transcriber()
    assert loaded.charset == transcriber.charset


def test_default_model_is_the_package_data_unless_the_env_names_one(tmp_path, monkeypatch):
    import keras_htr
    from keras_htr.transcriber import SHIPPED_MODEL, default_model_path

    monkeypatch.delenv(MODEL_ENV, raising=False)
    assert default_model_path() == SHIPPED_MODEL
    assert SHIPPED_MODEL.parent.parent == Path(keras_htr.__file__).resolve().parent
    monkeypatch.setenv(MODEL_ENV, str(tmp_path / "mine.keras"))
    assert default_model_path() == tmp_path / "mine.keras"
