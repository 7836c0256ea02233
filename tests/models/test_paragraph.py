"""ParagraphModel: build, save/load, padding, the line cap, training, init from a line model."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from tiny_lines import TINY_CRNN

from keras_htr.charset import Charset
from keras_htr.data.paragraph import prepare_paragraph
from keras_htr.models.line_model import LineModel, check_line_model_file, saved_model_kind
from keras_htr.models.paragraph import PARAGRAPH_MODEL_NAME, ParagraphModel

keras = pytest.importorskip("keras")

PARAGRAPHS = [["abc", "cab"], ["bca a"], ["ab ba", "cc", "abc"], ["cab ab", "c a"]]
CHARSET = Charset("abc ")


def paragraph_image(lines, pitch=20):
    """uint8 gray: lines written `pitch` px apart with PIL's font (x-height ~7 px)."""
    font = ImageFont.load_default(size=14)
    width = 16 + 9 * max(len(t) for t in lines)
    image = Image.new("L", (width, 6 + pitch * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for k, text in enumerate(lines):
        draw.text((6, 4 + pitch * k), text, font=font, fill=0)
    return np.asarray(image)


def batch(paragraphs):
    inks = [prepare_paragraph(paragraph_image(p)) for p in paragraphs]
    h = max(i.shape[0] for i in inks)
    w = max(i.shape[1] for i in inks)
    images = np.zeros((len(inks), h, w, 1), np.float32)
    for k, ink in enumerate(inks):
        images[k, : ink.shape[0], : ink.shape[1], 0] = ink
    n = np.array([len(p) for p in paragraphs], np.int32)
    labels = np.full((len(paragraphs), n.max(), 8), -1, np.int32)
    for k, p in enumerate(paragraphs):
        for t, text in enumerate(p):
            ids = CHARSET.encode(text)
            labels[k, t, : len(ids)] = ids
    x = {"image": images, "height": np.array([i.shape[0] for i in inks], np.int32),
         "width": np.array([i.shape[1] for i in inks], np.int32), "n_lines": n}
    return x, {"labels": labels, "n_lines": n}


def tiny(**kwargs):
    return ParagraphModel(TINY_CRNN, CHARSET, line_height=16, attention_units=16, **kwargs)


def test_save_load_round_trip_same_outputs(tmp_path):
    model = tiny(max_lines=6)
    x, _ = batch(PARAGRAPHS[:2])
    before = model.read_paragraph(x)
    path = tmp_path / "para.keras"
    model.save(path)
    assert saved_model_kind(path) == PARAGRAPH_MODEL_NAME  # phase 2 dispatches on this
    with pytest.raises(ValueError, match="not a keras-htr line model"):
        check_line_model_file(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, ParagraphModel) and loaded.max_lines == 6
    after = loaded.read_paragraph(x)
    for key in ("logits", "stop", "attention", "n_lines"):
        np.testing.assert_allclose(before[key].numpy(), after[key].numpy(), atol=1e-5)


def test_padded_batch_equals_each_paragraph_alone():
    model = tiny(max_lines=4)
    x, _ = batch(PARAGRAPHS)
    together = model(x, training=False, steps=4)
    for k, p in enumerate(PARAGRAPHS):
        alone_x, _ = batch([p])
        alone = model(alone_x, training=False, steps=4)
        rows = alone["attention"].shape[2]
        frames = int(alone["lengths"][0])
        np.testing.assert_allclose(together["attention"][k, :, :rows], alone["attention"][0], atol=1e-5)
        assert np.allclose(together["attention"][k, :, rows:], 0.0)  # no attention on padding
        np.testing.assert_allclose(together["stop"][k], alone["stop"][0], atol=1e-5)
        np.testing.assert_allclose(
            together["logits"][k, :, :frames], alone["logits"][0, :, :frames], atol=1e-4
        )


@pytest.mark.parametrize("bias, expected", [(20.0, 5), (-20.0, 0)])
def test_end_head_and_cap_bound_the_lines(bias, expected):
    model = tiny(max_lines=5)
    kernel, _ = model.stop_head.get_weights()
    model.stop_head.set_weights([np.zeros_like(kernel), np.array([bias], np.float32)])
    x, _ = batch(PARAGRAPHS[:2])
    out = model.read_paragraph(x)
    # Never more steps than the cap, even if the head never says "stop".
    assert out["stop"].shape[1] == 5
    assert out["n_lines"].numpy().tolist() == [expected, expected]
    assert out["logits"].shape[1] == max(expected, 1)


def test_encoder_and_line_layers_start_from_the_line_model():
    from keras_htr.data.preprocess import PreprocessConfig

    line = LineModel(TINY_CRNN, CHARSET, PreprocessConfig(height=16))
    model = ParagraphModel.from_line_model(line, attention_units=16)
    source = {layer.name: layer for layer in line.layers}
    shared = model.line_layers()
    assert [layer.name for layer in shared][:2] == ["conv0", "conv0_bn"]
    for layer in shared:
        for a, b in zip(layer.get_weights(), source[layer.name].get_weights()):
            np.testing.assert_array_equal(a, b)
    assert model.charset == line.charset and model.window == 2


def test_rejects_a_non_crnn_config():
    from tiny_lines import TINY_MDLSTM

    with pytest.raises(ValueError, match="CRNN"):
        ParagraphModel(TINY_MDLSTM, CHARSET)


@pytest.mark.slow
def test_ctc_loss_is_finite_and_decreases_on_a_tiny_overfit():
    keras.utils.set_random_seed(0)
    model = tiny(max_lines=4)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    x, y = batch(PARAGRAPHS)
    first = float(model.compute_loss(x, y, model(x, training=False)))
    assert np.isfinite(first)
    history = model.fit(x, y, batch_size=4, epochs=35, verbose=0, shuffle=False)
    ctc = history.history["ctc"]
    assert np.all(np.isfinite(history.history["loss"]))
    assert ctc[-1] < 0.5 * ctc[0], ctc[::5]
    assert history.history["stop_loss"][-1] < history.history["stop_loss"][0]


def test_position_loss_rewards_attention_on_the_line_centre():
    model = tiny()
    # Window i of this model (stride 8, 2 rows) is centred at 8 * (i + 1) px.
    centres = np.array([[16.0, 36.0, -1.0]], np.float32)  # rows 1, 3.5; the third unknown
    right = np.zeros((1, 3, 6), np.float32)
    right[0, 0, 1] = 1.0
    right[0, 1, 3:5] = 0.5
    right[0, 2, 0] = 1.0  # ignored: no centre
    wrong = np.roll(right, 2, axis=2)
    (right_sum, known), (wrong_sum, _) = (model._position_nll(centres, a) for a in (right, wrong))
    assert float(known) == 2.0
    assert float(right_sum) / 2 < 0.8
    assert float(wrong_sum) / 2 > 10.0


@pytest.mark.slow
def test_train_paragraph_command_checkpoints_and_resumes(tmp_path):
    """`keras-htr train-paragraph` from a (tiny) line model: best/last/state after each epoch,
    --resume continues at the next epoch, a finished run is not overwritten."""
    import json

    from keras_htr.cli.main import main
    from keras_htr.data.preprocess import PreprocessConfig
    from keras_htr.data.synthetic.paragraph import write_paragraphs

    data = tmp_path / "data"
    write_paragraphs(data, 2, seed=4, max_lines=2, degrade=False, progress=False)
    line = LineModel(TINY_CRNN, Charset.from_texts(
        t for f in data.glob("*.gt.txt") for t in f.read_text("utf-8").splitlines()
    ), PreprocessConfig(height=16))
    line.save(tmp_path / "line.keras")
    run = tmp_path / "run"
    common = ["--out", str(run), "--steps-per-epoch", "1", "--batch-size", "2", "--max-val", "1", "--quiet"]
    assert main(["train-paragraph", "--train", str(data), "--val", str(data), "--init-from",
                 str(tmp_path / "line.keras"), "--epochs", "1", "--curriculum", "1,2", *common]) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 1 and (run / "best.keras").is_file() and (run / "last.keras").is_file()
    assert 0.0 <= state["history"]["val_cer"][0] and "val_line_accuracy" in state["history"]
    assert main(["train-paragraph", "--train", str(data), "--val", str(data), "--epochs", "1",
                 *common]) == 2  # refuses to overwrite a run
    assert main(["train-paragraph", "--resume", "--epochs", "2", *common]) == 0
    state = json.loads((run / "state.json").read_text())
    assert state["epoch"] == 2 and len(state["history"]["loss"]) == 2
    assert saved_model_kind(run / "last.keras") == PARAGRAPH_MODEL_NAME


def test_reload_survives_address_reuse_of_wrapped_lstms(tmp_path, monkeypatch):
    """Loading a ParagraphModel must not mistake one BLSTM's LSTM for another's.

    Keras' object-sharing scope (active in `load_model`) tells objects apart by `id()`, and
    CPython reuses a collected object's address. Here `id` hands an LSTM the slot of any
    collected LSTM at once (the allocator's worst case), so the load fails or shares a layer
    unless every wrapped LSTM stays alive while the model is built.
    """
    import dataclasses

    from tiny_lines import reuse_addresses_of_collected_lstms

    config = dataclasses.replace(TINY_CRNN, crnn=dataclasses.replace(TINY_CRNN.crnn, lstm_layers=3))
    model = ParagraphModel(config, CHARSET, line_height=16, attention_units=16, max_lines=3)
    path = tmp_path / "para.keras"
    model.save(path)
    reuse_addresses_of_collected_lstms(monkeypatch)
    again = keras.models.load_model(path, compile=False)
    wrappers = [blstm for _, blstm in again.blstms]
    inner = [x for w in wrappers for x in (w.forward_layer, w.backward_layer)]
    assert len({id(x) for x in inner}) == 2 * len(wrappers)
    assert [(w.forward_layer.go_backwards, w.backward_layer.go_backwards) for w in wrappers] == [
        (False, True)
    ] * len(wrappers)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
