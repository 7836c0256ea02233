"""Multi-dimensional LSTM over images, evaluated by anti-diagonal wavefronts.

The cell at pixel (i, j) reads the state of its left neighbour (i, j-1) and of
its upper neighbour (i-1, j). All cells on one anti-diagonal are independent,
so the layer skews the image (row i shifted right by i) and runs a 1-D scan of
`height + width - 1` steps, each step updating a whole diagonal for every
direction with one batched matmul. The input projection is done once, before
the scan. The scan is a `tf.while_loop` with a static bound, so the layer
compiles under `jit_compile=True`.

References:
    Graves, Fernandez, Schmidhuber. Multi-dimensional recurrent neural
    networks, 2007. Pham et al. Dropout improves recurrent neural networks for
    handwriting recognition, 2014.
"""

from __future__ import annotations

import keras
import tensorflow as tf

CELLS = ("graves", "bounded")
MERGES = ("concat", "sum", "mean")

# Scan start corner of each direction, as (flip height, flip width): top-left,
# bottom-right, top-right, bottom-left. `directions=n` uses the first n.
DIRECTION_FLIPS = ((False, False), (True, True), (False, True), (True, False))

# Gate pre-activations are laid out [g0, g1, g2, o, a]: the first four are
# squashed by one sigmoid, `a` (the cell input) by tanh.
NUM_GATES = 5


def graves_cell(gates, c_left, c_up):
    """One 2-D LSTM step (Graves 2007): a forget gate per neighbour.

    `gates` holds [i, f_left, f_up, o, a] pre-activations on its last axis.
    Returns the new hidden and cell states.
    """
    units = c_left.shape[-1]
    s = tf.sigmoid(gates[..., : 4 * units])
    a = tf.tanh(gates[..., 4 * units :])
    i, f_left, f_up, o = tf.split(s, 4, axis=-1)
    c = i * a + f_left * c_left + f_up * c_up
    return o * tf.tanh(c), c


def bounded_cell(gates, c_left, c_up):
    """One 2-D LSTM step with a single forget gate over a convex mix of neighbours.

    RETURNN's lambda-gate cell: `c = i*tanh(a) + f*(lam*c_up + (1-lam)*c_left)`.
    The plain cell adds both neighbours' states, so |c| can double along each
    diagonal; here it grows at most by one per step. `gates` holds
    [i, f, lam, o, a] pre-activations.
    """
    units = c_left.shape[-1]
    s = tf.sigmoid(gates[..., : 4 * units])
    a = tf.tanh(gates[..., 4 * units :])
    i, f, lam, o = tf.split(s, 4, axis=-1)
    c = i * a + f * (c_left + lam * (c_up - c_left))
    return o * tf.tanh(c), c


_CELL_FUNCTIONS = {"graves": graves_cell, "bounded": bounded_cell}
# Which of the gates g0..g2 are forget gates (bias 1.0 with `unit_forget_bias`).
_FORGET_GATES = {"graves": (1, 2), "bounded": (1,)}


def _dim(x, axis):
    """Static size of `axis` when known, else the dynamic one."""
    size = x.shape[axis]
    return size if size is not None else tf.shape(x)[axis]


def _reverse(x, axis, lengths):
    """Reverse `x` along `axis`; with `lengths`, only each sample's valid prefix."""
    if lengths is None:
        return tf.reverse(x, [axis])
    return tf.reverse_sequence(x, lengths, seq_axis=axis, batch_axis=0)


@keras.saving.register_keras_serializable(package="keras_htr")
class MDLSTM2D(keras.layers.Layer):
    """Two-dimensional LSTM scanning an image from 1, 2 or 4 corners.

    Each direction has its own weights; `directions=1` scans from the top-left
    corner, so output (i, j) depends exactly on the inputs (i', j') with
    i' <= i and j' <= j. `directions=2` adds the scan from the bottom-right,
    `directions=4` those from the top-right and bottom-left too.

    With a mask, each sample's valid region is the top-left rectangle of the
    mask; flipped directions start at that rectangle's edge (not at the padded
    tensor's), cells outside it are zero, so a padded batch gives what each
    sample gives alone.

    Args:
        units: positive int, size of each direction's hidden state.
        directions: 1, 2 or 4 (default 4).
        merge: how directions are combined: `"concat"` (output width
            `directions * units`, the default), `"sum"` or `"mean"` (width `units`).
        cell: `"graves"` (one forget gate per neighbour, the default) or
            `"bounded"` (one forget gate on a convex mix of the neighbours'
            states, which keeps the state from growing along diagonals).
        return_state: if True, also return the final hidden and cell states,
            taken at each direction's last cell (the corner opposite its
            start), merged like the outputs: `(batch, output_units)` each.
        unit_forget_bias: add 1.0 to the forget-gate biases at initialisation
            (default True).
        kernel_initializer, recurrent_initializer, bias_initializer:
            initialisers of the input kernel `(directions, channels, 5*units)`,
            the recurrent kernel `(directions, 2*units, 5*units)` (rows: left
            neighbour, then upper neighbour) and the bias `(directions, 5*units)`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional
            regularisers of the same weights.

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`.
        mask: optional bool tensor `(batch, height, width)`, True on valid pixels.

    Returns:
        `(batch, height, width, output_units)`, zero outside the mask; with
        `return_state`, `[outputs, h, c]`.

    Example:

    >>> layer = MDLSTM2D(8, directions=4, merge="concat")
    >>> layer(np.zeros((2, 16, 40, 3), "float32")).shape
    TensorShape([2, 16, 40, 32])
    """

    def __init__(
        self,
        units,
        directions=4,
        merge="concat",
        cell="graves",
        return_state=False,
        unit_forget_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError(
                "Received an invalid value for argument `units`, expected a positive "
                f"integer, got {units!r}"
            )
        if directions not in (1, 2, 4) or isinstance(directions, bool):
            raise ValueError(
                "Received an invalid value for argument `directions`, expected 1, 2 or 4, "
                f"got {directions!r}"
            )
        if merge not in MERGES:
            raise ValueError(
                "Received an invalid value for argument `merge`, expected one of "
                f"{MERGES}, got {merge!r}"
            )
        if cell not in CELLS:
            raise ValueError(
                "Received an invalid value for argument `cell`, expected one of "
                f"{CELLS}, got {cell!r}"
            )
        self.units = units
        self.directions = directions
        self.merge = merge
        self.cell = cell
        self.return_state = bool(return_state)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.supports_masking = True
        self._cell_fn = _CELL_FUNCTIONS[cell]

    @property
    def output_units(self):
        return self.units * self.directions if self.merge == "concat" else self.units

    def _check_input_shape(self, shape):
        shape = tuple(shape)
        if len(shape) != 4:
            raise ValueError(
                f"{self.__class__.__name__} expected input of rank 4 "
                f"(batch, height, width, channels), got shape {shape}"
            )
        if any(s == 0 for s in shape[1:3]):
            raise ValueError(
                f"{self.__class__.__name__} expected an input with height and width >= 1, "
                f"got shape {shape}"
            )
        if shape[-1] is None:
            raise ValueError(
                f"{self.__class__.__name__} expected a known number of channels, got shape {shape}"
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        channels = input_shape[-1]
        d, u = self.directions, self.units
        self.kernel = self.add_weight(
            name="kernel",
            shape=(d, channels, NUM_GATES * u),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(d, 2 * u, NUM_GATES * u),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
        )
        if self.unit_forget_bias:
            base = self.bias_initializer
            forget = _FORGET_GATES[self.cell]

            def bias_initializer(shape, dtype=None):
                bias = keras.ops.convert_to_tensor(base(shape, dtype=dtype))
                ones = [1.0 if g in forget else 0.0 for g in range(NUM_GATES)]
                ones = keras.ops.repeat(keras.ops.convert_to_tensor(ones, dtype=bias.dtype), u)
                return bias + ones[None, :]

        else:
            bias_initializer = self.bias_initializer
        self.bias = self.add_weight(
            name="bias",
            shape=(d, NUM_GATES * u),
            initializer=bias_initializer,
            regularizer=self.bias_regularizer,
        )
        self.input_spec = keras.layers.InputSpec(ndim=4, axes={-1: channels})

    def _check_call_args(self, inputs, mask):
        self._check_input_shape(inputs.shape)
        if not inputs.dtype.is_floating:
            raise ValueError(
                f"{self.__class__.__name__} expected a float input, got dtype {inputs.dtype.name}"
            )
        if mask is None:
            return
        mask_shape = tuple(mask.shape)
        expected = tuple(inputs.shape[:3])
        if len(mask_shape) != 3 or any(
            m is not None and e is not None and m != e for m, e in zip(mask_shape, expected)
        ):
            raise ValueError(
                f"{self.__class__.__name__} expected a mask of shape (batch, height, width) = "
                f"{expected}, got shape {mask_shape}"
            )

    def call(self, inputs, mask=None):
        inputs = tf.convert_to_tensor(inputs)
        if mask is not None:
            mask = tf.convert_to_tensor(mask)
        self._check_call_args(inputs, mask)
        dtype = inputs.dtype
        d, u, g = self.directions, self.units, NUM_GATES * self.units
        batch, height, width = (_dim(inputs, a) for a in range(3))
        steps = height + width - 1

        if mask is None:
            heights = widths = None
        else:
            mask = tf.cast(mask, tf.bool)
            heights = tf.reduce_sum(tf.cast(tf.reduce_any(mask, axis=2), tf.int32), axis=1)
            widths = tf.reduce_sum(tf.cast(tf.reduce_any(mask, axis=1), tf.int32), axis=1)

        def flip(x, d_index):
            flip_h, flip_w = DIRECTION_FLIPS[d_index]
            if flip_h:
                x = _reverse(x, 1, heights)
            if flip_w:
                x = _reverse(x, 2, widths)
            return x

        # Input projection for every direction and pixel, once.
        x = tf.stack([flip(inputs, k) for k in range(d)])  # (D, B, H, W, C)
        z = tf.einsum("dbhwc,dcg->dbhwg", x, tf.cast(self.kernel, dtype))
        z = z + tf.cast(self.bias, dtype)[:, None, None, None, :]

        # Skew: row i shifted right by i, so column t holds anti-diagonal t.
        z = tf.pad(z, [[0, 0], [0, 0], [0, 0], [0, height], [0, 0]])
        z = tf.reshape(z, [d, batch, height * (width + height), g])[:, :, : height * steps]
        z = tf.reshape(z, [d, batch, height, steps, g])
        z = tf.transpose(z, [3, 0, 1, 2, 4])  # (T, D, B, H, 5U)

        if mask is not None:
            rows = tf.range(height)
            row_valid = rows[None, :] < heights[:, None]  # (B, H)
            last_step = heights + widths - 2  # step of each sample's far corner
            last_row = tf.one_hot(heights - 1, height, dtype=dtype)  # (B, H)

        recurrent_kernel = tf.cast(self.recurrent_kernel, dtype)
        cell_fn = self._cell_fn
        z_steps = tf.TensorArray(dtype, size=steps, element_shape=z.shape[1:]).unstack(z)
        outputs = tf.TensorArray(dtype, size=steps, element_shape=z.shape[1:-1] + (u,))
        zeros = tf.zeros([d, batch, height, u], dtype)
        final_zeros = tf.zeros([d, batch, u], dtype)

        def shift_down(s):
            # State of the upper neighbour: row i-1 of the previous diagonal.
            return tf.pad(s[:, :, :-1], [[0, 0], [0, 0], [1, 0], [0, 0]])

        def body(t, h, c, outputs, h_final, c_final):
            h_up, c_up = shift_down(h), shift_down(c)
            hh = tf.reshape(tf.concat([h, h_up], axis=-1), [d, -1, 2 * u])
            gates = z_steps.read(t) + tf.reshape(tf.matmul(hh, recurrent_kernel), [d, batch, height, g])
            h, c = cell_fn(gates, c, c_up)
            if mask is not None:
                # Zero every cell outside its sample, so padding never leaks in.
                valid = row_valid & (t - rows[None, :] < widths[:, None])
                valid = valid[None, :, :, None]
                h = tf.where(valid, h, tf.zeros_like(h))
                c = tf.where(valid, c, tf.zeros_like(c))
                if self.return_state:
                    done = tf.equal(t, last_step)[None, :, None]
                    h_final = tf.where(done, tf.einsum("dbhu,bh->dbu", h, last_row), h_final)
                    c_final = tf.where(done, tf.einsum("dbhu,bh->dbu", c, last_row), c_final)
            return t + 1, h, c, outputs.write(t, h), h_final, c_final

        _, h, c, outputs, h_final, c_final = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), zeros, zeros, outputs, final_zeros, final_zeros),
            maximum_iterations=steps,
        )
        if mask is None:
            h_final, c_final = h[:, :, -1], c[:, :, -1]

        # Unskew: in the flattened skewed rows, pixel (i, j) sits at i*(W+H) + j.
        y = tf.transpose(outputs.stack(), [1, 2, 3, 0, 4])  # (D, B, H, T, U)
        y = tf.reshape(y, [d, batch, height * steps, u])
        y = tf.pad(y, [[0, 0], [0, 0], [0, height], [0, 0]])
        y = tf.reshape(y, [d, batch, height, width + height, u])[:, :, :, :width]
        y = tf.stack([flip(y[k], k) for k in range(d)])  # back to image orientation

        outputs = self._merge(y, axis=-1)
        if not self.return_state:
            return outputs
        return [outputs, self._merge(h_final, axis=-1), self._merge(c_final, axis=-1)]

    def _merge(self, per_direction, axis):
        """Combine the leading direction axis: concat on `axis`, sum or mean."""
        if self.merge == "sum":
            return tf.reduce_sum(per_direction, axis=0)
        if self.merge == "mean":
            return tf.reduce_mean(per_direction, axis=0)
        return tf.concat(tf.unstack(per_direction, num=self.directions), axis=axis)

    def compute_mask(self, inputs, mask=None):
        if not self.return_state:
            return mask
        return [mask, None, None]

    def compute_output_shape(self, input_shape):
        out = tuple(input_shape[:3]) + (self.output_units,)
        if not self.return_state:
            return out
        state = (input_shape[0], self.output_units)
        return [out, state, state]

    def get_config(self):
        config = {
            "units": self.units,
            "directions": self.directions,
            "merge": self.merge,
            "cell": self.cell,
            "return_state": self.return_state,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
        return {**super().get_config(), **config}
