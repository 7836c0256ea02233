"""Tiny line images (PIL's built-in font) and tiny model configs shared by the fast tests."""

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from keras_htr.models.config import CRNNConfig, MDLSTMConfig, ModelConfig

TEXTS = ["abc", "cab", "bca a", "ab ba", "cc ab"]

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


def render_line(text: str) -> np.ndarray:
    """uint8 (H, W) dark text on white paper."""
    font = ImageFont.load_default(size=28)
    image = Image.new("L", (24 + 18 * len(text), 44), 255)
    ImageDraw.Draw(image).text((12, 6), text, font=font, fill=0)
    return np.asarray(image)


def write_lines(folder, texts):
    """Writes `line<i>.png` + `line<i>.gt.txt` for each text into `folder`; returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, text in enumerate(texts):
        Image.fromarray(render_line(text)).save(folder / f"line{i}.png")
        (folder / f"line{i}.gt.txt").write_text(text + "\n", encoding="utf-8")
    return folder
