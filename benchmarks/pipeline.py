"""Lines per second of the input pipeline alone (no model), measured side by side in one run.

    python benchmarks/pipeline.py [--lines 512] [--batch-size 16] [--height 32]

Variants: lazy PNG decode from disk + preprocess; the same without deslanting; a cached
second epoch; a cached epoch with training augmentation. Compare with the model's training
speed (lines/s of `model.fit`) to see whether the pipeline can be the bottleneck.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def _rate(ds, lines: int) -> float:
    start = time.perf_counter()
    seen = 0
    for inputs, _ in ds:
        seen += int(inputs["width"].shape[0])
    elapsed = time.perf_counter() - start
    assert seen == lines, (seen, lines)
    return seen / elapsed


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--height", type=int, default=32)
    args = parser.parse_args(argv)

    import tensorflow as tf

    from keras_htr.charset import Charset
    from keras_htr.data import read_dataset
    from keras_htr.data.augment import LineAugmentation
    from keras_htr.data.pipeline import make_dataset
    from keras_htr.data.preprocess import PreprocessConfig
    from keras_htr.data.synthetic import ALPHABET, write_dataset

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_dataset(tmp, args.lines, kind="mixed", seed=0, progress=False)
        synth_rate = args.lines / (time.perf_counter() - start)
        samples = read_dataset(tmp, lazy=True)
        charset = Charset(ALPHABET)
        config = PreprocessConfig(height=args.height)
        results = {}

        def build(**kw):
            opts = dict(batch_size=args.batch_size, seed=0)
            opts.update(kw)
            return make_dataset(samples, charset, opts.pop("config", config), **opts)

        results["decode + preprocess (deslant on)"] = _rate(build(), args.lines)
        results["decode + preprocess (deslant off)"] = _rate(
            build(config=PreprocessConfig(height=args.height, deslant=False)), args.lines
        )
        cached = build(cache=True)
        _rate(cached, args.lines)  # fills the cache
        results["cached epoch"] = _rate(cached, args.lines)
        augmented = build(cache=True, training=True, augment=LineAugmentation(seed=0))
        _rate(augmented, args.lines)
        results["cached epoch + augmentation"] = _rate(augmented, args.lines)

    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPUs visible, {args.lines} lines, height {args.height}")
    print(f"{'synthetic generation (write PNG + .gt.txt, 1 process)':<58} {synth_rate:8.1f} lines/s")
    base = results["decode + preprocess (deslant on)"]
    for name, rate in results.items():
        print(f"{name:<58} {rate:8.1f} lines/s  ({rate / base:.2f}x)")


if __name__ == "__main__":
    main()
