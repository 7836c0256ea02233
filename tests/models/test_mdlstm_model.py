"""The MDLSTM line model: signal in range at initialisation, it learns, bad strides refused."""

import keras
import numpy as np
import pytest
from PIL import Image

from keras_htr.charset import Charset
from keras_htr.models import ModelConfig, build_model
from keras_htr.models.config import MDLSTMConfig
from keras_htr.data.preprocess import PreprocessConfig


def line_like_images(batch=4, height=32, width=384, seed=0):
    """Sparse strokes of ink (1) on paper (0), the value range preprocessed lines have."""
    rng = np.random.default_rng(seed)
    image = np.zeros((batch, height, width, 1), "float32")
    for b in range(batch):
        for _ in range(width // 6):
            i, j = rng.integers(4, height - 8), rng.integers(0, width - 4)
            image[b, i : i + rng.integers(2, 8), j : j + rng.integers(1, 4)] = 1.0
    return {"image": image, "width": np.full((batch,), width, "int32")}


def test_signal_reaches_the_output_at_initialisation():
    # Realistic size (32 x 384, the paper preset): every stage carries a varying signal of
    # order one. Without the normalisation, the signal shrank 5-8x per MDLSTM layer and the
    # network sat in CTC's blank phase.
    keras.utils.set_random_seed(0)
    charset = Charset([chr(0x21 + i) for i in range(79)])
    model = build_model(ModelConfig(arch="mdlstm"), charset, PreprocessConfig(height=32))
    names = ["conv0", "conv1", "logits_per_pixel"]
    # What each stage receives from the MDLSTM below it.
    probe = keras.Model(model.inputs, [model.get_layer(n).input for n in names])
    for name, out in zip(names, probe(line_like_images())):
        out = keras.ops.convert_to_numpy(out)
        spread = out.reshape(-1, out.shape[-1]).std(axis=0).mean()  # variation over pixels
        assert 0.2 < spread < 2.0, (name, spread)
        assert np.abs(out).max() < 10.0, name
    # Zero logits at first: CTC starts from uniform outputs, not random confident ones.
    logits = keras.ops.convert_to_numpy(model(line_like_images()))
    np.testing.assert_array_equal(logits, 0.0)


def test_overfits_a_handful_of_lines_through_the_training_command(lines, texts, tmp_path):
    # The path `keras-htr train` takes: a folder of lines -> TrainConfig -> train().
    from keras_htr.training import TrainConfig, train

    data = tmp_path / "lines"
    data.mkdir()
    for i, (gray, text) in enumerate(zip(lines, texts)):
        Image.fromarray(gray).save(data / f"line{i}.png")
        (data / f"line{i}.gt.txt").write_text(text + "\n", encoding="utf-8")
    config = TrainConfig(
        train=str(data), val=str(data), out=str(tmp_path / "run"),
        model=ModelConfig(arch="mdlstm", mdlstm=MDLSTMConfig(dropout=0.0)),
        height=16, epochs=5, batch_size=len(texts), learning_rate=1e-2, augment=False,
        steps_per_epoch=10, patience=5, seed=0, verbose=0,
    )
    result = train(config)
    assert result.best_val_cer == 0.0, result.history


def test_strides_that_leave_too_few_frames_are_refused():
    config = ModelConfig(arch="mdlstm", mdlstm=MDLSTMConfig(conv_strides=((2, 4), (2, 4))))
    with pytest.raises(ValueError, match=r"`conv_strides`.*height 32.*`conv1` dividing the width by 32"):
        build_model(config, Charset("ab"), PreprocessConfig(height=32))
    # The same strides are fine on taller lines (wider characters).
    build_model(config, Charset("ab"), PreprocessConfig(height=128))
