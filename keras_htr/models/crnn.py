"""CRNN line network (Puigcerver 2017): conv blocks, then a bidirectional LSTM stack, then logits.

Reference: J. Puigcerver, "Are Multidimensional Recurrent Layers Really Necessary for Handwritten
Text Recognition?", ICDAR 2017.
"""

from __future__ import annotations

import keras

from keras_htr.layers import Dropout
from keras_htr.models.config import CRNNConfig
from keras_htr.models.width_mask import SequenceMask, WidthMask

# A max-pool pads with -inf; this stands in for it on masked columns (finite, so no NaN in 0*x).
_POOL_FILL = -1e9


def crnn_logits(image, width, config: CRNNConfig, num_classes: int):
    """Wires the CRNN on symbolic inputs and returns raw logits (B, T, num_classes).

    Every feature map is reset beyond each line's width after each block, and the BLSTMs get a
    frame mask, so logits inside a line do not depend on how far its batch was padded.
    """
    x = image
    stride = 1
    for i, (filters, (ph, pw)) in enumerate(zip(config.conv_filters, config.pool_sizes)):
        if i >= 2 and config.conv_dropout:
            x = Dropout(config.conv_dropout, name=f"conv{i}_dropout")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        # Momentum 0.9 (PyTorch's 0.1, as in Puigcerver's and PyLaia's models): the inference
        # statistics catch up within tens of steps, which small fine-tuning sets need.
        x = keras.layers.BatchNormalization(momentum=0.9, name=f"conv{i}_bn")(x)
        x = keras.layers.LeakyReLU(negative_slope=0.01, name=f"conv{i}_act")(x)
        if pw > 1:
            x = WidthMask(stride, _POOL_FILL, name=f"conv{i}_pool_mask")([x, width])
        if ph > 1 or pw > 1:
            x = keras.layers.MaxPooling2D((ph, pw), padding="same", name=f"conv{i}_pool")(x)
        stride *= pw
        x = WidthMask(stride, 0.0, name=f"conv{i}_mask")([x, width])

    height, channels = x.shape[1], x.shape[3]
    x = keras.layers.Permute((2, 1, 3), name="to_sequence")(x)  # (B, W, H, C)
    x = keras.layers.Reshape((-1, height * channels), name="flatten_columns")(x)
    mask = SequenceMask(stride, name="frame_mask")([x, width])
    # Keras 3.15's Bidirectional copies the LSTM it wraps by serialising it, and inside
    # `load_model`'s object-sharing scope objects are told apart by `id()`. Once the first
    # LSTM was garbage-collected, the next one could get its address and be taken for it:
    # the load then failed ("different `go_backwards`") or two BLSTMs shared a layer. Keeping
    # every wrapped LSTM alive until the graph is wired keeps their ids distinct.
    wrapped = []
    for i in range(config.lstm_layers):
        if config.dropout:
            x = Dropout(config.dropout, name=f"blstm{i}_dropout")(x)
        wrapped.append(keras.layers.LSTM(config.lstm_units, return_sequences=True))
        x = keras.layers.Bidirectional(wrapped[-1], name=f"blstm{i}")(x, mask=mask)
    if config.dropout:
        x = Dropout(config.dropout, name="logits_dropout")(x)
    return keras.layers.Dense(num_classes, name="logits")(x)
