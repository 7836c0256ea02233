"""Collapse: sum image features over the height axis, giving a sequence over width."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_htr")
class Collapse(keras.layers.Layer):
    """Masked sum over height: `(batch, height, width, channels)` -> `(batch, width, channels)`.

    This is how an MDLSTM line model turns its 2-D feature map into the 1-D
    sequence that CTC reads (Pham et al. 2014: "sums the features over the
    vertical axis"). Padded pixels are left out of the sum, and the incoming
    `(batch, height, width)` mask becomes a `(batch, width)` mask: a column is
    valid if any of its pixels is.

    Call arguments:
        inputs: tensor `(batch, height, width, channels)`.
        mask: optional bool tensor `(batch, height, width)`.

    Returns:
        `(batch, width, channels)`.

    Example:

    >>> Collapse()(np.ones((2, 3, 5, 4), "float32")).shape
    TensorShape([2, 5, 4])
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "Collapse expected input of rank 4 (batch, height, width, channels), "
                f"got shape {tuple(input_shape)}"
            )

    def _check_mask(self, inputs, mask):
        expected = tuple(inputs.shape[:3])
        got = tuple(mask.shape)
        if len(got) != 3 or any(
            m is not None and e is not None and m != e for m, e in zip(got, expected)
        ):
            raise ValueError(
                f"Collapse expected a mask of shape (batch, height, width) = {expected}, "
                f"got shape {got}"
            )

    def call(self, inputs, mask=None):
        if mask is not None:
            self._check_mask(inputs, mask)
            inputs = ops.where(ops.cast(mask, "bool")[..., None], inputs, ops.zeros_like(inputs))
        return ops.sum(inputs, axis=1)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        return ops.any(ops.cast(mask, "bool"), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2], input_shape[3])
