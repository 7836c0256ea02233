"""Keras vs SavedModel vs TFLite (float32 / float16 / int8): latency, size and accuracy in one run.

Every engine transcribes the same encoded PNG lines one at a time (batch 1, the on-device and
interactive case), interleaved round-robin so that the machine's load drifts affect all alike.
Two latencies per line:

- end to end: PNG bytes -> text (host decoding + preprocessing + model + greedy decoding; the
  SavedModel does all of it in its graph);
- model only: a preprocessed line -> logits/ids, Keras through `tf.function` (as `Transcriber`
  runs it) vs the LiteRT interpreter; the SavedModel has no model-only entry.

Also: file sizes, CER of each engine against the ground truth, and CER of each against the
Keras (float32) text, plus the number of lines where Keras, SavedModel and TFLite float32 give
identical text.

    python benchmarks/export.py --model keras_htr/shipped/htr_line.keras --data DIR --lines 50
    python benchmarks/export.py --untrained crnn   # timings and sizes only, synthetic lines
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", help="a .keras model (default: the shipped model)")
    source.add_argument(
        "--untrained", choices=("crnn", "mdlstm"),
        help="time an untrained default-size model instead (CER is then meaningless)",
    )
    parser.add_argument(
        "--data", help="a dataset read_dataset reads (default: synthetic test lines)"
    )
    parser.add_argument("--lines", type=int, default=40, help="lines to use (default 40)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="timed passes over the lines (default 2)"
    )
    parser.add_argument("--threads", type=int, default=None, help="LiteRT interpreter threads")
    parser.add_argument(
        "--workdir", help="where to write the exports (default: a temporary folder)"
    )
    return parser.parse_args(argv)


def load_lines(args, charset):
    """(png_bytes, text) pairs."""
    from PIL import Image

    if args.data:
        from keras_htr.data import read_dataset

        dataset = read_dataset(args.data)
        samples = [(s.image, s.text) for s in list(dataset)[: args.lines]]
    else:
        from keras_htr.data.synthetic import LineSynthesizer

        synth = LineSynthesizer(kind="mixed", split="test", seed=20261122)
        samples = []
        for i in range(args.lines):
            line = synth.line(i)
            samples.append((line.image, "".join(c for c in line.text if c in charset)))
    out = []
    for image, text in samples:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        out.append((buffer.getvalue(), text))
    return out


def size_of(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def main(argv=None) -> int:
    args = parse_args(argv)
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_htr.charset import Charset
    from keras_htr.data.preprocess import load_image, preprocess_line
    from keras_htr.export.savedmodel import export_savedmodel
    from keras_htr.export.tflite import TFLiteTranscriber, export_tflite
    from keras_htr.metrics import cer
    from keras_htr.transcriber import Transcriber, default_model_path, load_transcriber

    workdir = args.workdir or tempfile.mkdtemp(prefix="keras_htr_export_bench_")
    if args.untrained:
        from keras_htr.data.synthetic import random_line
        from keras_htr.models import build_model

        rng = np.random.default_rng(0)
        texts = [random_line(rng) for _ in range(200)] + ["0123456789 /.,-:"]
        keras.utils.set_random_seed(0)
        model = build_model(args.untrained, Charset.from_texts(texts))
        keras_path = os.path.join(workdir, "model.keras")
        model.save(keras_path)
        label = f"untrained {args.untrained}"
    else:
        keras_path = args.model or str(default_model_path())
        model = load_transcriber(keras_path).model
        label = keras_path
    lines = load_lines(args, model.charset)
    print(
        f"model: {label} ({model.count_params():,} parameters), {len(lines)} lines, "
        f"workdir {workdir}"
    )

    # -- export ------------------------------------------------------------------------------
    files = {"keras": keras_path}
    t = time.perf_counter()
    files["savedmodel"] = export_savedmodel(
        model, os.path.join(workdir, "htr"), version=1, overwrite=True
    )
    print(f"SavedModel export: {time.perf_counter() - t:.1f} s")
    for q in ("none", "float16", "int8"):
        t = time.perf_counter()
        name = {"none": "tflite_fp32", "float16": "tflite_fp16", "int8": "tflite_int8"}[q]
        files[name] = export_tflite(model, os.path.join(workdir, f"{name}.tflite"), quantize=q)
        print(f"TFLite {q} export: {time.perf_counter() - t:.1f} s")

    # -- engines -----------------------------------------------------------------------------
    transcriber = Transcriber(model)
    signature = tf.saved_model.load(files["savedmodel"]).signatures["serving_default"]
    tflites = {
        n: TFLiteTranscriber(files[n], num_threads=args.threads)
        for n in files
        if n.startswith("tflite")
    }
    keras_model = tf.function(
        lambda image, width: model({"image": image, "width": width}, training=False),
        reduce_retracing=True,
    )

    def run_savedmodel(data):
        out = signature(image_bytes=tf.constant([data]))
        return out["text"].numpy()[0].decode("utf-8")

    end_to_end = {
        "keras": lambda d: transcriber.transcribe([d])[0].text,
        "savedmodel": run_savedmodel,
    }
    end_to_end.update({n: (lambda d, r=r: r.transcribe([d])[0].text) for n, r in tflites.items()})

    preprocess = tf.function(
        lambda gray: preprocess_line(gray, model.preprocess_config),
        input_signature=[tf.TensorSpec([None, None], tf.uint8)],
    )
    preprocessed = [preprocess(load_image(d)).numpy() for d, _ in lines]
    model_only = {"keras": lambda x: keras_model(x[None], np.array([x.shape[1]], np.int32)).numpy()}
    model_only.update({n: (lambda x, r=r: r.run(x)) for n, r in tflites.items()})

    # Warm-up: every engine sees every line once (traces, allocations); keep its text.
    texts = {n: [fn(d) for d, _ in lines] for n, fn in end_to_end.items()}
    for x in preprocessed:
        for fn in model_only.values():
            fn(x)

    times = {n: [] for n in end_to_end}
    model_times = {n: [] for n in model_only}
    names = list(end_to_end)
    model_names = list(model_only)
    for r in range(args.repeats):
        for i, ((data, _), x) in enumerate(zip(lines, preprocessed)):
            k = (i + r) % len(names)
            for n in names[k:] + names[:k]:
                t = time.perf_counter()
                end_to_end[n](data)
                times[n].append(time.perf_counter() - t)
            k = (i + r) % len(model_names)
            for n in model_names[k:] + model_names[:k]:
                t = time.perf_counter()
                model_only[n](x)
                model_times[n].append(time.perf_counter() - t)

    # -- report ------------------------------------------------------------------------------
    truth = [text for _, text in lines]
    reference = texts["keras"]
    print()
    print(f"{'engine':<12} {'size MB':>8} {'e2e ms':>8} {'e2e l/s':>8} "
          f"{'model ms':>9} {'model l/s':>9} "
          f"{'CER %':>7} {'CER vs keras %':>15}")
    for n in names:
        e2e = statistics.median(times[n]) * 1000
        mo = statistics.median(model_times[n]) * 1000 if n in model_times else None
        print(
            f"{n:<12} {size_of(files[n]) / 1e6:>8.2f} {e2e:>8.1f} {1000 / e2e:>8.1f} "
            f"{(f'{mo:.1f}' if mo else '-'):>9} {(f'{1000 / mo:.1f}' if mo else '-'):>9} "
            f"{100 * cer(truth, texts[n]):>7.2f} {100 * cer(reference, texts[n]):>15.2f}"
        )
    exact = zip(texts["keras"], texts["savedmodel"], texts["tflite_fp32"])
    same = sum(a == b == c for a, b, c in exact)
    med = {n: statistics.median(v) for n, v in model_times.items()}
    e2e = {n: statistics.median(v) for n, v in times.items()}
    print()
    print(f"identical text keras = savedmodel = tflite_fp32: {same}/{len(lines)} lines")
    print(f"TFLite fp32 / Keras latency: model only {med['tflite_fp32'] / med['keras']:.2f}x, "
          f"end to end {e2e['tflite_fp32'] / e2e['keras']:.2f}x (target <= 0.5x)")
    print(f"SavedModel / Keras end-to-end latency: {e2e['savedmodel'] / e2e['keras']:.2f}x")
    ratio = size_of(files["tflite_int8"]) / size_of(files["tflite_fp32"])
    print(f"TFLite int8 / fp32 size: {ratio:.2f}x (target <= 0.35x); "
          f"fp16 / fp32: {size_of(files['tflite_fp16']) / size_of(files['tflite_fp32']):.2f}x")
    for n in ("tflite_fp16", "tflite_int8"):
        delta = 100 * (cer(truth, texts[n]) - cer(truth, texts["tflite_fp32"]))
        print(f"{n} CER - fp32 CER: {delta:+.2f} points (target within 0.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
