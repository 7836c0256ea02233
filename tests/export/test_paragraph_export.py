"""SavedModel export of a paragraph model: loaded like TF Serving does (TF1 session loader, its own
process), the same lines as the Keras `ParagraphTranscriber`, bad elements reported one by one."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from tiny_lines import TINY_CRNN

from keras_htr.charset import Charset
from keras_htr.cli.main import main
from keras_htr.export.paragraph import export_paragraph_savedmodel
from keras_htr.models.paragraph import ParagraphModel
from keras_htr.paragraph_transcriber import ParagraphTranscriber

# Runs the "serving_default" signature on files' bytes as one batch; JSON on stdout.
SESSION_LOADER = """
import json, sys
import numpy as np
import tensorflow as tf
tf.compat.v1.disable_eager_execution()
batch = np.array([open(f, "rb").read() for f in sys.argv[2:]], dtype=object)
with tf.compat.v1.Session(graph=tf.Graph()) as session:
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], sys.argv[1])
    sig = meta.signature_def["serving_default"]
    out = session.run({k: v.name for k, v in sig.outputs.items()},
                      {sig.inputs["image_bytes"].name: batch})
def plain(v):
    if v.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(v).tolist() if v.size else []
    return v.tolist()
json.dump({k: plain(v) for k, v in out.items()}, sys.stdout)
"""


def block(lines, pitch=20):
    font = ImageFont.load_default(size=14)
    image = Image.new("L", (12 + 9 * max(len(t) for t in lines), 8 + pitch * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for k, text in enumerate(lines):
        draw.text((6, 4 + pitch * k), text, font=font, fill=0)
    return image


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny paragraph model that reads 3 lines at most (its end head never says stop), its
    export, and a batch of files: blocks, a blank page, bad bytes."""
    keras.utils.set_random_seed(2)
    model = ParagraphModel(TINY_CRNN, Charset("abc "), line_height=16, attention_units=16, max_lines=3)
    kernel, _ = model.stop_head.get_weights()
    model.stop_head.set_weights([np.zeros_like(kernel), np.array([20.0], np.float32)])
    folder = tmp_path_factory.mktemp("paragraph_export")
    files = []
    for name, image in (("two", block(["abc ab", "ca b"])), ("three", block(["a b", "cab", "bb a"])),
                        ("blank", Image.new("L", (90, 60), 255)), ("one", block(["abc cab"], 30))):
        files.append(folder / f"{name}.png")
        image.save(files[-1])
    files.append(folder / "text.png")
    files[-1].write_bytes(b"not an image")
    files.append(folder / "truncated.png")
    files[-1].write_bytes(files[0].read_bytes()[:70])
    files.append(folder / "two_again.jpg")
    block(["abc ab", "ca b"]).save(files[-1], quality=95)
    model.save(folder / "para.keras")
    version = export_paragraph_savedmodel(model, folder / "served")
    result = subprocess.run([sys.executable, "-c", SESSION_LOADER, version, *map(str, files)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return model, files, json.loads(result.stdout), folder


def test_served_lines_equal_the_keras_transcriber(exported):
    model, files, served, _ = exported
    local = ParagraphTranscriber(model).transcribe(files)
    assert served["text"] == [r.text for r in local]
    for k, r in enumerate(local):
        n = len(r.lines)
        assert served["n_lines"][k] == n and served["truncated"][k] == r.truncated
        assert served["lines"][k][:n] == [line.text for line in r.lines]
        assert all(t == "" for t in served["lines"][k][n:])
        np.testing.assert_allclose(served["line_scores"][k][:n], [li.confidence for li in r.lines], atol=1e-4)
        np.testing.assert_allclose(served["line_y"][k][:n], [li.y_centre for li in r.lines], atol=0.1)
    assert served["n_lines"][:4] == [3, 3, 0, 3] and served["truncated"][:4] == [True, True, False, True]
    assert served["text"][2] == ""  # a blank page reads no line


def test_bad_elements_are_reported_and_the_rest_read(exported):
    _, files, served, _ = exported
    assert served["error"][:4] == ["", "", "", ""] and served["error"][6] == ""
    assert "not a PNG" in served["error"][4] and "corrupt" in served["error"][5]
    assert served["n_lines"][4:6] == [0, 0] and served["text"][4:6] == ["", ""]
    assert served["line_y"][4] == [-1.0] * len(served["line_y"][4])


def test_export_command_dispatches_on_the_model_kind(exported, capsys):
    _, _, _, folder = exported
    out = folder / "cli"
    assert main(["export", "--model", str(folder / "para.keras"), "--format", "savedmodel",
                 "--out", str(out)]) == 0
    assert (out / "1" / "saved_model.pb").is_file()
    meta = json.loads((out / "1" / "assets.extra" / "keras_htr.json").read_text())
    assert meta["format"] == "keras_htr.paragraph_savedmodel" and meta["max_lines"] == 3
    assert main(["export", "--model", str(folder / "para.keras"), "--format", "tflite",
                 "--out", str(folder / "p.tflite")]) == 2
    assert "savedmodel only" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [0, -5, 2.5])
def test_a_bad_max_pixels_is_refused_before_tracing(exported, tmp_path, bad):
    model = exported[0]
    with pytest.raises(ValueError, match="max_pixels"):
        export_paragraph_savedmodel(model, tmp_path / "served", max_pixels=bad)
    assert not (tmp_path / "served").exists()
