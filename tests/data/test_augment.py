import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_htr.data.augment import LineAugmentation


def _line():
    x = np.zeros((32, 120, 1), np.float32)
    for c in range(10, 110, 8):
        x[8:24, c: c + 3] = 1.0  # 3-pixel strokes
    return x


def _graph(aug):
    return tf.function(lambda x: aug(x), input_signature=[tf.TensorSpec([32, None, 1], tf.float32)])


def test_shape_range_and_seed():
    x = _line()
    a = _graph(LineAugmentation(seed=1))(x).numpy()
    b = _graph(LineAugmentation(seed=1))(x).numpy()
    c = _graph(LineAugmentation(seed=2))(x).numpy()
    assert a.shape == x.shape and a.min() >= 0.0 and a.max() <= 1.0
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert not np.allclose(a, c)
    assert not np.allclose(a, x)


def test_strength_zero_and_inference_are_identity():
    x = _line()
    np.testing.assert_array_equal(LineAugmentation(strength=0.0)(x), x)
    np.testing.assert_array_equal(LineAugmentation(seed=0)(x, training=False), x)


def test_stroke_width_changes_ink_amount():
    x = _line()
    aug = LineAugmentation(strength=1.0, rotation=0, shear=0, zoom=0, elastic=0, noise=0, stroke=1.0, seed=0)
    batch = np.repeat(x[None], 16, axis=0)
    out = aug(batch).numpy()
    ink = out.reshape(16, -1).sum(axis=1) / (out.reshape(16, -1).max(axis=1) + 1e-6)
    base = x.sum()
    assert (ink > 1.3 * base).any()  # dilated
    assert (ink < 0.95 * base).any()  # eroded


def test_elastic_moves_ink_but_keeps_blank_blank():
    aug = LineAugmentation(rotation=0, shear=0, zoom=0, stroke=0, noise=0, elastic=1.0, seed=3)
    out = aug(_line()).numpy()
    assert not np.allclose(out / max(out.max(), 1e-6), _line(), atol=0.05)
    np.testing.assert_array_equal(aug(np.zeros((32, 50, 1), np.float32)), 0.0)


def test_config_round_trip_and_validation():
    aug = LineAugmentation(strength=0.5, rotation=1.0, seed=7)
    clone = LineAugmentation.from_config(aug.get_config())
    assert clone.get_config() == aug.get_config()
    assert keras.saving.get_registered_object("keras_htr>LineAugmentation") is LineAugmentation
    with pytest.raises(ValueError, match="`noise`"):
        LineAugmentation(noise=-1)
    with pytest.raises(ValueError, match="strength"):
        LineAugmentation(strength=3.0)
