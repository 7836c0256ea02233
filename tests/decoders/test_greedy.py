import numpy as np
import tensorflow as tf

from keras_htr.decoders.greedy import greedy_alignment, greedy_decode


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


def test_alignment_gives_each_character_its_frames_and_peak_confidence():
    probs = np.full((2, 9, 4), 0.05, "float32")
    # Row 0, best path: a a - a b b - - c with varying peak probabilities; row 1 ends at frame 4.
    path = [1, 1, 0, 1, 2, 2, 0, 0, 3]
    peaks = [0.6, 0.8, 0.9, 0.7, 0.5, 0.65, 0.9, 0.9, 0.55]
    for t, (k, p) in enumerate(zip(path, peaks)):
        probs[0, t] = (1 - p) / 3
        probs[0, t, k] = p
    for t, k in enumerate([2, 0, 0, 2, 2, 1, 1, 1, 1]):
        probs[1, t] = 0.2 / 3
        probs[1, t, k] = 0.8
    logits = np.log(probs)
    ids, scores, conf, first, last = (x.numpy() for x in greedy_alignment(logits, [9, 5]))
    assert ids.tolist()[0][:5] == [1, 1, 2, 3, -1]
    assert first[0].tolist() == [0, 3, 4, 8] + [-1] * 5
    assert last[0].tolist() == [1, 3, 5, 8] + [-1] * 5
    np.testing.assert_allclose(conf[0, :4], [0.8, 0.7, 0.65, 0.55], rtol=1e-5)
    assert conf[0, 4:].tolist() == [0.0] * 5
    # Row 1: "b b" then frames past its length (5) are ignored; the runs stop at the length.
    assert ids[1].tolist()[:3] == [2, 2, -1]
    assert first[1].tolist()[:3] == [0, 3, -1] and last[1].tolist()[:3] == [0, 4, -1]
    # Same ids and scores as greedy_decode.
    ref_ids, ref_scores = greedy_decode(logits, [9, 5])
    np.testing.assert_array_equal(ids, ref_ids.numpy())
    np.testing.assert_allclose(scores, ref_scores.numpy())


def test_alignment_runs_in_a_graph_with_unknown_shapes():
    fn = tf.function(
        greedy_alignment,
        input_signature=[tf.TensorSpec([None, None, 4], tf.float32), tf.TensorSpec([None], tf.int32)],
    )
    _, _, conf, first, last = fn(tf.constant(one_hot_logits([2, 0, 2, 1])[None]), tf.constant([4]))
    assert first.numpy().tolist() == [[0, 2, 3, -1]] and last.numpy().tolist() == [[0, 2, 3, -1]]
    np.testing.assert_allclose(conf.numpy()[0, :3], [0.9] * 3, rtol=1e-5)
