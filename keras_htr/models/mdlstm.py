"""MDLSTM line network (Pham et al. 2014): blocks -> MDLSTM -> conv -> MDLSTM -> conv -> MDLSTM
-> dense -> collapse over height.

Two changes from the paper make it train (measured in tests/models/test_mdlstm_model.py): each
MDLSTM's output is layer-normalised (`MDLSTMConfig.normalize`), and the logits start at zero.

Reference: V. Pham, T. Bluche, C. Kermorvant, J. Louradour, "Dropout improves Recurrent Neural
Networks for Handwriting Recognition", ICFHR 2014 (seed 002).
"""

from __future__ import annotations

import keras

from keras_htr.layers import MDLSTM2D, Collapse, Dropout
from keras_htr.models.config import MDLSTMConfig
from keras_htr.models.width_mask import PixelMask, WidthMask


def mdlstm_logits(image, width, config: MDLSTMConfig, num_classes: int):
    """Wires the MDLSTM network on symbolic inputs and returns raw logits (B, T, num_classes).

    The input blocks and the subsampling convolutions have kernel = stride ("same" padding), so
    a line alone and the same line right-padded in a batch see the same pixels; every MDLSTM and
    the final collapse get a pixel mask built from the line's width, so the scans from the right
    start at the line's own edge.
    """
    # Folding each block of pixels into features is a linear map, which the first MDLSTM's input
    # projection follows; a kernel = stride convolution with block_h * block_w outputs is that map.
    _check_frames(config, image.shape[1])
    bh, bw = config.block
    x = keras.layers.Conv2D(bh * bw, (bh, bw), strides=(bh, bw), padding="same", name="blocks")(image)
    stride = bw
    for i, units in enumerate(config.lstm_units):
        mask = PixelMask(stride, name=f"mdlstm{i}_mask")([x, width])
        # The MDLSTM's output carries this mask on to the dropout, the dense and the collapse.
        x = MDLSTM2D(units, directions=4, merge="concat", cell=config.cell, name=f"mdlstm{i}")(
            x, mask=mask
        )
        if config.normalize:
            x = keras.layers.LayerNormalization(name=f"mdlstm{i}_norm")(x)
        if config.dropout and i > 0:
            # Not keras.layers.Dropout: under XLA on CPU its mask cost 10x this whole network.
            x = Dropout(config.dropout, name=f"mdlstm{i}_dropout")(x)
        if i < len(config.conv_filters):
            # Zero the padding (and consume the mask) so the convolution at a line's right edge
            # sees what it sees on the line alone.
            x = WidthMask(stride, 0.0, name=f"conv{i}_mask")([x, width])
            sh, sw = config.conv_strides[i]
            x = keras.layers.Conv2D(
                config.conv_filters[i], (sh, sw), strides=(sh, sw), padding="same",
                activation="tanh", name=f"conv{i}",
            )(x)
            stride *= sw
    # Zero logits at initialisation: CTC starts from uniform outputs instead of the random,
    # confident ones a Glorot dense gives after the sum over height.
    x = keras.layers.Dense(num_classes, kernel_initializer="zeros", name="logits_per_pixel")(x)
    return Collapse(name="logits")(x)


def _check_frames(config: MDLSTMConfig, height):
    """Refuses strides that leave CTC too few frames: a character is about half the line height
    wide, and a doubled letter needs a blank between its two frames (T >= 2U + 1), so each
    character needs about 2 frames, i.e. a horizontal stride of at most height / 4."""
    if height is None:
        return
    limit = height / 4
    names = ["blocks"] + [f"conv{i}" for i in range(len(config.conv_strides))]
    stride = 1
    for name, (_, sw) in zip(names, (config.block,) + tuple(config.conv_strides)):
        stride *= sw
        if stride > limit:
            raise ValueError(
                f"Received an invalid value for argument `conv_strides`, expected a total "
                f"horizontal stride of at most {limit:g} at line height {height} (about 2 CTC frames "
                f"per character {height / 2:g} px wide), got layer `{name}` dividing the width "
                f"by {stride} ({height / 2 / stride:.2g} frames per character)"
            )
