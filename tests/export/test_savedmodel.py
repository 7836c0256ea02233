"""The SavedModel for TF Serving: signatures, the session loader, parity with Keras, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from export_line_images import encode, render_line

HERE = os.path.dirname(os.path.abspath(__file__))


def bomb_png() -> bytes:
    """A valid small PNG whose IHDR claims 100000 x 100000 pixels."""
    data = bytearray(encode(render_line("ab", seed=1)))
    data[16:24] = (100_000).to_bytes(4, "big") + (100_000).to_bytes(4, "big")
    return bytes(data)


def bomb_jpeg() -> bytes:
    """A valid small JPEG whose frame header claims 60000 x 60000 pixels."""
    data = bytearray(encode(render_line("ab", seed=2), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (60_000).to_bytes(2, "big") * 2
    return bytes(data)


def bomb_gif_bmp():
    """A GIF and a BMP whose headers claim 60000 x 60000 pixels."""
    gif = bytearray(encode(render_line("ab", seed=5), "GIF"))
    gif[6:10] = (60_000).to_bytes(2, "little") * 2
    bmp = bytearray(encode(render_line("ab", seed=6), "BMP"))
    bmp[18:26] = (60_000).to_bytes(4, "little") + (-60_000).to_bytes(4, "little", signed=True)
    return bytes(gif), bytes(bmp)


BAD_INPUTS = {
    "empty": (b"", "not a PNG"),
    "text": (b"hello, this is not an image", "not a PNG"),
    "bomb_png": (bomb_png(), "too large"),
    "bomb_jpeg": (bomb_jpeg(), "too large"),
    "bomb_gif": (bomb_gif_bmp()[0], "too large"),
    "bomb_bmp": (bomb_gif_bmp()[1], "too large"),
    "truncated_png": (encode(render_line("truncated", seed=3))[:80], "corrupt"),
    "garbage_jpeg": (b"\xff\xd8\xff\xe0" + b"\x00" * 50, "corrupt"),
    "one_pixel_high": (encode(render_line("ab", seed=4).resize((40, 1))), "too small"),
}


@pytest.fixture(scope="module")
def session_outputs(savedmodel_dir, line_files, tmp_path_factory):
    """Good lines, then every bad input, then a good line again, as one batch."""
    folder = tmp_path_factory.mktemp("bad")
    bad_files = []
    for name, (data, _) in BAD_INPUTS.items():
        path = folder / name
        path.write_bytes(data)
        bad_files.append(str(path))
    files = line_files + bad_files + line_files[:1]
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "session_loader.py"), savedmodel_dir, *files],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


@pytest.mark.slow
def test_saved_model_cli_lists_both_signatures(savedmodel_dir):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli, "show", "--dir", savedmodel_dir, "--all"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    serving = out[out.index("signature_def['serving_default']") :]
    serving = serving[: serving.index("Method name")]
    assert "inputs['image_bytes']" in serving and "DT_STRING" in serving
    for name in ("text", "score", "error"):
        assert f"outputs['{name}']" in serving
    logits = out[out.index("signature_def['logits']") :]
    assert "outputs['logits']" in logits and "outputs['lengths']" in logits


def test_layout_and_metadata(savedmodel_dir, model):
    from keras_htr.export.savedmodel import read_metadata

    assert os.path.basename(savedmodel_dir) == "3"
    assert os.path.isfile(os.path.join(savedmodel_dir, "saved_model.pb"))
    info = read_metadata(savedmodel_dir)
    assert info["charset"] == model.charset.get_config()
    assert info["preprocess_config"]["height"] == 32
    # Each weight is stored once (tracking the model too would store it twice).
    data = os.path.join(savedmodel_dir, "variables", "variables.data-00000-of-00001")
    assert os.path.getsize(data) < 1.5 * 4 * model.count_params()
    # No staging directory is left beside the version.
    assert os.listdir(os.path.dirname(savedmodel_dir)) == ["3"]


@pytest.mark.slow
def test_session_loader_text_equals_keras(session_outputs, keras_texts):
    out = session_outputs["serving_default"]
    n = len(keras_texts)
    assert out["text"][:n] == keras_texts
    assert out["error"][:n] == [""] * n
    assert all(0.0 < s <= 1.0 for s in out["score"][:n])
    # The good line after the bad ones is unaffected by them.
    assert out["text"][-1] == keras_texts[0]
    assert len(set(keras_texts)) > 1  # the lines do not all read the same


@pytest.mark.slow
def test_session_loader_logits_equal_keras(session_outputs, keras_logits, line_files):
    out = session_outputs["logits"]
    for i, ((_, want), path) in enumerate(zip(keras_logits, line_files)):
        assert out["lengths"][i] == len(want), path
        got = np.array(out["logits"][i])[: len(want)]
        np.testing.assert_allclose(got, want, atol=2e-3, err_msg=path)
        np.testing.assert_array_equal(got.argmax(-1), want.argmax(-1), err_msg=path)
        assert not np.any(np.array(out["logits"][i])[len(want) :]), path  # zero past the line


@pytest.mark.slow
def test_bad_elements_are_reported_per_element(session_outputs, line_files):
    n = len(line_files)
    for name, out in session_outputs.items():
        errors = out["error"][n : n + len(BAD_INPUTS)]
        for (bad, (_, expected)), error in zip(BAD_INPUTS.items(), errors):
            assert expected in error, (name, bad, error)
    serving = session_outputs["serving_default"]
    assert serving["text"][n : n + len(BAD_INPUTS)] == [""] * len(BAD_INPUTS)
    assert serving["score"][n : n + len(BAD_INPUTS)] == [-1.0] * len(BAD_INPUTS)
    assert session_outputs["logits"]["lengths"][n : n + len(BAD_INPUTS)] == [0] * len(BAD_INPUTS)


def test_all_bad_and_empty_batches(servable):
    out = servable.run("serving_default", {"image_bytes": np.array([b"", b"x"], dtype=object)})
    assert out["text"].tolist() == [b"", b""] and out["score"].tolist() == [-1.0, -1.0]
    out = servable.run("logits", {"image_bytes": np.zeros([0], dtype=object)})
    assert out["logits"].shape[0] == 0 and out["lengths"].shape == (0,)


def test_export_arguments_are_checked(model, savedmodel_dir, tmp_path):
    from keras_htr.export import export_savedmodel

    with pytest.raises(FileExistsError, match="overwrite"):
        export_savedmodel(model, os.path.dirname(savedmodel_dir), version=3)
    with pytest.raises(ValueError, match="argument `version`"):
        export_savedmodel(model, tmp_path, version=0)
    with pytest.raises(ValueError, match="argument `model`"):
        export_savedmodel(object(), tmp_path)
    assert not os.listdir(tmp_path)
