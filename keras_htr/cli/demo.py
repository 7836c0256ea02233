"""Run an MDLSTM2D + Collapse on a random (or given) image and print shapes and timings.

A quick check that the core layers work on this machine, with and without XLA.
"""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", help="a line image file (default: random pixels)")
    parser.add_argument("--height", type=int, default=32, help="image height in pixels (default 32)")
    parser.add_argument("--width", type=int, default=256, help="random image width (default 256)")
    parser.add_argument("--units", type=int, default=8, help="units per direction (default 8)")
    parser.add_argument(
        "--directions", type=int, choices=(1, 2, 4), default=4, help="scan directions (default 4)"
    )
    parser.add_argument(
        "--cell", choices=("bounded", "graves"), default="bounded",
        help="MDLSTM cell (default bounded, the layer's default)",
    )
    parser.add_argument("--batch", type=int, default=1, help="copies of the image in a batch")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after warm-up")


def _positive(value, name):
    if value <= 0:
        raise ValueError(f"Received an invalid value for argument `--{name}`, expected a positive integer, got {value}")


def _load_pixels(args):
    """(height, width, 1) float32 in [0, 1], 1 = ink."""
    import numpy as np

    if args.image is None:
        return np.random.default_rng(0).uniform(0, 1, (args.height, args.width, 1)).astype("float32")
    from PIL import Image

    from keras_htr.data.preprocess import load_image  # the same decoding as transcribe

    gray = Image.fromarray(load_image(args.image))
    width = max(1, round(gray.width * args.height / gray.height))
    gray = gray.resize((width, args.height))
    return (1.0 - np.asarray(gray, "float32") / 255.0)[..., None]


def run(args: argparse.Namespace) -> int:
    import sys

    try:
        for name in ("height", "width", "units", "batch", "repeats"):
            _positive(getattr(args, name), name)
        pixels = _load_pixels(args)
    except (ValueError, OSError) as e:
        print(f"keras-htr demo: {e}", file=sys.stderr)
        return 2

    import numpy as np
    import tensorflow as tf

    from keras_htr.layers import MDLSTM2D, Collapse

    x = np.repeat(pixels[None], args.batch, axis=0)
    mdlstm = MDLSTM2D(args.units, directions=args.directions, cell=args.cell)
    collapse = Collapse()

    def forward(images):
        features = mdlstm(images)
        return features, collapse(features)

    print(f"input    {x.shape}  ({'random' if args.image is None else args.image})")
    for label, jit in (("graph", False), ("xla", True)):
        fn = tf.function(forward, jit_compile=jit)
        start = time.perf_counter()
        features, sequence = fn(x)
        first = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.repeats):
            features, sequence = fn(x)
        _ = sequence.numpy()
        per_call = (time.perf_counter() - start) / args.repeats
        print(
            f"{label:5s}    mdlstm {tuple(features.shape)} -> collapse {tuple(sequence.shape)}  "
            f"first call {first * 1e3:.0f} ms, then {per_call * 1e3:.1f} ms/call"
        )
    steps = x.shape[1] + x.shape[2] - 1
    print(f"wavefront steps {steps} (height + width - 1) instead of {x.shape[1] * x.shape[2]} cells")
    return 0
