"""Masks from each line's true width, so a padded batch gives the same logits as each line alone.

A convolution at the right edge of a line alone sees zero padding; in a padded batch it would see
the features computed over the padding (non-zero after batch norm and biases). Resetting every
feature map beyond the line's (downsampled) width restores what the line alone sees.
"""

from __future__ import annotations

import keras
from keras import ops


def downsampled_width(width, stride: int):
    """ceil(width / stride): the columns a line keeps after 'same'-padded striding."""
    width = ops.cast(width, "int32")
    return (width + stride - 1) // stride


class _StridedWidthLayer(keras.layers.Layer):
    """Base of the layers below: holds the horizontal `stride` from image pixels to features."""

    def __init__(self, stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(
                f"Received an invalid value for argument `stride`, expected a positive "
                f"integer, got {stride!r}"
            )
        self.stride = stride

    def get_config(self):
        return {**super().get_config(), "stride": self.stride}


@keras.saving.register_keras_serializable(package="keras_htr")
class WidthMask(_StridedWidthLayer):
    """Sets the columns of a (B, H, W, C) feature map beyond each line's width to `fill_value`.

    Args:
        stride: horizontal downsampling of the feature map relative to the image.
        fill_value: value of the masked columns: 0.0 before a convolution (its zero padding),
            a very negative value before a max-pool (which ignores its padding).

    Call arguments:
        inputs: `[features (B, H, W, C), width (B,)]`, `width` in image pixels.
    """

    def __init__(self, stride: int = 1, fill_value: float = 0.0, **kwargs):
        super().__init__(stride, **kwargs)
        self.fill_value = float(fill_value)
        # Accept an incoming Keras mask and end it here: the width now does its job.
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs):
        features, width = inputs
        valid = downsampled_width(width, self.stride)
        columns = ops.arange(ops.shape(features)[2], dtype="int32")
        keep = ops.expand_dims(columns, 0) < ops.expand_dims(valid, 1)  # (B, W)
        # Indexing, not a reshape to (-1, ...): keeps a static batch of 1 for TFLite conversion.
        keep = keep[:, None, :, None]
        fill = ops.cast(self.fill_value, features.dtype)
        return ops.where(keep, features, fill)

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "fill_value": self.fill_value}


@keras.saving.register_keras_serializable(package="keras_htr")
class SequenceMask(_StridedWidthLayer):
    """Boolean (B, T) mask of the frames of a (B, T, F) sequence that lie inside each line.

    Args:
        stride: horizontal downsampling of the sequence relative to the image.

    Call arguments:
        inputs: `[sequence (B, T, F), width (B,)]`, `width` in image pixels.
    """

    def call(self, inputs):
        sequence, width = inputs
        valid = downsampled_width(width, self.stride)
        frames = ops.arange(ops.shape(sequence)[1], dtype="int32")
        return ops.expand_dims(frames, 0) < ops.expand_dims(valid, 1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0][:2])

    def compute_output_spec(self, inputs):
        sequence = inputs[0]
        return keras.KerasTensor(tuple(sequence.shape[:2]), dtype="bool")


@keras.saving.register_keras_serializable(package="keras_htr")
class PixelMask(_StridedWidthLayer):
    """Boolean (B, H, W) mask of the pixels of a feature map inside each line (for MDLSTM2D).

    Args:
        stride: horizontal downsampling of the feature map relative to the image.

    Call arguments:
        inputs: `[features (B, H, W, C), width (B,)]`, `width` in image pixels.
    """

    def call(self, inputs):
        features, width = inputs
        valid = downsampled_width(width, self.stride)
        shape = ops.shape(features)
        columns = ops.arange(shape[2], dtype="int32")
        keep = ops.expand_dims(columns, 0) < ops.expand_dims(valid, 1)  # (B, W)
        return ops.broadcast_to(ops.expand_dims(keep, 1), (shape[0], shape[1], shape[2]))

    def compute_output_spec(self, inputs):
        features = inputs[0]
        return keras.KerasTensor(tuple(features.shape[:3]), dtype="bool")
