"""The shipped paragraph model (saved_models/htr_paragraph.keras) reads the bundled sample
paragraphs, and its SavedModel export gives the same text.

The samples in examples/paragraphs/ come from the paragraph test set (`keras-htr synth
--paragraphs --held-out`: designs never used in training), so this is a small held-out check.
"""

from pathlib import Path

import pytest

from keras_htr.metrics import cer

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "saved_models" / "htr_paragraph.keras"
EXPORT = REPO / "saved_models" / "htr_paragraph"
SAMPLES = REPO / "examples" / "paragraphs"
# Measured 0.30 on these 3 paragraphs (16 lines) when the model was shipped (see README); a
# regression in scaling, attention or decoding breaks this bound long before it reaches 1.0.
MAX_SAMPLE_CER = 0.45


@pytest.fixture(scope="module")
def samples():
    images = sorted(SAMPLES.glob("*.png"))
    assert len(images) >= 3, "examples/paragraphs/ should hold the bundled sample paragraphs"
    texts = [p.with_suffix(".gt.txt").read_text(encoding="utf-8").strip("\n") for p in images]
    return images, texts


@pytest.fixture(scope="module")
def keras_results(samples):
    import keras_htr

    results = keras_htr.load_transcriber(MODEL).transcribe(samples[0], progress=False)
    assert all(not r.error for r in results)
    return results


def test_shipped_paragraph_model_reads_the_sample_paragraphs(samples, keras_results):
    assert [len(r.lines) for r in keras_results] == [t.count("\n") + 1 for t in samples[1]]
    assert cer(samples[1], [r.text for r in keras_results]) <= MAX_SAMPLE_CER


def test_shipped_paragraph_model_is_a_reasonable_size():
    assert MODEL.stat().st_size < 20e6


def test_shipped_paragraph_savedmodel_gives_the_keras_text(samples, keras_results):
    import numpy as np
    import tensorflow as tf

    newest = max((p for p in EXPORT.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    serve = tf.saved_model.load(str(newest)).signatures["serving_default"]
    batch = np.array([Path(p).read_bytes() for p in samples[0]], dtype=object)
    texts = [t.decode("utf-8") for t in serve(image_bytes=tf.constant(batch))["text"].numpy()]
    assert texts == [r.text for r in keras_results]
