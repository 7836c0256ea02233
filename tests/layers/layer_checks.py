"""Checks every keras-htr layer should pass: config round trip, save/load in a
fresh process, mask propagation. Shared by the layer tests."""

import subprocess
import sys
import textwrap

import keras
import numpy as np


def assert_config_round_trip(layer, inputs, **call_kwargs):
    """A layer rebuilt from its config, with the same weights, gives the same output."""
    expected = keras.ops.convert_to_numpy(layer(inputs, **call_kwargs))
    clone = layer.__class__.from_config(layer.get_config())
    clone(inputs, **call_kwargs)
    clone.set_weights(layer.get_weights())
    assert clone.get_config() == layer.get_config()
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(clone(inputs, **call_kwargs)), expected)


def assert_save_load_fresh_process(model, inputs, tmp_path, import_line="import keras_htr.layers"):
    """`model.save` then `keras.models.load_model` in a new Python process (no
    custom_objects; only the package import) gives identical outputs."""
    path = tmp_path / "model.keras"
    model.save(path)
    np.save(tmp_path / "inputs.npy", inputs)
    expected = keras.ops.convert_to_numpy(model(inputs))
    script = textwrap.dedent(
        f"""
        import numpy as np, keras
        {import_line}
        model = keras.models.load_model({str(path)!r})
        x = np.load({str(tmp_path / "inputs.npy")!r})
        np.save({str(tmp_path / "outputs.npy")!r}, keras.ops.convert_to_numpy(model(x)))
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    np.testing.assert_array_equal(np.load(tmp_path / "outputs.npy"), expected)


class MaskProbe(keras.layers.Layer):
    """Outputs the mask it receives, so a test can read what a model propagated."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, mask=None):
        assert mask is not None, "no mask reached the probe"
        return keras.ops.cast(mask, "float32")


def assert_mask_propagates(layer, inputs, expected_mask):
    """In a functional model, the mask `Masking(0.0)` derives from zero-padded
    `inputs` goes through `layer` and arrives downstream as `expected_mask`."""
    x = keras.Input(inputs.shape[1:])
    probe = MaskProbe()(layer(keras.layers.Masking(0.0)(x)))
    got = keras.Model(x, probe)(inputs)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(got).astype(bool), expected_mask)
