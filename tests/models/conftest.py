"""Tiny synthetic lines (PIL's built-in font) and tiny models for fast model tests."""

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from keras_htr.charset import Charset
from keras_htr.models.config import CRNNConfig, MDLSTMConfig, ModelConfig

TEXTS = ["abc", "cab", "bca a", "ab ba", "cc ab"]


def render_line(text: str) -> np.ndarray:
    """uint8 (H, W) dark text on white paper."""
    font = ImageFont.load_default(size=28)
    image = Image.new("L", (24 + 18 * len(text), 44), 255)
    ImageDraw.Draw(image).text((12, 6), text, font=font, fill=0)
    return np.asarray(image)


@pytest.fixture(scope="session")
def lines():
    return [render_line(t) for t in TEXTS]


@pytest.fixture(scope="session")
def charset():
    return Charset.from_texts(TEXTS)


TINY_CRNN = ModelConfig(
    arch="crnn",
    crnn=CRNNConfig(
        conv_filters=(8, 16, 16), pool_sizes=((2, 2), (2, 2), (2, 1)), lstm_units=32,
        lstm_layers=1, dropout=0.0,
    ),
)
TINY_MDLSTM = ModelConfig(
    arch="mdlstm", mdlstm=MDLSTMConfig(lstm_units=(2, 4, 8), conv_filters=(4, 8), dropout=0.0)
)


@pytest.fixture(scope="session")
def texts():
    return list(TEXTS)


@pytest.fixture(scope="session")
def tiny_crnn():
    return TINY_CRNN


@pytest.fixture(scope="session")
def tiny_mdlstm():
    return TINY_MDLSTM
