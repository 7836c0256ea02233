import numpy as np
import pytest
import tensorflow as tf

from keras_htr.charset import Charset
from keras_htr.data.augment import LineAugmentation
from keras_htr.data.pipeline import bucket_boundaries, bucket_width, make_dataset, pad_batch
from keras_htr.data.preprocess import PreprocessConfig, preprocess_line
from keras_htr.data.sample import Sample

CHARSET = Charset("abcdefghij ")
CONFIG = PreprocessConfig(height=16, deslant=False)
BOUNDS = (32, 64, 128, 256)


def _samples(n=11):
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        width = int(rng.integers(20, 300))
        img = np.full((24, width), 255, np.uint8)
        img[6:18, 2: width - 2: 5] = 0
        text = "".join(CHARSET.chars[int(c)] for c in rng.integers(0, 10, 1 + i % 7)) + str(i)
        samples.append(Sample(img, text, f"s{i}"))
    return samples


def _collect(ds):
    out = []
    for inputs, labels in ds:
        out.append((inputs["image"].numpy(), inputs["width"].numpy(), labels.numpy()))
    return out


def test_bucket_boundaries():
    b = bucket_boundaries(64, 512, ratio=1.5, multiple=32)
    assert b[0] == 64 and b[-1] == 512 and all(x % 32 == 0 for x in b) and list(b) == sorted(set(b))
    assert bucket_width(65, b) == 96 and bucket_width(64, b) == 64
    assert bucket_width(513, b) == 768  # beyond the last boundary: multiples of 256
    with pytest.raises(ValueError, match="ratio"):
        bucket_boundaries(ratio=1.0)


def test_batches_shapes_widths_and_labels():
    samples = _samples()
    charset = Charset("0123456789abcdefghij ")
    expected = {s.text: preprocess_line(s.image, CONFIG).numpy() for s in samples}
    ds = make_dataset(samples, charset, CONFIG, batch_size=4, boundaries=BOUNDS, seed=0)
    seen = []
    for image, width, labels in _collect(ds):
        b, h, w, c = image.shape
        assert (h, c) == (16, 1) and width.dtype == np.int32 and labels.dtype == np.int32
        assert w in BOUNDS or w % 256 == 0
        assert labels.shape == (b, 8)  # longest label (7 chars) rounded up to 8
        for k in range(b):
            ids = labels[k][labels[k] != -1]
            assert np.all(labels[k][len(ids):] == -1) and np.all(ids >= 1)
            text = charset.decode(ids)
            ref = expected[text]
            assert width[k] == ref.shape[1] and width[k] <= w
            np.testing.assert_allclose(image[k, :, : width[k]], ref, atol=1 / 255 + 1e-6)
            assert np.all(image[k, :, width[k]:] == 0)  # padding is blank paper
            seen.append(text)
    assert sorted(seen) == sorted(s.text for s in samples)


def test_unknown_characters_skipped_or_error():
    samples = _samples(4)  # texts end with a digit, not in CHARSET
    with pytest.raises(ValueError, match="charset"):
        make_dataset(samples, CHARSET, CONFIG, unknown="skip")  # nothing left
    with pytest.raises(ValueError, match="not in the charset"):
        make_dataset(samples, CHARSET, CONFIG, unknown="error")
    ds = make_dataset(samples, CHARSET, CONFIG, unknown="ignore", batch_size=8, boundaries=None)
    (image, width, labels), = _collect(ds)
    assert image.shape[0] == 4 and image.shape[2] == width.max()


def test_shuffle_is_seeded_and_cache_keeps_content():
    samples = _samples()
    charset = Charset("0123456789abcdefghij ")

    def order(ds):
        return [tuple(lab[lab != -1]) for _, _, labels in _collect(ds) for lab in labels]

    a = order(make_dataset(samples, charset, CONFIG, batch_size=2, seed=3, boundaries=BOUNDS))
    b = order(make_dataset(samples, charset, CONFIG, batch_size=2, seed=3, boundaries=BOUNDS))
    assert a == b
    cached = make_dataset(samples, charset, CONFIG, batch_size=2, seed=3, cache=True, boundaries=BOUNDS)
    first, second = order(cached), order(cached)
    assert sorted(first) == sorted(second) == sorted(a)


def test_augmentation_only_in_training_and_deterministic():
    samples = _samples(6)
    charset = Charset("0123456789abcdefghij ")

    def run(training, seed):
        ds = make_dataset(samples, charset, CONFIG, batch_size=6, boundaries=None, shuffle=False,
                          training=training, augment=LineAugmentation(seed=seed), seed=seed)
        return _collect(ds)[0]

    plain = run(False, 1)  # evaluation: the augmentation is ignored
    for k, w in enumerate(plain[1]):
        ref = preprocess_line(samples[k].image, CONFIG).numpy()
        np.testing.assert_allclose(plain[0][k, :, :w], ref, atol=1 / 255 + 1e-6)
    aug1, aug1b = run(True, 1), run(True, 1)
    np.testing.assert_array_equal(aug1[1], plain[1])  # widths unchanged
    assert not np.allclose(aug1[0], plain[0])
    np.testing.assert_allclose(aug1[0], aug1b[0], atol=1e-6)
    # Padding beyond each width stays blank.
    for k, w in enumerate(aug1[1]):
        assert np.all(aug1[0][k, :, w:] == 0)


def test_pad_batch_for_inference():
    lines = [tf.ones([16, 40, 1]), np.ones([16, 70, 1], np.float32)]
    batch = pad_batch(lines, boundaries=BOUNDS)
    assert batch["image"].shape == (2, 16, 128, 1) and batch["image"].dtype == tf.float32
    assert batch["width"].numpy().tolist() == [40, 70] and batch["width"].dtype == tf.int32
    assert float(tf.reduce_sum(batch["image"][0, :, 40:])) == 0.0
    assert pad_batch(lines, boundaries=None)["image"].shape[2] == 70
    with pytest.raises(ValueError, match="one height"):
        pad_batch([tf.ones([16, 4, 1]), tf.ones([8, 4, 1])])
