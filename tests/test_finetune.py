"""Fine-tuning: output-layer resizing, freezing, the held-out split, the run, and bad input."""

import json

import keras
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from keras_htr.charset import Charset
from keras_htr.data.preprocess import PreprocessConfig
from keras_htr.finetune import FINETUNE_DEFAULTS, fine_tune, fine_tune_charset, load_init_model
from keras_htr.models import LineModel, build_model
from keras_htr.models.config import CRNNConfig, ModelConfig
from keras_htr.models.line_model import encoder_layers, resize_output
from keras_htr.training import HELD_OUT_FILE, START_WEIGHTS_FILE, hold_out, read_state
from keras_htr.transcriber import load_line_model

TINY = ModelConfig(
    arch="crnn",
    crnn=CRNNConfig(
        conv_filters=(8, 16, 16), pool_sizes=((2, 2), (2, 2), (2, 1)), lstm_units=16,
        lstm_layers=1, dropout=0.0,
    ),
)
TINY_MDLSTM = ModelConfig(arch="mdlstm", mdlstm={"lstm_units": (2, 4, 6), "conv_filters": (4, 6)})
FAST = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 4, "augment": False, "verbose": 0}


def _write_lines(folder, texts):
    folder.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=28)
    for i, text in enumerate(texts):
        image = Image.new("L", (24 + 18 * len(text), 44), 255)
        ImageDraw.Draw(image).text((12, 6), text, font=font, fill=0)
        image.save(folder / f"line{i}.png")
        (folder / f"line{i}.gt.txt").write_text(text + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def base_model_path(tmp_path_factory):
    keras.utils.set_random_seed(3)
    path = tmp_path_factory.mktemp("base") / "base.keras"
    build_model(TINY, Charset("abc ")).save(path)
    return path


@pytest.fixture(scope="module")
def new_hand(tmp_path_factory):
    """Ten lines with a symbol (d) the base model does not write."""
    texts = ["abc", "cab", "bad", "dab", "a b", "cd", "abcd", "dd a", "bca", "dcba"]
    return _write_lines(tmp_path_factory.mktemp("hand"), texts)


def _inputs(batch=2, width=48):
    rng = np.random.default_rng(0)
    return {
        "image": rng.random((batch, 32, width, 1)).astype("float32"),
        "width": np.array([width, width - 8], np.int32),
    }


@pytest.mark.parametrize("config", [TINY, TINY_MDLSTM], ids=["crnn", "mdlstm"])
def test_resize_keeps_every_kept_symbols_output_and_starts_new_ones_fresh(config):
    keras.utils.set_random_seed(0)
    old = build_model(config, Charset("abc"))
    rng = np.random.default_rng(1)  # "trained" weights: the MDLSTM's output starts at zero
    old.set_weights([
        (rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path else rng.normal(0, 0.3, w.shape)).astype("float32")
        for w in old.weights
    ])
    new = resize_output(old, Charset("cxa"))  # reordered, one new (x), one dropped (b)
    inputs = _inputs()
    before = old(inputs).numpy()
    after = new(inputs).numpy()
    assert np.isfinite(before).all()
    assert after.shape[-1] == 4
    # blank, c and a: the same logits as before, in their new places; b is gone.
    np.testing.assert_allclose(after[..., [0, 1, 3]], before[..., [0, 3, 1]], rtol=1e-5, atol=1e-5)
    assert not np.allclose(after[..., 2], before[..., 2], atol=1e-3)
    assert new.model_config == old.model_config and new.preprocess_config == old.preprocess_config


def test_freeze_encoder_fixes_the_convolutions_only_and_survives_saving(tmp_path):
    keras.utils.set_random_seed(0)
    model = resize_output(build_model(TINY, Charset("ab")), Charset("ab"), freeze="encoder")
    frozen = {layer.name for layer in encoder_layers(model)}
    assert frozen == {f"conv{i}{s}" for i in range(3) for s in ("", "_bn")}
    before = {w.path: w.numpy().copy() for w in model.weights}
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    labels = np.array([[1, 2, -1], [2, 1, 1]], np.int32)
    model.fit(
        __import__("tensorflow").data.Dataset.from_tensors((_inputs(), labels)).repeat(3),
        epochs=1, verbose=0,
    )
    for w in model.weights:
        moved = not np.array_equal(before[w.path], w.numpy())
        in_encoder = w.path.split("/")[0] in frozen
        if in_encoder:
            assert not moved, w.path  # BN statistics too: a frozen BN runs in inference mode
        elif "kernel" in w.path:
            assert moved, w.path
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.freeze == "encoder"
    assert {layer.name for layer in loaded.layers if layer.weights and not layer.trainable} == frozen
    with pytest.raises(ValueError, match="argument `freeze`"):
        LineModel(TINY, Charset("ab"), PreprocessConfig(), freeze="decoder")


def test_alphabet_modes(new_hand):
    from keras_htr.data import read_dataset

    samples = read_dataset(new_hand)
    base = Charset("abce ")
    assert fine_tune_charset(base, samples, "union").chars == tuple("abce ") + ("d",)
    assert fine_tune_charset(base, samples, "new") == Charset(" abcd")
    with pytest.raises(ValueError) as e:
        fine_tune_charset(base, samples, "keep")
    message = str(e.value)
    assert "['d']" in message and "line2.png" in message and "line1.png" not in message
    assert fine_tune_charset(Charset("abcd "), samples, "keep") == Charset("abcd ")
    with pytest.raises(ValueError, match="argument `alphabet`"):
        fine_tune_charset(base, samples, "merge")


def test_hold_out_is_a_tenth_fixed_by_seed():
    lines = list(range(30))
    train, val = hold_out(lines, seed=5)
    assert len(val) == 3 and sorted(train + val) == lines
    assert hold_out(lines, seed=5) == (train, val)
    assert hold_out(lines, seed=6)[1] != val
    assert len(hold_out(lines[:4], seed=0)[1]) == 1
    with pytest.raises(ValueError, match="--val"):
        hold_out(lines[:1], seed=0)


@pytest.mark.slow
def test_fine_tune_run_starts_from_the_model_and_resumes(base_model_path, new_hand, tmp_path):
    out = tmp_path / "run"
    result = fine_tune(new_hand, out, init_from=base_model_path, seed=1, **FAST)
    assert result.epochs_done == 1 and result.best_model.is_file()
    held = (out / HELD_OUT_FILE).read_text().split()
    assert len(held) == 1 and held[0].endswith(".png")
    tuned = keras.models.load_model(out / "last.keras")
    assert tuned.charset == Charset("abc d")  # union: the base's symbols, then the new one
    # It started from the base weights: one step at a small rate leaves the first conv near them.
    base = keras.models.load_model(base_model_path)
    delta = np.abs(tuned.get_layer("conv0").kernel.numpy() - base.get_layer("conv0").kernel.numpy())
    assert 0 < delta.max() < 0.05
    config = json.loads((out / "train_config.json").read_text())
    assert config["init_from"] == str(base_model_path)
    assert config["learning_rate"] == FINETUNE_DEFAULTS["learning_rate"]

    resumed = fine_tune(new_hand, out, init_from=base_model_path, seed=1, resume=True, **{**FAST, "epochs": 2})
    assert resumed.epochs_done == 2 and read_state(out)["epoch"] == 2
    # Where the run started is kept through the resume (the resumed model is not the start).
    assert isinstance(result.initial_val_cer, float) and resumed.initial_val_cer == result.initial_val_cer
    assert (out / HELD_OUT_FILE).read_text().split() == held


@pytest.mark.slow
def test_passes_per_epoch_repeats_a_small_set(base_model_path, new_hand, tmp_path):
    options = {**FAST, "steps_per_epoch": None, "passes_per_epoch": 2.0}
    fine_tune(new_hand, tmp_path / "r", init_from=base_model_path, **options)
    last = keras.models.load_model(tmp_path / "r" / "last.keras")
    assert int(last.optimizer.iterations.numpy()) == 5  # 2 x 9 training lines in batches of 4


@pytest.mark.slow
def test_pull_to_start_holds_the_weights_at_their_start(base_model_path, new_hand, tmp_path):
    start = keras.models.load_model(base_model_path).get_layer("conv0").kernel.numpy()

    def conv0(run):
        return keras.models.load_model(run / "last.keras").get_layer("conv0").kernel.numpy()

    fine_tune(new_hand, tmp_path / "free", init_from=base_model_path, seed=1, pull_to_start=0.0, **FAST)
    assert np.abs(conv0(tmp_path / "free") - start).max() > 5e-5
    # A pull of rate 1 puts every weight back at its start after each step.
    held = fine_tune(new_hand, tmp_path / "held", init_from=base_model_path, seed=1, pull_to_start=1e9, **FAST)
    np.testing.assert_allclose(conv0(tmp_path / "held"), start, atol=1e-7)
    # The model held at its start scores what the start scored before fine-tuning.
    assert held.initial_val_cer == held.history["val_cer"][0]

    # A resumed run keeps the start of the run, not the weights it resumes from.
    out = tmp_path / "mild"
    fine_tune(new_hand, out, init_from=base_model_path, seed=1, pull_to_start=1.0, **FAST)
    assert np.abs(conv0(out) - start).max() > 5e-5
    fine_tune(new_hand, out, init_from=base_model_path, seed=1, resume=True, **{**FAST, "epochs": 2})
    with np.load(out / START_WEIGHTS_FILE) as stored:
        np.testing.assert_array_equal(stored["arr_0"], start)
    with pytest.raises(ValueError, match="pull_to_start"):
        fine_tune(new_hand, tmp_path / "r", init_from=base_model_path, pull_to_start=-1.0, **FAST)


def test_the_fine_tuning_schedule_is_sized_by_the_lines():
    from keras_htr.training import TrainConfig, steps_per_epoch

    config = TrainConfig(train="t", val=None, out="o", init_from="shipped", **FINETUNE_DEFAULTS)
    # 4 passes of batches of 8 an epoch, at most 40 batches.
    assert [steps_per_epoch(config, n) for n in (1, 9, 27, 80, 81, 180)] == [1, 5, 14, 40, 40, 40]
    scratch = TrainConfig(train="t", val=None, out="o", batch_size=16, min_steps_per_epoch=3)
    assert [steps_per_epoch(scratch, n) for n in (1, 160, 161)] == [3, 10, 11]
    with pytest.raises(ValueError, match="max_steps_per_epoch"):
        TrainConfig(train="t", val=None, out="o", min_steps_per_epoch=5, max_steps_per_epoch=4)
    with pytest.raises(ValueError, match="passes_per_epoch"):
        TrainConfig(train="t", val=None, out="o", passes_per_epoch=0)


@pytest.fixture
def no_training(monkeypatch):
    """Any call of `fit` fails the test: bad input must be refused before training starts."""

    def fit(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(LineModel, "fit", fit)


def test_bad_input_is_refused_before_training(base_model_path, new_hand, tmp_path, no_training):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="No readable lines in the train data.*empty"):
        fine_tune(empty, tmp_path / "r1", init_from=base_model_path, **FAST)

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "x.png").write_bytes(b"not an image")
    (broken / "x.gt.txt").write_text("abc\n")
    with pytest.raises(ValueError, match="x.png"):
        fine_tune(broken, tmp_path / "r2", init_from=base_model_path, **FAST)

    with pytest.raises(ValueError, match=r"cannot write the symbols \['d'\].*line2.png"):
        fine_tune(new_hand, tmp_path / "r3", init_from=base_model_path, alphabet="keep", **FAST)

    with pytest.raises(FileNotFoundError, match="nothing.keras"):
        fine_tune(new_hand, tmp_path / "r4", init_from=tmp_path / "nothing.keras", **FAST)
    assert not (tmp_path / "r3" / "state.json").exists()


def test_a_model_that_is_not_a_line_model_is_named(tmp_path, new_hand, no_training):
    @keras.saving.register_keras_serializable(package="other_htr")
    class ParagraphModel(keras.Model):
        pass

    inputs = keras.Input((4,))
    path = tmp_path / "paragraph.keras"
    ParagraphModel(inputs, keras.layers.Dense(2)(inputs)).save(path)
    with pytest.raises(ValueError, match=r"paragraph.keras holds a other_htr>ParagraphModel, not a keras-htr line model"):
        load_init_model(path)
    with pytest.raises(ValueError, match="paragraph.keras holds"):
        fine_tune(new_hand, tmp_path / "r", init_from=path, **FAST)
    with pytest.raises(ValueError, match="paragraph.keras holds"):  # transcribe, evaluate too
        load_line_model(path)
    text = tmp_path / "notes.keras"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.keras is not a Keras .keras model file"):
        load_init_model(text)


def test_shipped_is_the_default_start(monkeypatch, tmp_path):
    from keras_htr import finetune
    from keras_htr.transcriber import SHIPPED_MODEL

    assert finetune.resolve_model_path("shipped") == SHIPPED_MODEL
    assert load_init_model("shipped").charset.num_classes > 70


def test_augment_strength_reaches_the_augmentation():
    from keras_htr.training import TrainConfig, _augmentation

    config = TrainConfig(train="t", val=None, out="o", init_from="shipped", **FINETUNE_DEFAULTS)
    assert _augmentation(config).strength == FINETUNE_DEFAULTS["augment_strength"]
    stronger = TrainConfig(train="t", val=None, out="o", augment_strength=2.0)
    assert _augmentation(stronger).strength == 2.0
    assert _augmentation(TrainConfig(train="t", val=None, out="o", augment=False)) is None
    with pytest.raises(ValueError, match="augment_strength"):
        TrainConfig(train="t", val=None, out="o", augment_strength=3.0)
