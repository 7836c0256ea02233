"""MDLSTM2D speed, measured side by side in one run (forward + backward).

Prints, for each configuration:
  * the wavefront layer against a per-cell loop of the same cell (ratio): the
    per-cell loop is a `tf.while_loop` over the H*W cells with the same input
    projection outside the loop, the same cell function and the same weights
    (checked equal before timing). The per-cell loop is differentiated by TF's
    autodiff, the layer by its hand-written backward scan, so a forward-only
    ratio is printed too: it compares the loop structures alone;
  * XLA on vs off for the layer's forward + backward (ratio);
  * the layer's achieved GFLOP/s (useful matmul FLOPs only) as a fraction of a
    dense float32 matmul's GFLOP/s measured on this machine in the same run.

Absolute times on shared machines are noisy; each figure is the best of
`--repeats` timed calls after a warm-up, timed round-robin so ratios come
from the same moments of the same run.

The layer's inference call (`training=False`, as `predict` and the exports run it) is timed
too: it skips storing what the backward needs.

Usage: python benchmarks/mdlstm.py [--batch 8] [--repeats 5] [--skip-per-cell-xla]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_htr.layers import MDLSTM2D  # noqa: E402
from keras_htr.layers.mdlstm import CELL_CLASSES, DIRECTION_FLIPS  # noqa: E402

CONFIGS = [  # (name, height, width, channels, units)
    ("32x256x4ch, 2 units", 32, 256, 4, 2),
    ("8x32x20ch, 50 units", 8, 32, 20, 50),
]


def per_cell_forward(layer, x):
    """The same MDLSTM, one cell per loop iteration (row-major), no wavefront."""
    d, u = layer.directions, layer.units
    batch, height, width, _ = x.shape
    cell = CELL_CLASSES[layer.cell]

    def flip(t, k):
        flip_h, flip_w = DIRECTION_FLIPS[k]
        return tf.reverse(t, [a for a, f in ((1, flip_h), (2, flip_w)) if f])

    xs = tf.stack([flip(x, k) for k in range(d)])
    z = tf.einsum("dbhwc,dcg->dbhwg", xs, layer.kernel) + layer.bias[:, None, None, None, :]
    z = tf.reshape(tf.transpose(z, [2, 3, 0, 1, 4]), [height * width, d, batch, 5 * u])
    z_cells = tf.TensorArray(tf.float32, size=height * width).unstack(z)
    outputs = tf.TensorArray(tf.float32, size=height * width)
    rows = tf.zeros([width, d, batch, u])  # states of the previous row, per column
    left = tf.zeros([d, batch, u])

    def body(k, h_row, c_row, h_left, c_left, outputs):
        j = k % width
        first = tf.equal(j, 0)
        h_left = tf.where(first, tf.zeros_like(h_left), h_left)
        c_left = tf.where(first, tf.zeros_like(c_left), c_left)
        h_up, c_up = h_row[j], c_row[j]
        gates = z_cells.read(k) + tf.matmul(tf.concat([h_left, h_up], -1), layer.recurrent_kernel)
        c, act = cell.forward(gates, c_left, c_up)
        h = act[..., 3 * u : 4 * u] * tf.tanh(c)
        h_row = tf.tensor_scatter_nd_update(h_row, [[j]], h[None])
        c_row = tf.tensor_scatter_nd_update(c_row, [[j]], c[None])
        return k + 1, h_row, c_row, h, c, outputs.write(k, h)

    *_, outputs = tf.while_loop(
        lambda k, *_: k < height * width,
        body,
        (tf.constant(0), rows, rows, left, left, outputs),
        maximum_iterations=height * width,
    )
    y = tf.reshape(outputs.stack(), [height, width, d, batch, u])
    y = tf.transpose(y, [2, 3, 0, 1, 4])
    return tf.concat([flip(y[k], k) for k in range(d)], axis=-1)


def train_step_fn(forward, layer, jit):
    """forward + backward: gradients of a weighted sum of the outputs w.r.t. the weights."""

    @tf.function(jit_compile=jit)
    def step(x, w):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(forward(x) * w)
        return loss, tape.gradient(loss, layer.trainable_weights)

    return step


def _run(fn, args):
    tf.nest.map_structure(lambda t: t.numpy(), fn(*args))


def best_times(calls, repeats):
    """Best wall time of each `name -> (fn, args)`, timed round-robin.

    Interleaving the calls makes a load spike from other processes hit every
    candidate alike, so the ratios stay meaningful on a shared machine.
    """
    for fn, args in calls.values():
        _run(fn, args)  # warm-up: tracing and XLA compilation
    times = {name: float("inf") for name in calls}
    for _ in range(repeats):
        for name, (fn, args) in calls.items():
            start = time.perf_counter()
            _run(fn, args)
            times[name] = min(times[name], time.perf_counter() - start)
    return times


def dense_matmul(n=1024):
    """A float32 n x n x n matmul and its FLOP count: the machine's reference speed."""
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    return tf.function(lambda a, b: tf.matmul(a, b)), (a, b), 2 * n**3


def layer_flops(batch, height, width, channels, units, directions):
    """Useful matmul FLOPs of forward + backward (backward ~ 2x forward)."""
    per_cell = 2 * directions * (channels + 2 * units) * 5 * units
    return 3 * per_cell * batch * height * width


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--directions", type=int, default=4, choices=(1, 2, 4))
    parser.add_argument(
        "--skip-per-cell-xla", action="store_true", help="skip the (slow to compile) per-cell XLA run"
    )
    args = parser.parse_args(argv)

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, batch {args.batch}, "
          f"{args.directions} directions, {MDLSTM2D(1).cell} cell (the default), float32, best of {args.repeats}, "
          "timed round-robin\n")
    matmul, matmul_args, matmul_flops = dense_matmul()

    rng = np.random.default_rng(0)
    for name, height, width, channels, units in CONFIGS:
        layer = MDLSTM2D(units, directions=args.directions)
        x = tf.constant(rng.uniform(0, 1, (args.batch, height, width, channels)), tf.float32)
        layer(x)
        w = tf.constant(rng.normal(size=(args.batch, height, width, layer.output_units)), tf.float32)
        # Same function before comparing speed (up to float32 rounding, which the
        # plain cell's growing state amplifies over hundreds of diagonals).
        np.testing.assert_allclose(
            per_cell_forward(layer, x).numpy(), layer(x).numpy(), atol=1e-3, rtol=1e-3
        )

        calls = {"matmul": (matmul, matmul_args)}
        for label, forward in (("wavefront", layer), ("per-cell", lambda t: per_cell_forward(layer, t))):
            for jit in (False, True):
                if label == "per-cell" and jit and args.skip_per_cell_xla:
                    continue
                calls[label, jit] = (train_step_fn(forward, layer, jit), (x, w))
            # Forward only: the loops alone, without the wavefront's hand-written
            # backward (the per-cell loop is differentiated by TF's autodiff).
            calls[label, "forward"] = (tf.function(forward, jit_compile=True), (x,))
        # Inference (`training=False`, as predict and the exports call it): the forward scan
        # without storing c and the gate activations for the backward.
        inference = tf.function(lambda t, layer=layer: layer(t, training=False), jit_compile=True)
        calls["wavefront", "inference"] = (inference, (x,))
        times = best_times(calls, args.repeats)

        peak = matmul_flops / times.pop("matmul") / 1e9
        flops = layer_flops(args.batch, height, width, channels, units, args.directions)
        print(f"== {name} (input {tuple(x.shape)}, {height + width - 1} wavefront steps "
              f"vs {height * width} cells), forward + backward")
        for (label, jit), t in times.items():
            kind = {"forward": "forward only, XLA", "inference": "inference, XLA"}.get(jit, "XLA" if jit else "no XLA")
            print(f"  {label:9s} {kind:18s} {t * 1e3:9.1f} ms")
        print(f"  wavefront vs per-cell, no XLA: {times['per-cell', False] / times['wavefront', False]:6.1f}x")
        if ("per-cell", True) in times:
            print(f"  wavefront vs per-cell, XLA:    {times['per-cell', True] / times['wavefront', True]:6.1f}x")
        print(f"  wavefront vs per-cell, forward only, XLA: "
              f"{times['per-cell', 'forward'] / times['wavefront', 'forward']:6.1f}x")
        print(f"  wavefront inference vs per-cell, forward only, XLA: "
              f"{times['per-cell', 'forward'] / times['wavefront', 'inference']:6.1f}x")
        print(f"  XLA vs no XLA (wavefront):     {times['wavefront', False] / times['wavefront', True]:6.2f}x")
        gflops = flops / times["wavefront", True] / 1e9
        print(f"  dense matmul 1024^3: {peak:.1f} GFLOP/s; layer (XLA): {gflops:.2f} GFLOP/s "
              f"= {100 * gflops / peak:.1f}% of it\n")


if __name__ == "__main__":
    main()
