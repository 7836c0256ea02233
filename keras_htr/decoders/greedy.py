"""Greedy (best path) CTC decoding in plain TF ops, so it also runs in a SavedModel and TFLite."""

from __future__ import annotations

import tensorflow as tf

from keras_htr.charset import BLANK_ID


def greedy_decode(logits, lengths, blank_index: int = BLANK_ID):
    """Best path: argmax per frame, collapse repeats, drop blanks.

    Args:
        logits: float (B, T, C) raw scores (softmax is applied here for the score only).
        lengths: int (B,), frames of each sample inside its line; later frames are ignored.
        blank_index: id of the CTC blank.

    Returns:
        `(ids, scores)`: int32 (B, T) label ids left-aligned and padded with -1, and float32 (B,)
        confidence = mean over the kept frames of the frame's max softmax probability (for an
        empty result: the mean over the line's frames, i.e. the confidence that it is empty).

    Example:

    >>> import numpy as np
    >>> logits = np.log(np.eye(3)[[1, 1, 0, 1, 2, 0]][None] + 1e-6).astype("float32")
    >>> ids, scores = greedy_decode(logits, [6])
    >>> ids.numpy().tolist()
    [[1, 1, 2, -1, -1, -1]]
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    num_frames = tf.shape(logits)[1]
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (B, T)
    best_prob = tf.reduce_max(tf.nn.softmax(logits, axis=-1), axis=-1)
    inside = tf.sequence_mask(lengths, num_frames)
    previous = tf.concat([tf.fill([tf.shape(best)[0], 1], -1), best[:, :-1]], axis=1)
    keep = (best != blank_index) & (best != previous) & inside

    # Left-align the kept ids: frame t goes to slot (kept frames before it); dropped frames
    # add 0 to some slot, so a scatter-add of (id + 1) minus 1 leaves -1 in empty slots.
    keep_i = tf.cast(keep, tf.int32)
    slot = tf.maximum(tf.cumsum(keep_i, axis=1) - 1, 0)
    rows = tf.broadcast_to(tf.range(tf.shape(best)[0])[:, None], tf.shape(best))
    indices = tf.stack([rows, slot], axis=-1)
    ids = tf.scatter_nd(indices, (best + 1) * keep_i, tf.shape(best)) - 1

    keep_f = tf.cast(keep, tf.float32)
    inside_f = tf.cast(inside, tf.float32)
    kept = tf.reduce_sum(keep_f, axis=1)
    kept_score = tf.reduce_sum(best_prob * keep_f, axis=1) / tf.maximum(kept, 1.0)
    empty_score = tf.reduce_sum(best_prob * inside_f, axis=1) / tf.maximum(
        tf.reduce_sum(inside_f, axis=1), 1.0
    )
    return ids, tf.where(kept > 0, kept_score, empty_score)
