import json

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from keras_htr.charset import Charset
from keras_htr.cli.main import main
from keras_htr.data import read_dataset
from keras_htr.data.pipeline import make_dataset
from keras_htr.evaluation import ErrorRateCallback, Evaluation, evaluate, transcriber_for
from keras_htr.models import build_model
from keras_htr.models.config import CRNNConfig, ModelConfig
from keras_htr.transcriber import Transcriber, load_line_model

TEXTS = ["abc", "cab", "bca a", "ab ba", "a b c a b c a"]
STEPS = 150
TINY_CRNN = ModelConfig(
    arch="crnn",
    crnn=CRNNConfig(
        conv_filters=(8, 16, 16), pool_sizes=((2, 2), (2, 2), (2, 1)), lstm_units=16,
        lstm_layers=1, dropout=0.0,
    ),
)


def render_line(text):
    font = ImageFont.load_default(size=28)
    image = Image.new("L", (24 + 18 * len(text), 44), 255)
    ImageDraw.Draw(image).text((12, 6), text, font=font, fill=0)
    return np.asarray(image)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Line images with .gt.txt, plus one image too small to be a line."""
    folder = tmp_path_factory.mktemp("lines")
    for i, text in enumerate(TEXTS):
        Image.fromarray(render_line(text)).save(folder / f"line{i}.png")
        (folder / f"line{i}.gt.txt").write_text(text + "\n", encoding="utf-8")
    Image.new("L", (40, 1), 255).save(folder / "broken.png")
    (folder / "broken.gt.txt").write_text("abc\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def charset():
    return Charset.from_texts(TEXTS)


def test_callback_cli_and_python_api_give_the_same_cer(folder, charset, tmp_path, capsys):
    samples = read_dataset(folder, lazy=True)
    assert len(samples) == len(TEXTS) + 1  # the broken line fails in the Transcriber
    keras.utils.set_random_seed(3)
    model = build_model(TINY_CRNN, charset)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    readable = [s for s in samples if s.source.find("broken") < 0]
    train_ds = make_dataset(readable, charset, batch_size=8, seed=0, steps_per_epoch=STEPS)
    # Enough steps that the model writes something (neither all blanks nor perfect), so equal
    # rates are not equal by accident.
    callback = ErrorRateCallback(samples)
    history = model.fit(train_ds, epochs=1, steps_per_epoch=STEPS, callbacks=[callback], verbose=0)
    from_callback = history.history["val_cer"][0]
    path = tmp_path / "model.keras"
    model.save(path)

    assert main(["evaluate", "--json", "--model", str(path), str(folder)]) == 0
    from_cli = json.loads(capsys.readouterr().out)
    from_api = evaluate(model, samples)
    from_reloaded = evaluate(load_line_model(path), read_dataset(folder))

    assert isinstance(from_api, Evaluation)
    assert from_callback == from_cli["cer"] == from_api.cer == from_reloaded.cer
    assert history.history["val_wer"][0] == from_cli["wer"] == from_api.wer
    assert from_cli["lines"] == from_api.lines == len(TEXTS) + 1
    # The failed line is reported and counted as empty output (3 characters missed).
    assert len(from_api.failed) == 1 and "broken.png" in from_api.failed[0]
    texts = [t.text for t in Transcriber(model).transcribe([s.image for s in readable])]
    assert 0.0 < from_api.cer < 1.0, texts
    counts = from_api.counts
    assert counts.chars == sum(map(len, TEXTS)) + 3


def test_model_is_traced_once_not_per_epoch_or_call(folder, charset, monkeypatch):
    model = build_model(TINY_CRNN, charset)
    traces = []
    real_output_lengths = model.output_lengths

    def counting_output_lengths(width):
        traces.append(1)  # Python runs only while a tf.function traces
        return real_output_lengths(width)

    monkeypatch.setattr(model, "output_lengths", counting_output_lengths)
    samples = read_dataset(folder)
    callback = ErrorRateCallback(samples)
    callback.set_model(model)
    counts = []
    for epoch in range(3):
        logs = {}
        callback.on_epoch_end(epoch, logs)
        assert set(logs) == {"val_cer", "val_wer"}
        counts.append(len(traces))
    evaluate(model, samples)
    evaluate(model, samples, batch_size=16)
    assert counts[0] >= 1
    assert counts == [counts[0]] * 3 and len(traces) == counts[0]
    assert transcriber_for(model) is transcriber_for(model)


def test_bad_arguments(folder, charset):
    model = build_model(TINY_CRNN, charset)
    samples = read_dataset(folder)
    with pytest.raises(ValueError, match="samples"):
        ErrorRateCallback(make_dataset(samples, charset))
    with pytest.raises(ValueError, match="chunk"):
        evaluate(model, samples, chunk=0)
    with pytest.raises(ValueError, match="model"):
        evaluate(object(), samples)
