"""`tf.data` input pipeline: samples -> preprocessed, width-bucketed, padded batches.

XLA compiles a model once per input shape (a few seconds each on CPU), so batches are padded
to a few fixed widths (a geometric series) and labels to one fixed length; each line's true
width travels with it for the model's mask and the CTC output lengths.
"""

from __future__ import annotations

import logging
import math
from typing import Optional, Sequence, Union

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


def pad_batch(lines, boundaries: Optional[Sequence[int]] = DEFAULT_BUCKETS) -> dict:
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


def make_dataset(
    samples,
    charset: Charset,
    preprocess_config: Optional[PreprocessConfig] = None,
    batch_size: int = 16,
    training: bool = False,
    augment=None,
    shuffle: bool = True,
    seed: Optional[int] = None,
    cache: Union[bool, str] = False,
    boundaries: Optional[Sequence[int]] = DEFAULT_BUCKETS,
    label_length: Optional[int] = None,
    drop_remainder: bool = False,
    shuffle_buffer: int = 1024,
    unknown: str = "skip",
):
    """Batches `({"image", "width"}, labels)` for `model.fit` / `evaluate`, bucketed by width.

    Images are decoded (lazy samples) in a generator, preprocessed with `preprocess_line` in
    parallel, optionally cached (as uint8, a quarter of the memory), shuffled, augmented
    (training only), grouped by padded width and prefetched.

    Args:
        samples: a sequence of `Sample` (e.g. a `LineDataset`).
        charset: the model's `Charset`; labels are its ids padded with -1.
        preprocess_config: a `PreprocessConfig`; defaults to `PreprocessConfig()`.
        batch_size: lines per batch. Defaults to 16.
        training: enables augmentation (if `augment` is given) and reshuffling.
        augment: a `keras_htr.data.augment.LineAugmentation` (or any callable on one
            (H, W, 1) image), True for the default one, or None. Used only when `training`.
            With a `seed` it runs in order on one core, so the distortions are reproducible;
            without one it runs in parallel.
        shuffle: shuffle sample order (each epoch). Defaults to True.
        seed: makes shuffling and augmentation reproducible.
        cache: True to cache preprocessed lines in memory, a path to cache on disk.
        boundaries: padded widths (see `bucket_boundaries`); None pads each batch to its widest line.
        label_length: fixed label padding; defaults to the longest label rounded up to 8.
        drop_remainder: drop the incomplete last batch of each width bucket.
        shuffle_buffer: buffer size of the element shuffle after caching.
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
    epoch = [0]

    def generate():
        order = np.arange(len(samples))
        if shuffle:  # with a cache this runs once; the buffer below reshuffles later epochs
            np.random.default_rng(None if seed is None else seed + epoch[0]).shuffle(order)
        epoch[0] += 1
        for i in order:
            try:
                image = samples[i].image
            except ImageError as e:
                logger.warning("skipped: %s", e)
                continue
            yield image, labels[i]

    ds = tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec([None, None], tf.uint8),
            tf.TensorSpec([None], tf.int32),
        ),
    )

    def prepare(gray, label):
        line = preprocess_line(gray, config)
        return tf.cast(tf.round(line * 255.0), tf.uint8), label

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache("" if cache is True else str(cache))
    if shuffle:
        ds = ds.shuffle(min(shuffle_buffer, len(samples)), seed=seed, reshuffle_each_iteration=True)

    def finish(line, label):
        image = tf.cast(line, tf.float32) / 255.0
        return {"image": image, "width": tf.shape(image)[1]}, label

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
    if use_augment:
        # The layers draw from seed generators: with a seed, run in order on one core so the
        # distortions are reproducible; without one, in parallel.
        ds = ds.map(
            lambda inputs, label: ({"image": augment(inputs["image"]), "width": inputs["width"]}, label),
            num_parallel_calls=None if seed is not None else tf.data.AUTOTUNE,
        )
    height = config.height
    padding = ({"image": 0.0, "width": 0}, -1)

    if boundaries is None:
        ds = ds.padded_batch(
            batch_size,
            padded_shapes=({"image": [height, None, 1], "width": []}, [label_length]),
            padding_values=padding,
            drop_remainder=drop_remainder,
        )
    else:
        boundaries = tuple(int(b) for b in boundaries)

        def reduce(key, window):
            w = _key_width_tf(tf, key, boundaries)
            shapes = (
                {"image": tf.stack([tf.constant(height, tf.int64), w, tf.constant(1, tf.int64)]), "width": []},
                [label_length],
            )
            return window.padded_batch(
                batch_size, padded_shapes=shapes, padding_values=padding, drop_remainder=drop_remainder
            )

        ds = ds.group_by_window(
            key_func=lambda inputs, label: _bucket_key_tf(tf, inputs["width"], boundaries),
            reduce_func=reduce,
            window_size=batch_size,
        )

    def set_shapes(inputs, label):
        return (
            {
                "image": tf.ensure_shape(inputs["image"], [None, height, None, 1]),
                "width": tf.cast(inputs["width"], tf.int32),
            },
            tf.ensure_shape(label, [None, label_length]),
        )

    return ds.map(set_shapes).prefetch(tf.data.AUTOTUNE)
