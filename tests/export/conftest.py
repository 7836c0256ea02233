"""Shared fixtures for the export tests: one small model, its exports, and line images.

The model is untrained, so its text would be near-random and fragile; its output layer is
scaled up so every frame's argmax wins by a wide margin. Then equal text across Keras,
SavedModel and TFLite means the same ids, not a lucky tie, and a wrong id -> character
mapping or a mixed-up batch order changes the text.
"""

from __future__ import annotations

import numpy as np
import pytest
from export_line_images import CHARS, WORDS, encode, render_line


@pytest.fixture(scope="session")
def model():
    import keras

    from keras_htr import Charset
    from keras_htr.data.preprocess import PreprocessConfig
    from keras_htr.models import build_model
    from keras_htr.models.config import CRNNConfig, ModelConfig

    keras.utils.set_random_seed(7)
    config = ModelConfig(
        arch="crnn",
        crnn=CRNNConfig(
            conv_filters=(8, 12, 16, 16, 16), lstm_units=24, lstm_layers=1, dropout=0.0
        ),
    )
    model = build_model(config, Charset(CHARS), PreprocessConfig(height=32))
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    logits.set_weights([kernel * 20.0, bias])
    return model


@pytest.fixture(scope="session")
def line_files(tmp_path_factory):
    """20 held-out line images as files: PNG, plus JPEG, RGBA PNG, GIF and BMP variants."""
    folder = tmp_path_factory.mktemp("lines")
    rng = np.random.default_rng(0)
    formats = ["PNG"] * 16 + ["JPEG", "GIF", "BMP", "RGBA"]
    paths = []
    for i, fmt in enumerate(formats):
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 5))))
        image = render_line(text, seed=i, mode="RGBA" if fmt == "RGBA" else "L")
        suffix = {"JPEG": ".jpg", "GIF": ".gif", "BMP": ".bmp"}.get(fmt, ".png")
        path = folder / f"line{i:02d}{suffix}"
        path.write_bytes(encode(image, "PNG" if fmt == "RGBA" else fmt))
        paths.append(str(path))
    return paths


@pytest.fixture(scope="session")
def keras_logits(model, line_files):
    """(line, logits) per file: the preprocessed line and the Keras model's logits for it.

    The lines run as one padded batch (the width masks make that equal to each line alone).
    """
    import tensorflow as tf

    from keras_htr.data.pipeline import pad_batch
    from keras_htr.data.preprocess import load_image, preprocess_line

    preprocess = tf.function(
        lambda gray: preprocess_line(gray, model.preprocess_config),
        input_signature=[tf.TensorSpec([None, None], tf.uint8)],
    )
    lines = [preprocess(load_image(p)).numpy() for p in line_files]
    inputs = pad_batch(lines)
    logits = model(inputs, training=False).numpy()
    lengths = model.output_lengths(inputs["width"]).numpy()
    return [(line, logits[i, : lengths[i]]) for i, line in enumerate(lines)]


@pytest.fixture(scope="session")
def keras_texts(model, line_files):
    """What the Keras model transcribes (the reference every export must reproduce)."""
    from keras_htr.transcriber import Transcriber

    results = Transcriber(model).transcribe(line_files)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return [r.text for r in results]


@pytest.fixture(scope="session")
def savedmodel_dir(model, tmp_path_factory):
    from keras_htr.export import export_savedmodel

    return export_savedmodel(model, tmp_path_factory.mktemp("serving") / "htr", version=3)


@pytest.fixture(scope="session")
def servable(savedmodel_dir):
    from local_servable import LocalServable

    return LocalServable(savedmodel_dir, model_name="htr")
