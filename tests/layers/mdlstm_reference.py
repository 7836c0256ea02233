"""A slow, obviously-correct MDLSTM: one Python loop iteration per cell.

Written from the equations in DESIGN.md, independently of the layer's wavefront
code; it reads only the layer's weights. Used by the tests to check the fast
layer's values and gradients. All of `x` is valid (no mask).
"""

import tensorflow as tf

# (flip height, flip width) per direction: top-left, bottom-right, top-right, bottom-left.
FLIPS = ((False, False), (True, True), (False, True), (True, False))


def _flip(x, flip_h, flip_w):
    if flip_h:
        x = tf.reverse(x, [1])
    if flip_w:
        x = tf.reverse(x, [2])
    return x


def reference_mdlstm(layer, x):
    """Outputs `(B, H, W, out)` and final `(h, c)` of `layer` on `x`, cell by cell."""
    x = tf.convert_to_tensor(x)
    batch, height, width, _ = x.shape
    u = layer.units
    outputs, finals_h, finals_c = [], [], []
    for d in range(layer.directions):
        xd = _flip(x, *FLIPS[d])
        w_in, w_rec, b = layer.kernel[d], layer.recurrent_kernel[d], layer.bias[d]
        w_left, w_up = w_rec[:u], w_rec[u:]
        zero = tf.zeros((batch, u))
        h = [[zero] * width for _ in range(height)]
        c = [[zero] * width for _ in range(height)]
        for i in range(height):
            for j in range(width):
                h_left = h[i][j - 1] if j > 0 else zero
                c_left = c[i][j - 1] if j > 0 else zero
                h_up = h[i - 1][j] if i > 0 else zero
                c_up = c[i - 1][j] if i > 0 else zero
                pre = xd[:, i, j] @ w_in + h_left @ w_left + h_up @ w_up + b
                g0, g1, g2, g_o, g_a = [pre[:, k * u : (k + 1) * u] for k in range(5)]
                inp, out, cand = tf.sigmoid(g0), tf.sigmoid(g_o), tf.tanh(g_a)
                if layer.cell == "graves":
                    c[i][j] = inp * cand + tf.sigmoid(g1) * c_left + tf.sigmoid(g2) * c_up
                else:
                    lam = tf.sigmoid(g2)
                    c[i][j] = inp * cand + tf.sigmoid(g1) * (lam * c_up + (1 - lam) * c_left)
                h[i][j] = out * tf.tanh(c[i][j])
        out_map = tf.stack([tf.stack(row, axis=1) for row in h], axis=1)  # (B, H, W, U)
        outputs.append(_flip(out_map, *FLIPS[d]))
        finals_h.append(h[-1][-1])
        finals_c.append(c[-1][-1])
    if layer.merge == "concat":
        merge = lambda parts: tf.concat(parts, axis=-1)  # noqa: E731
    elif layer.merge == "sum":
        merge = lambda parts: tf.add_n(parts)  # noqa: E731
    else:
        merge = lambda parts: tf.add_n(parts) / len(parts)  # noqa: E731
    return merge(outputs), merge(finals_h), merge(finals_c)
