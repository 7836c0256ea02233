"""The maths of one 2-D LSTM step (the cell), apart from the wavefront scan that runs it.

A cell maps the gate pre-activations and the two neighbours' states to the new state, and back
(`backward`, used by the layer's hand-written backward scan). The layer in `mdlstm.py` owns the
skew, the masks, the directions and the loop, as Keras' `RNN` owns the loop around its cells.
"""

from __future__ import annotations

import tensorflow as tf

# Gate pre-activations are laid out [g0, g1, g2, o, a]: the first four are
# squashed by one sigmoid, `a` (the cell input) by tanh.
NUM_GATES = 5


def _sig_tanh(gates, units):
    """Activations [sigmoid(g0..o), tanh(a)] of the pre-activations, as one tensor."""
    sig, a = tf.split(gates, [4 * units, units], axis=-1)
    return tf.concat([tf.sigmoid(sig), tf.tanh(a)], -1)


def _pre_activation_grads(act, d_sig, d_a, units):
    """Gradient w.r.t. the pre-activations from gradients w.r.t. the activations."""
    s, a = tf.split(act, [4 * units, units], axis=-1)
    return tf.concat([d_sig * s * (1 - s), d_a * (1 - a * a)], -1)


class GravesCell:
    """One 2-D LSTM step (Graves 2007): a forget gate per neighbour.

    Gates [i, f_left, f_up, o, a]: `c = i*tanh(a) + f_left*c_left + f_up*c_up`,
    `h = o*tanh(c)`. `forward` returns the new cell state (before masking) and
    the gate activations, which `backward` needs; the layer applies the mask
    and `h = o * tanh(c)` itself, the same for every cell.
    """

    forget_gates = (1, 2)

    @staticmethod
    def forward(gates, c_left, c_up):
        units = c_left.shape[-1]
        act = _sig_tanh(gates, units)
        i, f_left, f_up, _, a = tf.split(act, 5, axis=-1)
        return i * a + f_left * c_left + f_up * c_up, act

    @staticmethod
    def backward(act, dc, do, c_left, c_up):
        """(d pre-activations, d c_left, d c_up) from the gradients of c and o."""
        units = c_left.shape[-1]
        i, f_left, f_up, _, a = tf.split(act, 5, axis=-1)
        d_sig = tf.concat([dc * a, dc * c_left, dc * c_up, do], -1)
        return _pre_activation_grads(act, d_sig, dc * i, units), dc * f_left, dc * f_up


class BoundedCell:
    """One 2-D LSTM step with one forget gate over a convex mix of the neighbours.

    RETURNN's lambda-gate cell, gates [i, f, lam, o, a]:
    `c = i*tanh(a) + f*(lam*c_up + (1-lam)*c_left)`. The plain cell adds both
    neighbours' states, so |c| can double along each diagonal; here it grows
    by at most one per step.
    """

    forget_gates = (1,)

    @staticmethod
    def forward(gates, c_left, c_up):
        units = c_left.shape[-1]
        act = _sig_tanh(gates, units)
        i, f, lam, _, a = tf.split(act, 5, axis=-1)
        return i * a + f * (c_left + lam * (c_up - c_left)), act

    @staticmethod
    def backward(act, dc, do, c_left, c_up):
        units = c_left.shape[-1]
        i, f, lam, _, a = tf.split(act, 5, axis=-1)
        dcf = dc * f
        d_sig = tf.concat(
            [dc * a, dc * (c_left + lam * (c_up - c_left)), dcf * (c_up - c_left), do], -1
        )
        return _pre_activation_grads(act, d_sig, dc * i, units), dcf * (1 - lam), dcf * lam


CELLS = ("graves", "bounded")
CELL_CLASSES = {"graves": GravesCell, "bounded": BoundedCell}
