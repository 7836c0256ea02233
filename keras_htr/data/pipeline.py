"""`tf.data` input pipeline: samples -> preprocessed, width-bucketed, padded batches.

XLA compiles a model once per input shape (a few seconds each on CPU), so batches are padded
to a few fixed widths (a geometric series) and labels to one fixed length; each line's true
width travels with it for the model's mask and the CTC output lengths.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence

import numpy as np

from keras_htr.charset import Charset
from keras_htr.data.preprocess import ImageError, PreprocessConfig, preprocess_line

logger = logging.getLogger(__name__)

#: Widths above the last bucket boundary are padded up to a multiple of this.
WIDE_LINE_STEP = 256


def bucket_boundaries(
    min_width: int = 64, max_width: int = 2048, ratio: float = 1.25, multiple: int = 32
) -> tuple[int, ...]:
    """Padded widths: a geometric series from `min_width`, each rounded up to `multiple`.

    With the defaults: 64, 96, 128, 160, 224, 256, 320, 384, 480, 608, 768, 960, 1184, 1472,
    1824, 2048: at most ~25% padding per line and 16 shapes to compile.

    Example:

    >>> bucket_boundaries(64, 256)
    (64, 96, 128, 160, 224, 256)
    """
    if min_width < 1 or max_width < min_width or ratio <= 1.0 or multiple < 1:
        raise ValueError(
            "Received an invalid value for arguments `min_width, max_width, ratio, multiple`, "
            f"expected 1 <= min_width <= max_width, ratio > 1, multiple >= 1, "
            f"got {min_width, max_width, ratio, multiple}"
        )
    widths, w = [], float(min_width)
    while True:
        b = min(int(math.ceil(w / multiple) * multiple), max_width)
        if not widths or b > widths[-1]:
            widths.append(b)
        if b >= max_width:
            return tuple(widths)
        w *= ratio


DEFAULT_BUCKETS = bucket_boundaries()


def bucket_width(width: int, boundaries: Sequence[int] = DEFAULT_BUCKETS) -> int:
    """The padded width for a line (or batch) of true width `width`."""
    for b in boundaries:
        if width <= b:
            return int(b)
    return int(boundaries[-1] + math.ceil((width - boundaries[-1]) / WIDE_LINE_STEP) * WIDE_LINE_STEP)


def _bucket_key_tf(tf, width, boundaries):
    """Bucket index of `width` (int64 scalar): index into `boundaries`, then one per wide step."""
    b = tf.constant(boundaries, tf.int32)
    idx = tf.searchsorted(b, tf.reshape(width, [1]), side="left")[0]
    extra = (width - b[-1] + WIDE_LINE_STEP - 1) // WIDE_LINE_STEP
    n = len(boundaries)
    return tf.cast(tf.where(idx < n, idx, n - 1 + extra), tf.int64)


def _key_width_tf(tf, key, boundaries):
    b = tf.constant(boundaries, tf.int64)
    n = len(boundaries)
    return tf.where(key < n, tf.gather(b, tf.minimum(key, n - 1)), b[-1] + (key - n + 1) * WIDE_LINE_STEP)


def pad_batch(lines, boundaries: Sequence[int] | None = DEFAULT_BUCKETS) -> dict:
    """Right-pad preprocessed lines into one model batch, for inference.

    Args:
        lines: float32 tensors/arrays (height, W_i, 1) from `preprocess_line`.
        boundaries: bucket widths to pad up to (so a model compiles few shapes); None pads to
            the widest line only.

    Returns:
        `{"image": float32 (B, height, W, 1), "width": int32 (B,)}`.
    """
    import tensorflow as tf

    if not len(lines):
        raise ValueError("Received an invalid value for argument `lines`, expected at least one line, got 0")
    lines = [tf.convert_to_tensor(x, tf.float32) for x in lines]
    heights = {int(x.shape[0]) for x in lines}
    if len(heights) != 1 or any(x.shape.rank != 3 or x.shape[-1] != 1 for x in lines):
        raise ValueError(
            "Received an invalid value for argument `lines`, expected (height, W, 1) tensors "
            f"of one height, got shapes {[tuple(x.shape) for x in lines][:5]}"
        )
    widths = [int(x.shape[1]) for x in lines]
    target = max(widths) if boundaries is None else bucket_width(max(widths), boundaries)
    image = tf.stack([tf.pad(x, [[0, 0], [0, target - w], [0, 0]]) for x, w in zip(lines, widths)])
    return {"image": image, "width": tf.constant(widths, tf.int32)}


def _encode_samples(samples, charset: Charset, unknown: str):
    kept, labels, dropped = [], [], 0
    for s in samples:
        if unknown == "ignore":
            ids = charset.encode(s.text, errors="ignore")
        else:
            missing = charset.unknown(s.text)
            if missing:
                if unknown == "error":
                    raise ValueError(
                        f"{s.source}: characters {sorted(missing)!r} of {s.text!r} are not in the charset"
                    )
                dropped += 1
                continue
            ids = charset.encode(s.text)
        kept.append(s)
        labels.append(np.asarray(ids, np.int32))
    if dropped:
        logger.warning("%d lines skipped: characters not in the charset", dropped)
    return kept, labels


def _private_cache_file() -> str:
    """A cache file path in a new temporary folder, removed when the process exits."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="keras_htr_cache_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return f"{folder}/lines"


def _pass_order(tf, count, seed, epoch, part):
    """Line order of one pass: a full permutation of `count`, a function of (seed, epoch, part)."""
    if seed is None:
        return tf.random.shuffle(tf.range(count, dtype=tf.int64))
    key = tf.stack([tf.constant(seed, tf.int64) * 65537 + part, epoch])
    return tf.argsort(tf.random.stateless_uniform(tf.reshape(count, [1]), key), stable=True)


def make_dataset(
    samples,
    charset: Charset,
    preprocess_config: PreprocessConfig | None = None,
    batch_size: int = 16,
    training: bool = False,
    augment=None,
    shuffle: bool = True,
    seed: int | None = None,
    cache: bool | str = False,
    boundaries: Sequence[int] | None = DEFAULT_BUCKETS,
    label_length: int | None = None,
    drop_remainder: bool = False,
    epoch: int = 0,
    steps_per_epoch: int | None = None,
    deterministic: bool = False,
    unknown: str = "skip",
):
    """Batches `({"image", "width"}, labels)` for `model.fit`, bucketed by width.

    Images are decoded (lazy samples) in a generator, preprocessed with `preprocess_line` in
    parallel, optionally cached (as uint8, a quarter of the memory), put in the order of the
    pass, augmented (training only), grouped by padded width and prefetched.

    Every pass over the data is a full reshuffle whose order depends only on `(seed, epoch)`,
    with or without the cache. So a run resumed at epoch E (pass `epoch=E`) sees the lines in
    the order an uninterrupted run would have. With the cache, every line is preprocessed
    once, when the dataset is made (the cache is then shuffled as a whole in every pass).

    Args:
        samples: a sequence of `Sample` (e.g. a `LineDataset`).
        charset: the model's `Charset`; labels are its ids padded with -1.
        preprocess_config: a `PreprocessConfig`; defaults to `PreprocessConfig()`.
        batch_size: lines per batch. Defaults to 16.
        training: enables augmentation (if `augment` is given).
        augment: a `keras_htr.data.augment.LineAugmentation` (or any callable on one
            (H, W, 1) image), True for the default one, or None. Used only when `training`.
        shuffle: a new order of the lines in every pass. Defaults to True.
        seed: makes the line order (and, with `deterministic`, the augmentation) reproducible.
        cache: True to preprocess each line once (cached in a private temporary file that
            is deleted when the process ends), or a path to cache on disk. Either way each
            pass gathers the whole preprocessed set in memory to reorder it; for data larger
            than memory use no cache (lines then stream from the readers, still in a full
            reshuffle).
        boundaries: padded widths (see `bucket_boundaries`); None pads each batch to its widest line.
        label_length: fixed label padding; defaults to the longest label rounded up to 8.
        drop_remainder: drop the incomplete last batch of each width bucket.
        epoch: index of the first pass (e.g. the epoch a resumed run starts at). Iterating the
            dataset again gives the next pass. Defaults to 0.
        steps_per_epoch: None for one pass per iteration; or a batch count: the dataset is then
            endless, each run of `steps_per_epoch` batches is one epoch built from passes of
            that epoch only (for `fit(steps_per_epoch=...)`), so epoch E's batches do not depend
            on how many batches earlier epochs used.
        deterministic: augment lines in order on one core, so a seeded augmentation draws the
            same distortions run after run. False (the default) augments in parallel: faster,
            but which line gets which distortion varies between runs (the line order does not).
        unknown: what to do with lines holding characters outside `charset`: "skip" them
            (logged), "ignore" the characters, or raise an "error".

    Returns:
        A `tf.data.Dataset` of `({"image": float32 (B, H, W, 1), "width": int32 (B,)},
        int32 (B, L))`.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"Received an invalid value for argument `batch_size`, expected >= 1, got {batch_size}")
    if unknown not in ("skip", "ignore", "error"):
        raise ValueError(
            f"Received an invalid value for argument `unknown`, expected 'skip', 'ignore' or 'error', got {unknown!r}"
        )
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"Received an invalid value for argument `epoch`, expected an integer >= 0, got {epoch!r}")
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1
    ):
        raise ValueError(
            f"Received an invalid value for argument `steps_per_epoch`, expected None or a positive "
            f"integer, got {steps_per_epoch!r}"
        )
    config = preprocess_config or PreprocessConfig()
    samples, labels = _encode_samples(samples, charset, unknown)
    if not samples:
        raise ValueError("No usable samples: the dataset is empty or no line fits the charset")
    longest = max(len(x) for x in labels)
    if label_length is None:
        label_length = max(8, int(math.ceil(longest / 8) * 8))
    elif longest > label_length:
        raise ValueError(
            f"Received an invalid value for argument `label_length`, expected >= the longest "
            f"label ({longest}), got {label_length}"
        )
    if augment is True:
        from keras_htr.data.augment import LineAugmentation

        augment = LineAugmentation(seed=seed)
    use_augment = training and augment is not None
    count = len(samples)

    def generate(order):
        loaded = 0
        for i in order:
            try:
                image = samples[i].image
            except ImageError as e:
                logger.warning("skipped: %s", e)
                continue
            loaded += 1
            yield image, labels[i]
        if len(order) and not loaded:
            # An empty pass would make the endless (steps_per_epoch) stream look for lines forever.
            raise ValueError(f"None of the {len(order)} line images could be loaded")

    signature = (tf.TensorSpec([None, None], tf.uint8), tf.TensorSpec([None], tf.int32))

    def read(order):
        return tf.data.Dataset.from_generator(generate, args=(order,), output_signature=signature)

    def prepare(gray, label):
        line = preprocess_line(gray, config)
        return tf.cast(tf.round(line * 255.0), tf.uint8), label

    def order_of(n, pass_epoch, part):
        if shuffle:
            return _pass_order(tf, n, seed, pass_epoch, part)
        return tf.range(n, dtype=tf.int64)

    height = config.height
    if cache:
        # All lines as one ragged batch, cached once; each pass gathers them in its order, so
        # every pass is a full reshuffle (a shuffle buffer after a cache only reshuffles
        # locally) and the order is the same as without the cache.
        def flatten(line, label):
            return tf.reshape(line, [-1]), tf.shape(line)[1], label

        # Each pass re-creates this dataset inside `flat_map`, and an in-memory `cache()` lives
        # in one iterator only, so it would preprocess every line again in every pass. A file
        # cache is shared by all of them once it is complete, and a pass cut short (an epoch
        # of `steps_per_epoch` batches) never completes it: so it is filled here, once.
        cache_path = _private_cache_file() if cache is True else str(cache)
        everything = (
            read(np.arange(count)).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
            .map(flatten).ragged_batch(count)
            .cache(cache_path)
        )
        for _ in everything:
            pass

        def unflatten(flat, width, label):
            return tf.reshape(flat, tf.stack([height, width, 1])), label

        def lines_of_pass(pass_epoch, part):
            def gather(flat, widths, label_rows):
                order = order_of(tf.shape(widths, out_type=tf.int64)[0], pass_epoch, part)
                return tf.data.Dataset.from_tensor_slices(
                    (tf.gather(flat, order), tf.gather(widths, order), tf.gather(label_rows, order))
                )

            return everything.flat_map(gather).map(unflatten)
    else:
        def lines_of_pass(pass_epoch, part):
            order = order_of(tf.constant(count, tf.int64), pass_epoch, part)
            return read(order).map(prepare, num_parallel_calls=tf.data.AUTOTUNE)

    def finish(line, label):
        image = tf.cast(line, tf.float32) / 255.0
        return {"image": image, "width": tf.shape(image)[1]}, label

    padding = ({"image": 0.0, "width": 0}, -1)
    if boundaries is not None:
        boundaries = tuple(int(b) for b in boundaries)

    def batches_of_pass(pass_epoch, part=0):
        ds = lines_of_pass(pass_epoch, part).map(finish, num_parallel_calls=tf.data.AUTOTUNE)
        if use_augment:
            # Augmentation layers draw from a shared seed generator: in parallel, the draws go
            # to lines in whatever order the threads run.
            ds = ds.map(
                lambda inputs, label: ({"image": augment(inputs["image"]), "width": inputs["width"]}, label),
                num_parallel_calls=None if deterministic else tf.data.AUTOTUNE,
            )
        if boundaries is None:
            return ds.padded_batch(
                batch_size,
                padded_shapes=({"image": [height, None, 1], "width": []}, [label_length]),
                padding_values=padding,
                drop_remainder=drop_remainder,
            )

        def reduce(key, window):
            w = _key_width_tf(tf, key, boundaries)
            shapes = (
                {"image": tf.stack([tf.constant(height, tf.int64), w, tf.constant(1, tf.int64)]), "width": []},
                [label_length],
            )
            return window.padded_batch(
                batch_size, padded_shapes=shapes, padding_values=padding, drop_remainder=drop_remainder
            )

        return ds.group_by_window(
            key_func=lambda inputs, label: _bucket_key_tf(tf, inputs["width"], boundaries),
            reduce_func=reduce,
            window_size=batch_size,
        )

    if steps_per_epoch is None:
        # One pass per iteration of the dataset; the pass counter lives here, in Python.
        next_pass = [epoch]

        def pass_index():
            next_pass[0] += 1
            yield next_pass[0] - 1

        passes = tf.data.Dataset.from_generator(pass_index, output_signature=tf.TensorSpec([], tf.int64))
        ds = passes.flat_map(batches_of_pass)
    else:
        def epoch_batches(e):
            # Passes (e, 0), (e, 1), ... until the epoch has its batches.
            parts = tf.data.Dataset.range(2**62)
            return parts.flat_map(lambda part: batches_of_pass(e, part)).take(steps_per_epoch)

        ds = tf.data.Dataset.range(epoch, 2**62).flat_map(epoch_batches)

    def set_shapes(inputs, label):
        return (
            {
                "image": tf.ensure_shape(inputs["image"], [None, height, None, 1]),
                "width": tf.cast(inputs["width"], tf.int32),
            },
            tf.ensure_shape(label, [None, label_length]),
        )

    return ds.map(set_shapes).prefetch(tf.data.AUTOTUNE)
