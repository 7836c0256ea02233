"""CTC beam search decoding (`tf.nn.ctc_beam_search_decoder`), host side."""

from __future__ import annotations

import tensorflow as tf

from keras_htr.charset import BLANK_ID


def beam_decode(logits, lengths, beam_width: int = 8, blank_index: int = BLANK_ID):
    """Most probable labelling found by a beam search over the CTC output.

    TF's decoder expects the blank as the last class, so the blank column is moved there and the
    decoded ids are mapped back.

    Args:
        logits: float (B, T, C) raw scores.
        lengths: int (B,), frames of each sample inside its line.
        beam_width: beams kept per step (1 is close to greedy).
        blank_index: id of the CTC blank.

    Returns:
        `(ids, scores)`: int32 (B, T) label ids padded with -1, and float32 (B,) confidence =
        exp(log p(labelling) / frames), the per-frame geometric mean of the labelling's
        probability (comparable across line lengths).
    """
    if not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(
            f"Received an invalid value for argument `beam_width`, expected a positive "
            f"integer, got {beam_width!r}"
        )
    logits = tf.convert_to_tensor(logits, tf.float32)
    lengths = tf.cast(lengths, tf.int32)
    num_classes = logits.shape[-1] or tf.shape(logits)[-1]
    order = [c for c in range(num_classes) if c != blank_index] + [blank_index]
    moved = tf.gather(tf.nn.log_softmax(logits, axis=-1), order, axis=-1)
    decoded, log_probs = tf.nn.ctc_beam_search_decoder(
        tf.transpose(moved, [1, 0, 2]), lengths, beam_width=beam_width, top_paths=1
    )
    back = tf.constant(order, tf.int32)
    sparse = decoded[0]
    sparse = tf.SparseTensor(
        sparse.indices, tf.gather(back, tf.cast(sparse.values, tf.int32)), sparse.dense_shape
    )
    ids = tf.sparse.to_dense(sparse, default_value=-1)
    pad = tf.shape(logits)[1] - tf.shape(ids)[1]
    ids = tf.pad(ids, [[0, 0], [0, pad]], constant_values=-1)
    frames = tf.cast(tf.maximum(lengths, 1), tf.float32)
    return ids, tf.exp(log_probs[:, 0] / frames)
