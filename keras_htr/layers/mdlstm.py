"""Multi-dimensional LSTM over images, evaluated by anti-diagonal wavefronts.

The cell at pixel (i, j) reads the state of its left neighbour (i, j-1) and of
its upper neighbour (i-1, j). All cells on one anti-diagonal are independent,
so the layer skews the image (row i shifted right by i) and runs a 1-D scan of
`height + width - 1` steps, each step updating a whole diagonal for every
direction with one batched matmul of [input, left state, upper state] by the
stacked kernels. The scan is a `tf.while_loop` with a static bound, so the layer
compiles under `jit_compile=True`.

References:
    Graves, Fernandez, Schmidhuber. Multi-dimensional recurrent neural
    networks, 2007. Pham et al. Dropout improves recurrent neural networks for
    handwriting recognition, 2014.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_htr.layers.mdlstm_cell import CELL_CLASSES, CELLS, NUM_GATES

MERGES = ("concat", "sum", "mean")

# Scan start corner of each direction, as (flip height, flip width): top-left,
# bottom-right, top-right, bottom-left. `directions=n` uses the first n.
DIRECTION_FLIPS = ((False, False), (True, True), (False, True), (True, False))


def _rows(s, start, stop):
    """Rows `start:stop` of axis -2, written without an ellipsis (TFLite-friendly)."""
    return s[(slice(None),) * (s.shape.rank - 2) + (slice(start, stop),)]


def _shift_down(s):
    """Row i gets row i-1 (axis -2, zeros in row 0): each cell's upper neighbour."""
    return tf.concat([tf.zeros_like(_rows(s, None, 1)), _rows(s, None, -1)], axis=-2)


def _shift_up(s):
    """Transpose of `_shift_down`: routes gradients back to the upper neighbour."""
    return tf.concat([_rows(s, 1, None), tf.zeros_like(_rows(s, None, 1))], axis=-2)


def _scan_sizes(xs, bias):
    """The sizes both scans need: steps, directions, batch, height (dynamic where unknown),
    input channels, gate width 5U, units U and dtype."""
    g = bias.shape[-1]
    return (tf.shape(xs)[0], *(_dim(xs, a) for a in (1, 2, 3)), xs.shape[-1], g, g // NUM_GATES, xs.dtype)


def _forward_scan(xs, weights, bias, valid, cell, store):
    """The forward recurrence over the skewed steps, keeping the per-step tensors `store` names.

    Args:
        xs, valid: as in `wavefront_scan`.
        weights: `(D, C + 2U, 5U)`, the input kernel stacked over the recurrent one.
        bias: `(D, 5U)`.
        cell: `GravesCell` or `BoundedCell`.
        store: which of `"h"`, `"c"`, `"act"` (the gate activations) to keep for every step.

    Returns:
        {name: `(T, D, B, H, size)` stacked steps} for the names in `store`.
    """
    steps, d, batch, height, channels, g, u, dtype = _scan_sizes(xs, bias)
    bias_b = bias[:, None, None, :]
    x_steps = tf.TensorArray(dtype, size=steps).unstack(xs)
    valid_steps = tf.TensorArray(dtype, size=steps).unstack(valid)
    sizes = {"h": u, "c": u, "act": g}

    def body(t, h, c, *stored):
        inputs = tf.concat([x_steps.read(t), h, _shift_down(h)], -1)
        gates = tf.matmul(tf.reshape(inputs, [d, -1, channels + 2 * u]), weights)
        gates = tf.reshape(gates, [d, batch, height, g]) + bias_b
        c, act = cell.forward(gates, c, _shift_down(c))
        c = c * valid_steps.read(t)  # cells outside their sample stay zero
        h = tf.split(act, NUM_GATES, axis=-1)[3] * tf.tanh(c)
        new = {"h": h, "c": c, "act": act}
        return (t + 1, h, c) + tuple(ta.write(t, new[name]) for ta, name in zip(stored, store))

    zeros = tf.zeros([d, batch, height, u], dtype)
    _, _, _, *stored = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), zeros, zeros) + tuple(_step_array(dtype, steps, d, batch, height, sizes[n]) for n in store),
        maximum_iterations=steps,
    )
    return {name: ta.stack() for name, ta in zip(store, stored)}


def _step_array(dtype, steps, *element_shape):
    """A TensorArray of `steps` elements with an explicit element shape (TFLite's lowering of
    tensor lists needs it; dynamic sizes are left as None)."""
    shape = [s if isinstance(s, int) else None for s in element_shape]
    return tf.TensorArray(dtype, size=steps, element_shape=shape)


def wavefront_scan(xs, kernel, recurrent_kernel, bias, valid, cell, training=True, keep_c=True):
    """Run the 2-D recurrence over a skewed input, with a hand-written backward scan.

    Args:
        xs: `(T, D, B, H, C)` skewed inputs: step t holds anti-diagonal t.
        kernel: `(D, C, 5U)` input kernel.
        recurrent_kernel: `(D, 2U, 5U)`, rows for the left then the upper neighbour.
        bias: `(D, 5U)`.
        valid: `(T, 1, B or 1, H, 1)` float, 1 on cells inside their sample;
            every other cell (skew padding, image padding) is held at zero.
        cell: `GravesCell` or `BoundedCell`.
        training: False runs the forward alone, keeping only h (and c with `keep_c`) and not
            the gate activations the hand-written backward needs: less memory traffic per
            step for inference. TensorFlow still differentiates it, as any loop, only slower.
        keep_c: with `training=False`, whether to return c too.

    Returns:
        `(h, c)`, each `(T, D, B, H, U)`; c is None with `training=False, keep_c=False`.

    Each step does one matmul of [x, h_left, h_up] by the stacked kernels and
    one fused block of gate math, so no `(T, D, B, H, 5U)` projection is ever
    stored in the forward pass. Autodiff through `tf.while_loop` stored every
    intermediate of every step and, under XLA, ran the backward 7x slower than
    the forward; the backward scan here keeps only h, c and the gate
    activations, and accumulates the weight and input gradients step by step
    in the loop's own layout (einsums over the stacked steps needed large
    transposes that cost more than the backward loop itself).
    """
    if not training:
        weights = tf.concat([kernel, recurrent_kernel], axis=1)
        out = _forward_scan(xs, weights, bias, valid, cell, ("h", "c") if keep_c else ("h",))
        return out["h"], out.get("c")

    steps, d, batch, height, channels, g, u, dtype = _scan_sizes(xs, bias)
    zeros = tf.zeros([d, batch, height, u], dtype)

    def ta(last):
        return _step_array(dtype, steps, d, batch, height, last)

    def tas(*xs):
        return [tf.TensorArray(dtype, size=steps).unstack(x) for x in xs]

    @tf.custom_gradient
    def scan(xs, kernel, recurrent_kernel, bias):
        weights = tf.concat([kernel, recurrent_kernel], axis=1)  # (D, C + 2U, 5U)
        out = _forward_scan(xs, weights, bias, valid, cell, ("h", "c", "act"))
        hs, cs, acts = out["h"], out["c"], out["act"]

        def grad(dhs, dcs):
            dhs = tf.zeros_like(hs) if dhs is None else dhs
            dcs = tf.zeros_like(cs) if dcs is None else dcs
            # State before step t: zeros before step 0.
            prev = lambda x: tf.concat([tf.zeros_like(x[:1]), x[:-1]], 0)  # noqa: E731
            hp_ta, cp_ta, c_ta, act_ta, dh_ta, dc_ta, valid_ta, x_ta = tas(
                prev(hs), prev(cs), cs, acts, dhs, dcs, valid, xs
            )
            recurrent_t = tf.transpose(recurrent_kernel, [0, 2, 1])
            k_in = channels + 2 * u

            def back(k, dh, dc, d_weights, d_bias, dxs):
                t = steps - 1 - k
                dh = dh + dh_ta.read(t)
                act, c_left, h_left = act_ta.read(t), cp_ta.read(t), hp_ta.read(t)
                tc = tf.tanh(c_ta.read(t))
                o = tf.split(act, NUM_GATES, axis=-1)[3]
                dc = dc + dc_ta.read(t) + dh * o * (1 - tc * tc)
                dc = dc * valid_ta.read(t)
                dgates, dc_left, dc_up = cell.backward(act, dc, dh * tc, c_left, _shift_down(c_left))
                dgates = tf.reshape(dgates, [d, -1, g])
                # Weight and input gradients per step, in the layout the loop
                # already has (an einsum over the stacked steps needs big transposes).
                inputs = tf.concat([x_ta.read(t), h_left, _shift_down(h_left)], -1)
                inputs = tf.reshape(inputs, [d, -1, k_in])
                d_weights += tf.matmul(inputs, dgates, transpose_a=True)
                d_bias += tf.reduce_sum(dgates, axis=1)
                dx = tf.matmul(dgates, kernel, transpose_b=True)
                dxs = dxs.write(t, tf.reshape(dx, [d, batch, height, channels]))
                dhh = tf.reshape(tf.matmul(dgates, recurrent_t), [d, batch, height, 2 * u])
                dh = dhh[..., :u] + _shift_up(dhh[..., u:])
                dc = dc_left + _shift_up(dc_up)
                return k + 1, dh, dc, d_weights, d_bias, dxs

            *_, d_weights, d_bias, dxs = tf.while_loop(
                lambda k, *_: k < steps,
                back,
                (
                    tf.constant(0),
                    zeros,
                    zeros,
                    tf.zeros([d, k_in, g], dtype),
                    tf.zeros([d, g], dtype),
                    ta(channels),
                ),
                maximum_iterations=steps,
            )
            return dxs.stack(), d_weights[:, :channels], d_weights[:, channels:], d_bias

        return (hs, cs), grad

    return scan(xs, kernel, recurrent_kernel, bias)


def _dim(x, axis):
    """Static size of `axis` when known, else the dynamic one."""
    size = x.shape[axis]
    return size if size is not None else tf.shape(x)[axis]


def _reverse(x, axis, lengths):
    """Reverse `x` along `axis`; with `lengths`, only each sample's valid prefix."""
    if lengths is None:
        return tf.reverse(x, [axis])
    return tf.reverse_sequence(x, lengths, seq_axis=axis, batch_axis=0)


def _reseeded(initializer, index):
    """`initializer` with its seed offset by `index`: a Keras random initialiser with an int
    seed draws the same values on every call, so each block needs its own seed."""
    seed = getattr(initializer, "seed", None)
    if isinstance(seed, int) and hasattr(initializer, "get_config"):
        return initializer.__class__.from_config({**initializer.get_config(), "seed": seed + index})
    return initializer  # unseeded callables, constants, or a SeedGenerator that advances itself


def _blockwise(initializer, directions, row_blocks, col_blocks):
    """An initialiser of a `(directions, rows, cols)` weight that calls `initializer` on each
    `(rows / row_blocks, cols / col_blocks)` block of each direction on its own."""

    def initialize(shape, dtype=None):
        _, rows, cols = shape
        block_shape = (rows // row_blocks, cols // col_blocks)
        seeds = iter(range(directions * row_blocks * col_blocks))

        def block():
            init = _reseeded(initializer, next(seeds))
            return keras.ops.convert_to_tensor(init(block_shape, dtype=dtype))

        def direction():
            rows_of_blocks = [
                keras.ops.concatenate([block() for _ in range(col_blocks)], axis=1)
                for _ in range(row_blocks)
            ]
            return keras.ops.concatenate(rows_of_blocks, axis=0)

        return keras.ops.stack([direction() for _ in range(directions)])

    return initialize


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
        cell: `"bounded"` (the default: one forget gate on a convex mix of the
            neighbours' states, so |c| grows by at most 1 per step) or
            `"graves"` (one forget gate per neighbour; with both biased to +1,
            f_left + f_up > 1 and the state sums over every monotone path:
            |c| reaches about 3e6 on a 16 x 100 input at initialisation).
        return_state: if True, also return the final hidden and cell states,
            taken at each direction's last cell (the corner opposite its
            start), merged like the outputs: `(batch, output_units)` each.
        unit_forget_bias: add 1.0 to the forget-gate biases at initialisation
            (default True).
        kernel_initializer, recurrent_initializer, bias_initializer:
            initialisers of the input kernel `(directions, channels, 5*units)`,
            the recurrent kernel `(directions, 2*units, 5*units)` (rows: left
            neighbour, then upper neighbour) and the bias `(directions, 5*units)`.
            The input kernel initialiser is called once per direction on
            `(channels, 5*units)` (as a Keras LSTM's kernel), the recurrent one
            once per direction, neighbour and gate on `(units, units)`, so the
            default `"orthogonal"` makes every gate block orthogonal.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: optional
            regularisers of the same weights.

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`.
        mask: optional bool tensor `(batch, height, width)`, True on valid pixels.
        training: False (as `predict`, `evaluate` and the exports pass) runs the forward
            scan alone, without storing what the hand-written backward needs; the outputs
            are the same.

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
        cell="bounded",
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
        # Each direction is initialised as its own layer would be: a Keras initialiser given the
        # stacked (D, in, 5U) shape reads D as a conv receptive field (Glorot's limit halves at
        # 4 directions) and makes the D*2U recurrent rows orthogonal to each other, not each
        # direction's gate blocks.
        self.kernel = self.add_weight(
            name="kernel",
            shape=(d, channels, NUM_GATES * u),
            initializer=_blockwise(self.kernel_initializer, d, 1, 1),
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(d, 2 * u, NUM_GATES * u),
            initializer=_blockwise(self.recurrent_initializer, d, 2, NUM_GATES),
            regularizer=self.recurrent_regularizer,
        )
        if self.unit_forget_bias:
            base = self.bias_initializer
            forget = CELL_CLASSES[self.cell].forget_gates

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

    def call(self, inputs, mask=None, training=None):
        inputs = tf.convert_to_tensor(inputs)
        if mask is not None:
            mask = tf.convert_to_tensor(mask)
        self._check_call_args(inputs, mask)
        dtype = inputs.dtype
        d, u = self.directions, self.units
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

        # Skew: row i shifted right by i, so column t holds anti-diagonal t.
        x = tf.stack([flip(inputs, k) for k in range(d)])  # (D, B, H, W, C)
        channels = x.shape[-1]
        x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, height], [0, 0]])
        x = tf.reshape(x, [d, batch, height * (width + height), channels])
        x = tf.reshape(x[:, :, : height * steps], [d, batch, height, steps, channels])
        x = tf.transpose(x, [3, 0, 1, 2, 4])  # (T, D, B, H, C)

        # Cell (i, t) of the skewed grid is pixel (i, t - i): valid inside the
        # image (or the sample, with a mask); the rest is held at zero.
        rows = tf.range(height)[None, None, :]
        cols = tf.range(steps)[:, None, None] - rows
        if mask is None:
            valid = (cols >= 0) & (cols < width)  # (T, 1, H)
        else:
            valid = (rows < heights[None, :, None]) & (cols < widths[None, :, None]) & (cols >= 0)
        valid = tf.cast(valid, dtype)[:, None, :, :, None]  # (T, 1, B or 1, H, 1)

        hs, cs = wavefront_scan(
            x,
            tf.cast(self.kernel, dtype),
            tf.cast(self.recurrent_kernel, dtype),
            tf.cast(self.bias, dtype),
            valid,
            CELL_CLASSES[self.cell],
            # Only an explicit inference call (predict, evaluate, exports) drops what the
            # backward needs: a call under a GradientTape without `training` keeps it.
            training=training is not False,
            keep_c=self.return_state,
        )
        if self.return_state:
            # Each direction ends at its sample's far corner: row h_b-1, step h_b+w_b-2.
            if mask is None:
                h_final, c_final = hs[-1, :, :, -1], cs[-1, :, :, -1]
            else:
                index = tf.stack([tf.range(batch), heights + widths - 2, heights - 1], -1)
                corner = lambda s: tf.transpose(  # noqa: E731
                    tf.gather_nd(tf.transpose(s, [2, 0, 3, 1, 4]), index), [1, 0, 2]
                )
                h_final, c_final = corner(hs), corner(cs)

        # Unskew: in the flattened skewed rows, pixel (i, j) sits at i*(W+H) + j.
        y = tf.transpose(hs, [1, 2, 3, 0, 4])  # (D, B, H, T, U)
        y = tf.reshape(y, [d, batch, height * steps, u])
        y = tf.pad(y, [[0, 0], [0, 0], [0, height], [0, 0]])
        y = tf.reshape(y, [d, batch, height, width + height, u])[:, :, :, :width]
        y = [flip(y[k], k) for k in range(d)]  # back to image orientation

        outputs = self._merge(y)
        if not self.return_state:
            return outputs
        per_direction = lambda s: tf.unstack(s, num=d)  # noqa: E731
        return [outputs, self._merge(per_direction(h_final)), self._merge(per_direction(c_final))]

    def _merge(self, per_direction):
        """Combine a list of per-direction tensors: concat on the last axis, sum or mean."""
        if self.merge == "concat":
            return tf.concat(per_direction, axis=-1)
        total = tf.add_n(per_direction)
        return total / len(per_direction) if self.merge == "mean" else total

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
