"""A tiny (untrained) saved model and a small line folder for the command-line tests."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from keras_htr.charset import Charset
from keras_htr.models.config import CRNNConfig, ModelConfig

TEXTS = ["abc", "cab", "bca a", "ab ba"]
TINY_CRNN = ModelConfig(
    arch="crnn",
    crnn=CRNNConfig(
        conv_filters=(8, 16, 16), pool_sizes=((2, 2), (2, 2), (2, 1)), lstm_units=16,
        lstm_layers=1, dropout=0.0,
    ),
)


def render_line(text: str) -> np.ndarray:
    font = ImageFont.load_default(size=28)
    image = Image.new("L", (24 + 18 * len(text), 44), 255)
    ImageDraw.Draw(image).text((12, 6), text, font=font, fill=0)
    return np.asarray(image)


def write_lines(folder, texts):
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        Image.fromarray(render_line(text)).save(folder / f"line{i}.png")
        (folder / f"line{i}.gt.txt").write_text(text + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def texts():
    return list(TEXTS)


@pytest.fixture(scope="session")
def make_line_folder():
    """`make_line_folder(folder, texts)` writes line images with their .gt.txt."""
    return write_lines


@pytest.fixture(scope="session")
def line_folder(tmp_path_factory):
    return write_lines(tmp_path_factory.mktemp("lines"), TEXTS)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    import keras

    from keras_htr.models import build_model

    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_model(TINY_CRNN, Charset.from_texts(TEXTS)).save(path)
    return path
