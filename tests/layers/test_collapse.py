"""Collapse: masked sum over height, (B, H, W) mask -> (B, W) mask."""

import keras
import numpy as np
import pytest
from layer_checks import assert_config_round_trip, assert_mask_propagates

from keras_htr.layers import Collapse


def test_sums_over_height():
    x = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)
    out = Collapse()(x)
    assert out.shape == (2, 4, 5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out), x.sum(axis=1))


def test_masked_pixels_are_left_out_and_mask_becomes_per_column():
    x = np.ones((2, 3, 4, 1), "float32")
    mask = np.zeros((2, 3, 4), bool)
    mask[0, :2, :3] = True
    mask[1] = True
    layer = Collapse()
    out = keras.ops.convert_to_numpy(layer(x, mask=mask))
    np.testing.assert_allclose(out[..., 0], [[2, 2, 2, 0], [3, 3, 3, 3]])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(layer.compute_mask(x, mask)), mask.any(axis=1)
    )


def test_mask_propagates_in_a_functional_model():
    x = np.zeros((2, 3, 4, 2), "float32")
    x[0, :2, :3] = 1.0
    x[1, :3, :1] = 1.0
    assert_mask_propagates(Collapse(), x, np.array([[1, 1, 1, 0], [1, 0, 0, 0]], bool))


def test_config_round_trip():
    assert_config_round_trip(Collapse(name="col"), np.ones((1, 2, 3, 4), "float32"))


def test_bad_inputs():
    with pytest.raises(ValueError, match="rank 4"):
        Collapse()(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="mask of shape"):
        Collapse()(np.ones((2, 3, 4, 1), "float32"), mask=np.ones((2, 3), bool))
