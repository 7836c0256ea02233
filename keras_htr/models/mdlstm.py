"""MDLSTM line network (Pham et al. 2014): blocks -> MDLSTM -> conv -> MDLSTM -> conv -> MDLSTM
-> dense -> collapse over height.

Reference: V. Pham, T. Bluche, C. Kermorvant, J. Louradour, "Dropout improves Recurrent Neural
Networks for Handwriting Recognition", ICFHR 2014 (seed 002).
"""

from __future__ import annotations

import keras

from keras_htr.layers import MDLSTM2D, Collapse
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
    bh, bw = config.block
    x = keras.layers.Conv2D(bh * bw, (bh, bw), strides=(bh, bw), padding="same", name="blocks")(image)
    stride = bw
    for i, units in enumerate(config.lstm_units):
        mask = PixelMask(stride, name=f"mdlstm{i}_mask")([x, width])
        # The MDLSTM's output carries this mask on to the dropout, the dense and the collapse.
        x = MDLSTM2D(units, directions=4, merge="concat", name=f"mdlstm{i}")(x, mask=mask)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"mdlstm{i}_dropout")(x)
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
    x = keras.layers.Dense(num_classes, name="logits_per_pixel")(x)
    return Collapse(name="logits")(x)
