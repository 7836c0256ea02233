"""MDLSTM vs CRNN: time of one training step at a similar parameter count, side by side.

Both models see the same batch (random line images, random labels) and the same optimizer;
the CRNN's BLSTM width is chosen so its parameter count is closest to the MDLSTM's. The two are
timed in alternation in one process, so machine noise hits both alike, and the ratio is printed.

    python benchmarks/train_step.py                 # XLA on (jit_compile=True)
    python benchmarks/train_step.py --no-xla --width 512 --batch 8
"""

from __future__ import annotations

import argparse
import statistics
import time


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16, help="lines per batch (default 16)")
    parser.add_argument("--width", type=int, default=384, help="line width in pixels (default 384)")
    parser.add_argument("--label-length", type=int, default=24, help="characters per line (default 24)")
    parser.add_argument("--classes", type=int, default=80, help="charset size (default 80)")
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per model (default 5)")
    parser.add_argument("--no-xla", action="store_true", help="plain graph mode instead of XLA")
    return parser.parse_args()


def matched_crnn(target_params: int, charset):
    """The CRNN config (1 BLSTM layer, default convs) whose parameter count is closest to target."""
    from keras_htr.models import CRNNConfig, ModelConfig, build_model

    best = None
    for units in (16, 24, 32, 48, 64, 96, 128, 192, 256):
        config = ModelConfig(arch="crnn", crnn=CRNNConfig(lstm_units=units, lstm_layers=1))
        params = build_model(config, charset).count_params()
        if best is None or abs(params - target_params) < abs(best[1] - target_params):
            best = (config, params)
    return best


def main():
    args = parse_args()
    import keras
    import numpy as np

    from keras_htr.charset import Charset
    from keras_htr.models import ModelConfig, build_model

    charset = Charset([chr(0x21 + i) for i in range(args.classes - 1)])
    rng = np.random.default_rng(0)
    inputs = {
        "image": rng.random((args.batch, 32, args.width, 1), dtype=np.float32),
        "width": np.full((args.batch,), args.width, np.int32),
    }
    labels = rng.integers(1, args.classes, (args.batch, args.label_length)).astype("int32")

    mdlstm = build_model(ModelConfig(arch="mdlstm"), charset)
    crnn_config, _ = matched_crnn(mdlstm.count_params(), charset)
    models = {"mdlstm": mdlstm, "crnn": build_model(crnn_config, charset)}
    compile_s = {}
    for name, model in models.items():
        model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=5.0), jit_compile=not args.no_xla)
        start = time.perf_counter()
        model.train_on_batch(inputs, labels)  # trace + compile
        compile_s[name] = time.perf_counter() - start

    times = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(inputs, labels)
            times[name].append(time.perf_counter() - start)

    mode = "graph" if args.no_xla else "XLA"
    print(f"training step, batch {args.batch} x 32 x {args.width}, {mode}, median of {args.repeats}")
    print(f"{'model':8} {'params':>9} {'first call s':>13} {'step s':>8}")
    for name, model in models.items():
        print(f"{name:8} {model.count_params():>9,} {compile_s[name]:>13.1f} "
              f"{statistics.median(times[name]):>8.3f}")
    ratio = statistics.median(times["mdlstm"]) / statistics.median(times["crnn"])
    print(f"MDLSTM / CRNN step time: {ratio:.2f}x (target <= 1.5x, goal 1.0x)")
    dropout_times(args)


def dropout_times(args):
    """Keras' Dropout against keras_htr's on the MDLSTM's largest dropped map, same run.

    Under XLA on CPU, Keras' dropout mask cost more than the rest of the MDLSTM training step.
    """
    import keras
    import tensorflow as tf

    from keras_htr.layers import Dropout

    x = tf.random.normal((args.batch, 4, args.width // 4, 200))
    calls = {}
    for name, layer in (("keras.layers.Dropout", keras.layers.Dropout(0.25)),
                        ("keras_htr.layers.Dropout", Dropout(0.25))):
        def step(x, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x, training=True))
            return tape.gradient(loss, x)

        calls[name] = tf.function(step, jit_compile=not args.no_xla)
        calls[name](x)
    times = {name: [] for name in calls}
    for _ in range(args.repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn(x).numpy()
            times[name].append(time.perf_counter() - start)
    print(f"dropout 0.25 forward + backward on {tuple(x.shape)}, median of {args.repeats}:")
    for name in calls:
        print(f"  {name:26s} {statistics.median(times[name]) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
