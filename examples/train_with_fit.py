"""
Title: Train a handwriting line recognizer with plain `model.fit`
Description: Synthetic handwriting lines, a width-bucketed `tf.data` pipeline, a CRNN trained with
CTC, validation CER/WER every epoch, and the trained model transcribing new lines.

This is the library used from a script of your own, without the `keras-htr train` command:
every step below is one call, and you can replace any of them (your own data, your own
callbacks, another optimizer).

Run it with `python examples/train_with_fit.py [TRAIN_DATA VAL_DATA]`; without arguments it
makes 1,000 synthetic lines in memory and trains for up to 30 epochs (10-20 minutes on a
2-core CPU). CTC models first learn to output only blanks (CER 1.0 for the first epochs), then
start writing; a useful model needs more data and time (see the README's training recipe).
"""

import sys
import tempfile

import keras

from keras_htr.charset import Charset
from keras_htr.data import read_dataset
from keras_htr.data.pipeline import make_dataset
from keras_htr.data.preprocess import PreprocessConfig
from keras_htr.data.sample import Sample
from keras_htr.data.synthetic import LineSynthesizer
from keras_htr.evaluation import ErrorRateCallback
from keras_htr.models import ModelConfig, build_model
from keras_htr.transcriber import Transcriber

"""
## Read the data

`read_dataset` reads a folder of images with `.gt.txt` transcriptions, the IAM layout, PAGE XML
or ALTO; each sample holds a gray line image, its text and where it came from. Without
arguments we synthesise lines instead: handwriting-style fonts for the training set, and
fonts never used in training for validation, so the validation CER says something about
unseen hands.
"""


def synthetic_samples(count, seed, **kwargs):
    synth = LineSynthesizer(kind="mixed", seed=seed, **kwargs)
    lines = (synth.line(i) for i in range(count))
    return [Sample(line.image, line.text, f"synthetic-{seed}-{i}") for i, line in enumerate(lines)]


if len(sys.argv) == 3:
    train_samples, val_samples = read_dataset(sys.argv[1]), read_dataset(sys.argv[2])
else:
    held_out = ["caveat", "kalam"]
    train_samples = synthetic_samples(1000, seed=1, exclude_fonts=held_out)
    val_samples = synthetic_samples(64, seed=2, fonts=held_out, split="test")
print(f"{len(train_samples)} training lines, {len(val_samples)} validation lines")

"""
## The alphabet and the preprocessing

The `Charset` maps characters to ids 1..N (0 is the CTC blank) and the `PreprocessConfig` says
how a line image becomes a model input (height 32, contrast, deslant). Both are stored inside
the model, so the saved file is all you need later.
"""

charset = Charset.from_texts([s.text for s in train_samples] + [s.text for s in val_samples])
preprocess_config = PreprocessConfig(height=32)

"""
## Input pipeline

`make_dataset` preprocesses each line, groups lines of similar width into batches (padding
on the right), and pads labels with -1. Each batch is `({"image", "width"}, labels)`: the true
widths let the model mask the padding and give CTC each line's real number of frames. Every
pass over the data (every epoch) is a new order of all lines, a function of the seed and the
epoch; augmentation runs in parallel (pass `deterministic=True` to make it reproducible too).
Validation needs no dataset: the callback below transcribes the validation samples directly.
"""

train_ds = make_dataset(
    train_samples, charset, preprocess_config, batch_size=16, training=True, augment=True,
    cache=True, seed=0,
)

"""
## The model

`build_model` returns a `LineModel`: a Keras model from `{"image", "width"}` to raw
logits `(batch, frames, classes)`. Its `compute_loss` is CTC with per-line lengths, so
`compile` needs no loss. The CRNN here is smaller than the default to train in minutes.
"""

config = ModelConfig.from_config(
    {"arch": "crnn", "crnn": {"conv_filters": [16, 32, 48, 64], "pool_sizes": [[2, 2], [2, 2], [2, 1], [2, 1]],
                              "lstm_units": 96, "lstm_layers": 2}}
)
model = build_model(config, charset, preprocess_config)
# `global_clipnorm` clips all gradients together (Keras' `clipnorm` clips each variable alone).
model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=1e-4, global_clipnorm=5.0))
model.summary()

"""
## Train

`ErrorRateCallback` transcribes the validation lines after each epoch, exactly as
`keras_htr.evaluation.evaluate` and `keras-htr evaluate` do, and adds `val_cer` and `val_wer`
to the logs; it comes first in the list so `ModelCheckpoint` and `EarlyStopping`
can monitor `val_cer` (early stopping waits a few epochs: CER stays at 1.0 while the model
still outputs only blanks). The `infeasible_labels` metric counts lines whose text is too long
for their image (they are left out of the loss instead of making it infinite).
"""

run_dir = tempfile.mkdtemp(prefix="keras-htr-example-")
callbacks = [
    ErrorRateCallback(val_samples),
    keras.callbacks.ModelCheckpoint(f"{run_dir}/best.keras", monitor="val_cer", mode="min", save_best_only=True),
    keras.callbacks.EarlyStopping(
        monitor="val_cer", mode="min", patience=5, start_from_epoch=8, restore_best_weights=True
    ),
]
history = model.fit(train_ds, epochs=30, callbacks=callbacks)
print(f"best validation CER: {min(history.history['val_cer']):.3f}; model in {run_dir}/best.keras")

"""
## Transcribe

A `Transcriber` wraps the model with its own preprocessing and decoding: give it paths, encoded
bytes or arrays; an unreadable input gets an `error`, the others are unaffected.
`keras_htr.load_transcriber(path)` gives the same object for a saved model.
"""

transcriber = Transcriber(model)
for sample, result in zip(val_samples[:5], transcriber.transcribe([s.image for s in val_samples[:5]])):
    print(f"{sample.text!r:45} -> {result.text!r} (score {result.score:.2f})")
