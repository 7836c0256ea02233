"""Character and word error rates, as plain functions and as a validation callback for `fit`.

Rates are corpus-level, as in the literature: total edit distance over total reference length
(not a mean of per-line rates, which would overweight short lines). Edit distances come from
rapidfuzz's Levenshtein.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Sequence

import keras
from rapidfuzz.distance import Levenshtein

from keras_htr.charset import normalize_text


@dataclasses.dataclass
class ErrorCounts:
    """Running edit and reference totals for characters and words."""

    char_edits: int = 0
    chars: int = 0
    word_edits: int = 0
    words: int = 0
    lines: int = 0

    def update(self, reference: str, hypothesis: str) -> None:
        reference, hypothesis = normalize_text(reference), normalize_text(hypothesis)
        self.char_edits += Levenshtein.distance(reference, hypothesis)
        self.chars += len(reference)
        ref_words, hyp_words = reference.split(), hypothesis.split()
        self.word_edits += Levenshtein.distance(ref_words, hyp_words)
        self.words += len(ref_words)
        self.lines += 1

    @property
    def cer(self) -> float:
        return _rate(self.char_edits, self.chars)

    @property
    def wer(self) -> float:
        return _rate(self.word_edits, self.words)


def _rate(edits: int, total: int) -> float:
    # An empty reference: any output is an error, no output is perfect.
    if total == 0:
        return 0.0 if edits == 0 else float(edits)
    return edits / total


def _counts(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorCounts:
    references, hypotheses = list(references), list(hypotheses)
    if len(references) != len(hypotheses):
        raise ValueError(
            f"Received an invalid value for argument `hypotheses`, expected one per reference "
            f"({len(references)}), got {len(hypotheses)}"
        )
    counts = ErrorCounts()
    for ref, hyp in zip(references, hypotheses):
        counts.update(ref, hyp)
    return counts


def cer(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Character error rate: total character edits / total reference characters.

    Example:

    >>> cer(["abcd", "ef"], ["abd", "ef"])
    0.16666666666666666
    """
    return _counts(references, hypotheses).cer


def wer(references: Iterable[str], hypotheses: Iterable[str]) -> float:
    """Word error rate: total word edits / total reference words (words split on whitespace).

    Example:

    >>> wer(["the cat sat"], ["the bat sat"])
    0.3333333333333333
    """
    return _counts(references, hypotheses).wer


def evaluate_model(model, dataset, beam: int = 1, progress: bool = False) -> ErrorCounts:
    """Decode every batch of `dataset` ((inputs, labels) as from `make_dataset`) and count errors."""
    import numpy as np
    import tensorflow as tf
    from tqdm.auto import tqdm

    if beam > 1:
        from keras_htr.decoders.beam import beam_decode as decode

        decode_fn = lambda logits, lengths: decode(logits, lengths, beam_width=beam)  # noqa: E731
    else:
        from keras_htr.decoders.greedy import greedy_decode as decode_fn

    @tf.function(reduce_retracing=True)
    def logits_and_lengths(inputs):
        return model(inputs, training=False), model.output_lengths(inputs["width"])

    counts = ErrorCounts()
    charset = model.charset
    for inputs, labels in tqdm(dataset, disable=not progress, unit="batch", desc="evaluate", leave=False):
        logits, lengths = logits_and_lengths(inputs)
        ids, _ = decode_fn(logits, lengths)
        for label_row, id_row in zip(np.asarray(labels), ids.numpy()):
            counts.update(charset.decode(label_row), charset.decode(id_row))
    return counts


class ErrorRateCallback(keras.callbacks.Callback):
    """Adds `val_cer` and `val_wer` to the epoch logs (greedy decoding of `dataset`).

    Put it before `ModelCheckpoint` / `EarlyStopping` in the callback list so they can monitor
    `val_cer`: Keras calls callbacks in order with the same logs dict.

    Args:
        dataset: validation `tf.data.Dataset` of `(inputs, labels)`.
        prefix: name prefix of the logged values.
    """

    def __init__(self, dataset, prefix: str = "val_"):
        super().__init__()
        self.dataset = dataset
        self.prefix = prefix

    def on_epoch_end(self, epoch, logs=None):
        counts = evaluate_model(self.model, self.dataset)
        if logs is not None:
            logs[f"{self.prefix}cer"] = counts.cer
            logs[f"{self.prefix}wer"] = counts.wer


__all__ = ["ErrorCounts", "ErrorRateCallback", "cer", "evaluate_model", "wer"]
