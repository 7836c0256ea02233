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


def greedy_alignment(logits, lengths, blank_index: int = BLANK_ID):
    """`greedy_decode` plus, for each output character, its frames and its confidence.

    In the best path a character occupies a run of frames: the frame where its label starts
    and the repeats of that label right after it. Its confidence is the highest softmax
    probability of its label over those frames (the posterior at the frame where the network
    is surest of it). Plain TF ops like `greedy_decode`.

    Args:
        logits: float (B, T, C) raw scores.
        lengths: int (B,), frames of each sample inside its line.
        blank_index: id of the CTC blank.

    Returns:
        `(ids, scores, confidences, first_frames, last_frames)`: `ids` and `scores` as from
        `greedy_decode`; then per output slot (B, T), left-aligned like `ids`: float32
        confidence in [0, 1] (0 in empty slots), and int32 first and last frame (inclusive)
        of the character's run (-1 in empty slots).

    Example:

    >>> import numpy as np
    >>> logits = np.log(np.eye(3)[[1, 1, 0, 1, 2, 0]][None] + 1e-6).astype("float32")
    >>> _, _, _, first, last = greedy_alignment(logits, [6])
    >>> first.numpy()[0, :3].tolist(), last.numpy()[0, :3].tolist()
    ([0, 3, 4], [1, 3, 4])
    """
    ids, scores = greedy_decode(logits, lengths, blank_index)
    logits = tf.convert_to_tensor(logits, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    batch, num_frames = tf.shape(logits)[0], tf.shape(logits)[1]
    best = tf.argmax(logits, axis=-1, output_type=tf.int32)
    best_prob = tf.reduce_max(tf.nn.softmax(logits, axis=-1), axis=-1)
    inside = tf.sequence_mask(lengths, num_frames)
    previous = tf.concat([tf.fill([batch, 1], -1), best[:, :-1]], axis=1)
    keep = (best != blank_index) & (best != previous) & inside
    # A non-blank frame inside the line either starts a character or repeats the one before:
    # either way it belongs to slot (characters started so far) - 1.
    in_char = (best != blank_index) & inside
    slot = tf.cumsum(tf.cast(keep, tf.int32), axis=1) - 1
    rows = tf.range(batch)[:, None]
    unused = batch * num_frames  # segment of the frames outside any character
    segment = tf.where(in_char, rows * num_frames + slot, unused)
    count = unused + 1
    frames = tf.broadcast_to(tf.range(num_frames)[None, :], tf.shape(best))

    def per_slot(reduce, values, empty):
        out = tf.reshape(reduce(values, segment, count)[:-1], [batch, num_frames])
        return tf.where(ids >= 0, out, empty)

    confidences = per_slot(tf.math.unsorted_segment_max, best_prob, 0.0)
    first = per_slot(tf.math.unsorted_segment_min, frames, -1)
    last = per_slot(tf.math.unsorted_segment_max, frames, -1)
    return ids, scores, confidences, first, last
