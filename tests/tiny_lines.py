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


def reuse_addresses_of_collected_lstms(monkeypatch):
    """Makes Keras' serialisation see CPython's worst-case allocator: an LSTM gets the `id()` of
    any collected LSTM at once. Keras' object-sharing scope (active in `load_model`) tells
    objects apart by `id()`, so a model whose wrapped LSTMs are collected while it is wired
    fails to load or shares a layer under this."""
    import builtins
    import gc
    import weakref

    import keras
    from keras.src.saving import serialization_lib

    slots = []  # weak references; a dead one is a free "address"

    def reusing_id(obj):
        if not isinstance(obj, keras.layers.LSTM):
            return builtins.id(obj)
        gc.collect()
        for k, ref in enumerate(slots):
            if ref() is obj:
                return 1000 + k
        for k, ref in enumerate(slots):
            if ref() is None:
                slots[k] = weakref.ref(obj)
                return 1000 + k
        slots.append(weakref.ref(obj))
        return 1000 + len(slots) - 1

    monkeypatch.setattr(serialization_lib, "id", reusing_id, raising=False)
