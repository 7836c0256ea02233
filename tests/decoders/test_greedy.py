import numpy as np
import tensorflow as tf

from keras_htr.decoders.greedy import greedy_decode


def one_hot_logits(frames, num_classes=4, confidence=0.9):
    p = np.full((len(frames), num_classes), (1 - confidence) / (num_classes - 1), "float32")
    p[np.arange(len(frames)), frames] = confidence
    return np.log(p)


def test_collapses_repeats_and_drops_blanks():
    logits = one_hot_logits([1, 1, 0, 1, 2, 2, 0, 3])[None]
    ids, scores = greedy_decode(logits, [8])
    assert ids.numpy().tolist() == [[1, 1, 2, 3, -1, -1, -1, -1]]
    np.testing.assert_allclose(scores.numpy(), [0.9], rtol=1e-5)


def test_frames_beyond_length_are_ignored_and_rows_independent():
    a = one_hot_logits([1, 0, 2, 3, 3, 3])
    b = one_hot_logits([3, 3, 0, 3, 0, 0])
    ids, _ = greedy_decode(np.stack([a, b]), [3, 6])
    assert ids.numpy().tolist() == [[1, 2, -1, -1, -1, -1], [3, 3, -1, -1, -1, -1]]


def test_empty_output_scores_blank_confidence():
    logits = one_hot_logits([0, 0, 0], confidence=0.8)[None]
    ids, scores = greedy_decode(logits, [3])
    assert ids.numpy().tolist() == [[-1, -1, -1]]
    np.testing.assert_allclose(scores.numpy(), [0.8], rtol=1e-5)


def test_runs_compiled_with_xla():
    logits = one_hot_logits([2, 0, 2, 1])[None]
    fn = tf.function(greedy_decode, jit_compile=True)
    ids, _ = fn(tf.constant(logits), tf.constant([4]))
    assert ids.numpy().tolist() == [[2, 2, 1, -1]]
