"""MDLSTM2D against the per-cell reference: values, gradients, masks, XLA, saving, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_checks import (
    assert_config_round_trip,
    assert_mask_propagates,
    assert_save_load_fresh_process,
)
from mdlstm_reference import reference_mdlstm

from keras_htr.layers import MDLSTM2D

ATOL = 1e-5


def make_layer(units=3, channels=2, seed=0, **kwargs):
    """A built layer with random weights large enough to make every gate matter."""
    layer = MDLSTM2D(units, **kwargs)
    layer.build((None, None, None, channels))
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(0, 0.6, w.shape).astype("float32") for w in layer.weights])
    return layer


def random_images(shape, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")




def weighted_sum(t):
    w = np.sin(np.arange(np.prod(t.shape)) * 0.37).reshape(t.shape).astype("float32")
    return tf.reduce_sum(t * w)


def outputs_and_grads(fn, layer, x):
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out, h, c = fn(x)
        loss = weighted_sum(out) + weighted_sum(h) - 0.5 * weighted_sum(c)
    return [out, h, c], tape.gradient(loss, [x, *layer.trainable_weights])


def assert_matches_reference(layer, x, training=None):
    got, got_grads = outputs_and_grads(lambda t: layer(t, training=training), layer, x)
    want, want_grads = outputs_and_grads(lambda t: reference_mdlstm(layer, t), layer, x)
    for g, w in zip(got + got_grads, want + want_grads):
        np.testing.assert_allclose(g.numpy(), w.numpy(), atol=ATOL, rtol=1e-4)


@pytest.mark.parametrize("cell", ["graves", "bounded"])
@pytest.mark.parametrize("directions", [1, 2, 4])
def test_matches_reference_non_square(directions, cell):
    layer = make_layer(directions=directions, cell=cell, return_state=True)
    assert_matches_reference(layer, random_images((2, 3, 5, 2)))


@pytest.mark.parametrize("cell", ["graves", "bounded"])
@pytest.mark.parametrize("shape", [(1, 6), (5, 1), (1, 1), (4, 4)], ids=["h1", "w1", "1x1", "sq"])
def test_matches_reference_thin_shapes(shape, cell):
    layer = make_layer(directions=4, cell=cell, return_state=True, merge="sum")
    assert_matches_reference(layer, random_images((2, *shape, 2)))


def test_matches_reference_mean_merge():
    layer = make_layer(directions=2, merge="mean", return_state=True)
    assert_matches_reference(layer, random_images((1, 4, 3, 2)))


def test_output_shapes():
    x = random_images((2, 3, 7, 2))
    assert MDLSTM2D(5)(x).shape == (2, 3, 7, 20)
    assert MDLSTM2D(5, directions=2)(x).shape == (2, 3, 7, 10)
    assert MDLSTM2D(5, merge="sum")(x).shape == (2, 3, 7, 5)
    out, h, c = MDLSTM2D(5, directions=2, return_state=True)(x)
    assert out.shape == (2, 3, 7, 10) and h.shape == (2, 10) and c.shape == (2, 10)
    assert MDLSTM2D(5).compute_output_shape((None, 3, None, 2)) == (None, 3, None, 20)


def test_golden_value_with_constant_weights():
    # One pixel, one unit: gates are all x*0.5 + bias, forget biases 1.0.
    layer = MDLSTM2D(
        1, directions=1, cell="graves", kernel_initializer="ones", recurrent_initializer="zeros"
    )
    out = layer(np.full((1, 1, 1, 1), 0.5, "float32")).numpy().item()
    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    c = sig(0.5) * np.tanh(0.5)
    assert out == pytest.approx(sig(0.5) * np.tanh(c), abs=1e-6)
    np.testing.assert_array_equal(layer.bias.numpy(), [[0, 1, 1, 0, 0]])
    bounded = MDLSTM2D(2, directions=2, cell="bounded")
    bounded.build((None, None, None, 1))
    np.testing.assert_array_equal(bounded.bias.numpy()[1], [0, 0, 1, 1, 0, 0, 0, 0, 0, 0])


def test_each_direction_initialised_as_its_own_layer():
    channels, units = 20, 8
    layer = MDLSTM2D(units, directions=4)
    layer.build((None, None, None, channels))
    kernel, recurrent = layer.kernel.numpy(), layer.recurrent_kernel.numpy()
    # Glorot uniform over each direction's (in, 5U): limit sqrt(6 / (in + 5U)), variance 2 / (in + 5U).
    limit = np.sqrt(6 / (channels + 5 * units))
    for k in kernel:
        assert 0.95 * limit < np.abs(k).max() <= limit
        assert k.var() == pytest.approx(2 / (channels + 5 * units), rel=0.15)
    # Orthogonal per direction, neighbour (left rows, upper rows) and gate block.
    for d in range(4):
        for rows in (slice(0, units), slice(units, 2 * units)):
            for g in range(5):
                block = recurrent[d, rows, g * units : (g + 1) * units]
                np.testing.assert_allclose(block @ block.T, np.eye(units), atol=1e-5)
    # Directions and blocks are independent draws, not copies.
    assert not np.allclose(kernel[0], kernel[1])
    assert not np.allclose(recurrent[0, :units, :units], recurrent[1, :units, :units])
    assert not np.allclose(recurrent[0, :units, :units], recurrent[0, :units, units : 2 * units])


def test_seeded_initialisers_are_reproducible_and_still_differ_per_direction():
    make = lambda: MDLSTM2D(  # noqa: E731
        3, directions=2, kernel_initializer=keras.initializers.GlorotUniform(seed=7),
        recurrent_initializer=keras.initializers.Orthogonal(seed=7),
    )
    a, b = make(), make()
    for layer in (a, b):
        layer.build((None, None, None, 2))
    np.testing.assert_array_equal(a.kernel.numpy(), b.kernel.numpy())
    np.testing.assert_array_equal(a.recurrent_kernel.numpy(), b.recurrent_kernel.numpy())
    assert not np.allclose(a.kernel.numpy()[0], a.kernel.numpy()[1])


@pytest.mark.parametrize("units, shape", [(2, (4, 16, 100, 4)), (10, (2, 8, 192, 6))])
def test_default_cell_state_stays_in_range_at_initialisation(units, shape):
    # Realistic sizes: the first two layers of the line model on a 32 x 384 line.
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    out, _, c = MDLSTM2D(units, directions=4, return_state=True)(x)
    # Bounded cell: |c| grows by at most 1 per diagonal, and at initialisation stays near 1.
    assert np.abs(c.numpy()).max() < 2.0
    assert 0.02 < np.sqrt(np.mean(out.numpy() ** 2)) < 0.9
    # The Graves cell (two forget gates biased to +1) blows up on the same input.
    _, _, c_graves = MDLSTM2D(units, directions=4, cell="graves", return_state=True)(x)
    assert np.abs(c_graves.numpy()).max() > 1e3


@pytest.mark.parametrize("cell", ["graves", "bounded"])
def test_inference_scan_matches_reference_and_still_differentiates(cell):
    # training=False keeps neither c nor the gate activations per step; TF's own gradient of
    # that loop must still be the reference's.
    layer = make_layer(directions=4, cell=cell, return_state=True)
    assert_matches_reference(layer, random_images((2, 3, 5, 2)), training=False)


def test_inference_scan_equals_training_scan_on_a_padded_batch_under_xla():
    layer = make_layer(directions=4, cell="bounded")
    x, mask, _ = padded_batch(SIZES)
    call = tf.function(lambda a, m, training: layer(a, mask=m, training=training), jit_compile=True)
    inference = call(tf.convert_to_tensor(x), mask, False).numpy()
    np.testing.assert_allclose(inference, layer(x, mask=mask, training=True).numpy(), atol=ATOL)
    assert np.all(inference[~mask] == 0)


def test_one_direction_depends_on_exactly_the_top_left_quadrant():
    layer = make_layer(directions=1)
    x = tf.convert_to_tensor(random_images((1, 4, 5, 2)))
    for i, j in [(0, 0), (2, 3), (3, 1), (0, 4)]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x)[0, i, j])
        dep = np.abs(tape.gradient(y, x).numpy()[0]).sum(-1) > 0
        expected = np.zeros((4, 5), bool)
        expected[: i + 1, : j + 1] = True
        np.testing.assert_array_equal(dep, expected)


SIZES = [(3, 5), (4, 2), (2, 6), (4, 6)]  # per-sample valid (height, width)


def padded_batch(sizes, channels=2):
    H = max(h for h, _ in sizes)
    W = max(w for _, w in sizes)
    x = np.zeros((len(sizes), H, W, channels), "float32")
    mask = np.zeros((len(sizes), H, W), bool)
    alone = []
    for b, (h, w) in enumerate(sizes):
        x[b, :h, :w] = random_images((h, w, channels), seed=10 + b)
        mask[b, :h, :w] = True
        alone.append(x[b : b + 1, :h, :w])
    return x, mask, alone


@pytest.mark.parametrize("cell", ["graves", "bounded"])
def test_padded_batch_equals_each_sample_alone(cell):
    layer = make_layer(directions=4, cell=cell, return_state=True)
    x, mask, alone = padded_batch(SIZES)
    xt = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        out, h, c = layer(xt, mask=mask)
        loss = weighted_sum(out) + weighted_sum(h)
    batch_grads = tape.gradient(loss, layer.trainable_weights)
    out, h, c = out.numpy(), h.numpy(), c.numpy()
    sample_grads = None
    for b, ((hb, wb), xb) in enumerate(zip(SIZES, alone)):
        with tf.GradientTape() as tape:
            ob, hb_state, cb = layer(xb)
            # Same weights on the same valid outputs as in the batch loss.
            wmap = np.sin(np.arange(out.size) * 0.37).reshape(out.shape)[b : b + 1, :hb, :wb]
            wh = np.sin(np.arange(h.size) * 0.37).reshape(h.shape)[b : b + 1]
            loss_b = tf.reduce_sum(ob * wmap.astype("float32")) + tf.reduce_sum(
                hb_state * wh.astype("float32")
            )
        g = tape.gradient(loss_b, layer.trainable_weights)
        sample_grads = g if sample_grads is None else [a + b_ for a, b_ in zip(sample_grads, g)]
        np.testing.assert_allclose(out[b, :hb, :wb], ob.numpy()[0], atol=ATOL)
        np.testing.assert_allclose(h[b], hb_state.numpy()[0], atol=ATOL)
        np.testing.assert_allclose(c[b], cb.numpy()[0], atol=ATOL)
        padded = ~mask[b]
        assert np.all(out[b][padded] == 0)
    for gb, gs in zip(batch_grads, sample_grads):
        np.testing.assert_allclose(gb.numpy(), gs.numpy(), atol=1e-4)


def test_masked_call_compiles_with_xla_and_matches_eager():
    layer = make_layer(directions=4, cell="bounded")
    x, mask, _ = padded_batch(SIZES)

    def values_and_grads(a, m):
        with tf.GradientTape() as tape:
            tape.watch(a)
            out = layer(a, mask=m)
            loss = weighted_sum(out)
        return out, tape.gradient(loss, [a, *layer.trainable_weights])

    x = tf.convert_to_tensor(x)
    eager = values_and_grads(x, mask)
    compiled = tf.function(values_and_grads, jit_compile=True)(x, mask)
    for got, want in zip(tf.nest.flatten(compiled), tf.nest.flatten(eager)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-4)


def test_mask_propagates_through_layer():
    x, mask, _ = padded_batch(SIZES[:2])
    assert_mask_propagates(make_layer(directions=2), x, mask)


def test_full_mask_equals_no_mask():
    layer = make_layer(directions=4)
    x = random_images((2, 3, 4, 2))
    np.testing.assert_allclose(
        layer(x, mask=np.ones((2, 3, 4), bool)).numpy(), layer(x).numpy(), atol=1e-6
    )


def test_config_round_trip():
    layer = make_layer(directions=2, cell="bounded", merge="mean", kernel_regularizer="l2")
    x, mask, _ = padded_batch(SIZES[:2])
    assert_config_round_trip(layer, x, mask=mask)


@pytest.mark.slow
def test_save_load_in_fresh_process(tmp_path):
    from keras_htr.layers import Collapse

    inputs = keras.Input((4, None, 2))
    y = keras.layers.Masking(0.0)(inputs)
    y = MDLSTM2D(3, directions=4, cell="bounded")(y)
    y = Collapse()(y)
    model = keras.Model(inputs, keras.layers.Dense(5)(y))
    x, _, _ = padded_batch(SIZES)
    assert_save_load_fresh_process(model, x, tmp_path)


@pytest.mark.slow
def test_fit_two_steps_with_xla():
    from keras_htr.layers import Collapse

    inputs = keras.Input((4, None, 2))
    y = keras.layers.Masking(0.0)(inputs)
    y = MDLSTM2D(4, directions=4)(y)
    y = Collapse()(y)
    model = keras.Model(inputs, keras.layers.Dense(3)(y))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=True)
    x, _, _ = padded_batch(SIZES)
    target = np.random.default_rng(0).normal(size=(4, 6, 3)).astype("float32")
    before = [w.numpy().copy() for w in model.trainable_weights]
    history = model.fit(x, target, batch_size=2, epochs=1, steps_per_epoch=2, verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss)
    assert any(not np.allclose(a, w.numpy()) for a, w in zip(before, model.trainable_weights))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, "`units`"),
        ({"units": 2.5}, "`units`"),
        ({"units": 2, "directions": 3}, "`directions`"),
        ({"units": 2, "merge": "max"}, "`merge`"),
        ({"units": 2, "cell": "peephole"}, "`cell`"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MDLSTM2D(**kwargs)


def test_bad_inputs():
    layer = MDLSTM2D(2)
    with pytest.raises(ValueError, match="rank 4"):
        layer(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="height and width >= 1"):
        MDLSTM2D(2)(np.zeros((2, 0, 4, 1), "float32"))
    with pytest.raises(ValueError, match="height and width >= 1"):
        MDLSTM2D(2)(np.zeros((2, 3, 0, 1), "float32"))
    with pytest.raises(ValueError, match="float input"):
        MDLSTM2D(2)(np.zeros((2, 3, 4, 1), "int32"))
    with pytest.raises(ValueError, match="mask of shape"):
        MDLSTM2D(2)(np.zeros((2, 3, 4, 1), "float32"), mask=np.ones((2, 4, 3), bool))
    with pytest.raises(ValueError, match="mask of shape"):
        MDLSTM2D(2)(np.zeros((2, 3, 4, 1), "float32"), mask=np.ones((2, 3, 4, 1), bool))


@pytest.mark.slow
def test_tflite_batch_one_dynamic_width_matches_keras():
    # Deployment path (DESIGN: batch 1, dynamic width, builtin ops only).
    from ai_edge_litert.interpreter import Interpreter

    from keras_htr.layers import Collapse

    inputs = keras.Input((4, None, 1), batch_size=1)
    model = keras.Model(inputs, Collapse()(make_layer(directions=4, channels=1)(inputs)))
    fn = tf.function(model, input_signature=[tf.TensorSpec((1, 4, None, 1), tf.float32)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    interpreter = Interpreter(model_content=converter.convert())
    x = random_images((1, 4, 7, 1))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    got = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(got, model(x).numpy(), atol=1e-5)
