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
    (image, width, _), = _collect(ds)
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


def _line_order(ds):
    """Labels of the lines of one pass, in order."""
    return [tuple(lab[lab != -1].tolist()) for _, _, labels in _collect(ds) for lab in labels]


def test_every_pass_is_a_full_reshuffle_with_or_without_cache():
    # One line per source id, label = [id] so the order can be read back.
    n = 40
    charset = Charset([chr(0x100 + i) for i in range(n)])
    samples = [Sample(np.full((8, 10 + i), 255, np.uint8), chr(0x100 + i), f"s{i}") for i in range(n)]

    def passes(**kwargs):
        ds = make_dataset(samples, charset, CONFIG, batch_size=1, boundaries=None, seed=5, **kwargs)
        return [[label[0] for label in _line_order(ds)] for _ in range(3)]

    cached, uncached = passes(cache=True), passes(cache=False)
    # The cache stores lines once; each later pass is still a new order of the whole set,
    # the same one the uncached pipeline gives (a function of (seed, pass) only).
    assert cached == uncached
    for order in cached:
        assert sorted(order) == list(range(1, n + 1))
    assert cached[0] != cached[1] != cached[2] != cached[0]
    # Reshuffled over the whole set, not within a window: lines move far between passes.
    moves = [abs(cached[0].index(x) - cached[1].index(x)) for x in range(1, n + 1)]
    assert max(moves) > n // 2


def test_epoch_picks_the_pass_so_resumed_runs_continue_the_order():
    samples = _samples()
    charset = Charset("0123456789abcdefghij ")
    for cache in (False, True):
        fresh = make_dataset(samples, charset, CONFIG, batch_size=1, boundaries=None, seed=2, cache=cache)
        orders = [_line_order(fresh) for _ in range(3)]
        resumed = make_dataset(samples, charset, CONFIG, batch_size=1, boundaries=None, seed=2,
                               cache=cache, epoch=2)
        assert _line_order(resumed) == orders[2]


def test_steps_per_epoch_epochs_depend_only_on_seed_and_epoch():
    samples = _samples()
    charset = Charset("0123456789abcdefghij ")

    def batches(epoch, count):
        ds = make_dataset(samples, charset, CONFIG, batch_size=3, boundaries=BOUNDS, seed=4, cache=True,
                          epoch=epoch, steps_per_epoch=5)
        return [(w.tolist(), lab.tolist()) for _, w, lab in _collect(ds.take(count))]

    from_start = batches(0, 15)  # epochs 0, 1, 2 (5 batches each; a pass has fewer)
    assert batches(2, 5) == from_start[10:]
    assert from_start[0:5] != from_start[5:10]
    with pytest.raises(ValueError, match="steps_per_epoch"):
        make_dataset(samples, charset, CONFIG, steps_per_epoch=0)
    with pytest.raises(ValueError, match="epoch"):
        make_dataset(samples, charset, CONFIG, epoch=-1)


def _concurrency_probe(delay=0.05):
    """An augmentation that records how many calls run at once (one image in, same out)."""
    import threading
    import time

    lock, state = threading.Lock(), {"running": 0, "most": 0}

    def record(image):
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        time.sleep(delay)
        with lock:
            state["running"] -= 1
        return image

    def augment(image):
        out = tf.py_function(record, [image], tf.float32)
        out.set_shape(image.shape)
        return out

    return augment, state


def test_augmentation_runs_in_parallel_unless_deterministic():
    samples = _samples(12)
    charset = Charset("0123456789abcdefghij ")
    for deterministic, parallel in ((False, True), (True, False)):
        augment, state = _concurrency_probe()
        ds = make_dataset(samples, charset, CONFIG, batch_size=4, boundaries=None, training=True,
                          augment=augment, seed=0, deterministic=deterministic)
        _collect(ds)
        assert (state["most"] > 1) == parallel, (deterministic, state)


def test_augmentation_only_in_training_and_deterministic():
    samples = _samples(6)
    charset = Charset("0123456789abcdefghij ")

    def run(training, seed):
        ds = make_dataset(samples, charset, CONFIG, batch_size=6, boundaries=None, shuffle=False,
                          training=training, augment=LineAugmentation(seed=seed), seed=seed,
                          deterministic=True)
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


def test_no_loadable_line_is_an_error_not_an_endless_search():
    from keras_htr.data.preprocess import ImageError

    def broken():
        raise ImageError("s0: cannot decode image")

    samples = [Sample(broken, "ab", "s0"), Sample(broken, "ba", "s1")]
    for cache in (False, True):
        # With the cache, lines are preprocessed when the dataset is made, so it fails there.
        with pytest.raises(tf.errors.OpError, match="could be loaded"):
            ds = make_dataset(samples, CHARSET, CONFIG, batch_size=2, cache=cache, steps_per_epoch=3)
            next(iter(ds))


class _CountingImage:
    """A line image that counts how often it is decoded."""

    reads = 0

    def __call__(self):
        _CountingImage.reads += 1
        img = np.full((24, 80), 255, np.uint8)
        img[6:18, 4:76:5] = 0
        return img


@pytest.mark.parametrize("steps_per_epoch", [None, 2])
def test_cache_preprocesses_each_line_once_over_many_epochs(steps_per_epoch):
    # An epoch of `steps_per_epoch` batches ends a pass early; the cache must still serve the
    # later epochs instead of decoding and preprocessing the whole set again.
    _CountingImage.reads = 0
    samples = [Sample(_CountingImage(), "ab", f"s{i}") for i in range(24)]
    ds = make_dataset(samples, CHARSET, CONFIG, batch_size=4, training=True, seed=0, cache=True,
                      boundaries=BOUNDS, steps_per_epoch=steps_per_epoch)
    if steps_per_epoch is None:
        for _ in range(3):
            assert sum(1 for _ in ds) > 0
    else:
        it = iter(ds)
        for _ in range(3 * steps_per_epoch):
            next(it)
    assert _CountingImage.reads == len(samples)
