import numpy as np
import pytest
import tensorflow as tf

from keras_htr.ctc import CTCLoss, ctc_loss, label_lengths, required_frames


def test_required_frames_counts_repeats():
    labels = tf.constant([[1, 1, 2, -1], [1, 2, 3, -1], [2, 2, 2, 2], [-1, -1, -1, -1]])
    assert label_lengths(labels).numpy().tolist() == [3, 3, 4, 0]
    assert required_frames(labels).numpy().tolist() == [4, 3, 7, 0]


def test_single_frame_loss_is_negative_log_softmax():
    logits = np.log(np.array([[[0.2, 0.5, 0.3]]], "float32"))
    loss, feasible = ctc_loss(tf.constant([[1]]), logits, tf.constant([1]))
    np.testing.assert_allclose(loss.numpy(), [-np.log(0.5)], rtol=1e-5)
    assert feasible.numpy().tolist() == [True]


def test_two_frames_sums_alignments():
    # Label [1] over 2 frames: paths "1 1", "0 1", "1 0".
    p = np.array([[0.6, 0.4], [0.3, 0.7]], "float32")  # frames x classes (blank, 1)
    logits = np.log(p)[None]
    loss, _ = ctc_loss(tf.constant([[1, -1]]), logits, tf.constant([2]))
    expected = p[0, 1] * p[1, 1] + p[0, 0] * p[1, 1] + p[0, 1] * p[1, 0]
    np.testing.assert_allclose(loss.numpy(), [-np.log(expected)], rtol=1e-5)


def test_padding_frames_beyond_length_are_ignored():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 6, 4)).astype("float32")
    other = logits.copy()
    other[:, 4:] = 100.0
    labels = tf.constant([[1, 2]])
    a, _ = ctc_loss(labels, logits, tf.constant([4]))
    b, _ = ctc_loss(labels, other, tf.constant([4]))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


@pytest.mark.parametrize("jit", [False, True])
def test_infeasible_label_gives_finite_loss_zero_gradient_and_is_counted(jit):
    rng = np.random.default_rng(1)
    logits = tf.constant(rng.normal(size=(3, 4, 5)).astype("float32"))
    # Row 2 needs 7 frames (4 ids + 3 repeats) but has 4; row 1 needs 3 and has 3.
    labels = tf.constant([[1, 1, 2, -1], [1, 2, 3, -1], [1, 1, 1, 1]])
    lengths = tf.constant([4, 3, 4])

    def loss_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss, feasible = ctc_loss(labels, x, lengths)
            total = tf.reduce_sum(loss)
        return loss, feasible, tape.gradient(total, x)

    fn = tf.function(loss_and_grad, jit_compile=True) if jit else loss_and_grad
    loss, feasible, grad = fn(logits)
    assert feasible.numpy().tolist() == [True, True, False]
    assert np.all(np.isfinite(loss.numpy())) and loss.numpy()[2] == 0.0
    assert loss.numpy()[0] > 0 and loss.numpy()[1] > 0
    assert np.all(np.isfinite(grad.numpy()))
    assert np.all(grad.numpy()[2] == 0.0)


def test_float_labels_are_accepted():
    logits = np.log(np.array([[[0.2, 0.5, 0.3]]], "float32"))
    a, _ = ctc_loss(tf.constant([[1.0]]), logits, tf.constant([1]))
    b, _ = ctc_loss(tf.constant([[1]]), logits, tf.constant([1]))
    np.testing.assert_allclose(a.numpy(), b.numpy())


def test_loss_class_matches_function_over_full_length():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(2, 5, 4)).astype("float32")
    labels = np.array([[1, 2, -1], [3, -1, -1]], "int32")
    per_sample, _ = ctc_loss(labels, logits, tf.constant([5, 5]))
    np.testing.assert_allclose(
        float(CTCLoss()(labels, logits)), float(np.mean(per_sample.numpy())), rtol=1e-5
    )
    assert CTCLoss.from_config(CTCLoss().get_config()).blank_index == 0
