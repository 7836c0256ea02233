"""keras_htr Dropout: Keras' dropout semantics with a mask cheap to draw under XLA."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_checks import assert_config_round_trip

from keras_htr.layers import Dropout


@pytest.mark.parametrize("jit", [False, True])
def test_drops_the_rate_and_keeps_the_mean(jit):
    layer = Dropout(0.25, seed=3)
    x = tf.ones((8, 4, 96, 50))
    call = tf.function(lambda t: layer(t, training=True), jit_compile=jit)
    a, b = call(x).numpy(), call(x).numpy()
    kept = a != 0
    assert kept.mean() == pytest.approx(0.75, abs=0.01)
    assert np.allclose(a[kept], 1 / 0.75) and a.mean() == pytest.approx(1.0, abs=0.02)
    # A new mask on every call, and no structure: neighbours are kept independently.
    assert ((a != 0) != (b != 0)).mean() == pytest.approx(2 * 0.75 * 0.25, abs=0.01)
    assert (kept[..., 1:] & kept[..., :-1]).mean() == pytest.approx(0.75**2, abs=0.01)
    assert (kept[:, 1:] & kept[:, :-1]).mean() == pytest.approx(0.75**2, abs=0.01)


def test_identity_at_inference_and_noise_shape():
    x = np.random.default_rng(0).normal(size=(4, 3, 5, 6)).astype("float32")
    np.testing.assert_array_equal(Dropout(0.5)(x, training=False).numpy(), x)
    y = Dropout(0.5, noise_shape=(None, 1, 1, 6), seed=1)(np.ones((4, 3, 5, 6), "float32"), training=True)
    y = y.numpy()
    assert np.all(y == y[:, :1, :1, :])  # one mask per sample and feature, shared over pixels
    assert 0 < (y == 0).mean() < 1


def test_gradient_flows_through_kept_units_only():
    layer = Dropout(0.5, seed=2)
    x = tf.ones((4, 10))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y)
    grad = tape.gradient(loss, x).numpy()
    np.testing.assert_array_equal(grad, np.where(y.numpy() != 0, 2.0, 0.0))


def test_config_round_trip_and_registered():
    layer = Dropout(0.3, seed=5)
    assert_config_round_trip(layer, np.ones((2, 3), "float32"))
    config = keras.saving.serialize_keras_object(layer)
    assert isinstance(keras.saving.deserialize_keras_object(config), Dropout)
