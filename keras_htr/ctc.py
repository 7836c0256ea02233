"""CTC loss with real output lengths, dense labels and infeasible labels masked out.

Labels are dense int32 (B, L) ids 1..N padded with -1 (blank = 0 never appears in a label).
Dense labels are used because sparse ones do not compile under XLA on CPU. A label that needs more
frames than the line has (T < U + number of repeated neighbours, each repeat needs a blank between)
has probability 0 and an infinite loss: such samples are detected before the loss, computed on an
empty label instead (finite), then zeroed, so no inf or NaN ever reaches the gradients.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_htr.charset import BLANK_ID


def label_lengths(labels):
    """Number of real ids in each row of labels padded with -1: int32 (B,)."""
    labels = tf.cast(labels, tf.int32)
    return tf.reduce_sum(tf.cast(labels >= 0, tf.int32), axis=1)


def required_frames(labels):
    """Fewest frames a CTC path for each label needs: U plus one blank per repeated pair."""
    labels = tf.cast(labels, tf.int32)
    valid = labels >= 0
    repeats = (labels[:, 1:] == labels[:, :-1]) & valid[:, 1:] & valid[:, :-1]
    return label_lengths(labels) + tf.reduce_sum(tf.cast(repeats, tf.int32), axis=1)


def ctc_loss(labels, logits, logit_lengths, blank_index: int = BLANK_ID):
    """Per-sample CTC negative log-likelihood, and which samples were feasible.

    Args:
        labels: int (B, L), ids padded with -1 (a float tensor, as Keras may pass, is cast).
        logits: float (B, T, C), raw (pre-softmax) scores.
        logit_lengths: int (B,), frames of each sample inside its line.
        blank_index: id of the CTC blank (0 in keras-htr).

    Returns:
        `(loss, feasible)`: float32 (B,) with 0 for infeasible samples, and bool (B,).
    """
    labels = tf.convert_to_tensor(labels)
    if labels.dtype.is_floating:  # Keras may hand y_true over as float
        labels = tf.round(labels)
    labels = tf.cast(labels, tf.int32)
    logits = tf.cast(logits, tf.float32)
    logit_lengths = tf.cast(logit_lengths, tf.int32)
    feasible = required_frames(labels) <= logit_lengths
    lengths = tf.where(feasible, label_lengths(labels), 0)
    dense = tf.where(labels >= 0, labels, blank_index)
    loss = tf.nn.ctc_loss(
        labels=dense,
        logits=logits,
        label_length=lengths,
        logit_length=logit_lengths,
        logits_time_major=False,
        blank_index=blank_index,
    )
    return tf.where(feasible, loss, tf.zeros_like(loss)), feasible


@keras.saving.register_keras_serializable(package="keras_htr")
class CTCLoss(keras.losses.Loss):
    """CTC as a Keras loss for models whose logits span the whole padded width.

    Without per-sample lengths every frame counts; `LineModel.compute_loss` passes real
    lengths and is what `model.fit` uses. This class is for plain Keras models.

    Args:
        blank_index: id of the CTC blank.
    """

    def __init__(self, blank_index: int = BLANK_ID, name: str = "ctc_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.blank_index = blank_index

    def call(self, y_true, y_pred):
        lengths = tf.fill(tf.shape(y_pred)[:1], tf.shape(y_pred)[1])
        loss, _ = ctc_loss(y_true, y_pred, lengths, self.blank_index)
        return loss

    def get_config(self):
        return {**super().get_config(), "blank_index": self.blank_index}
