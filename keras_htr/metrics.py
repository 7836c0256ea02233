"""Character and word error rates as plain functions on texts.

Measuring a model (and the validation callback for `fit`) is `keras_htr.evaluation`. Rates are
corpus-level, as in the literature: total edit distance over total reference length
(not a mean of per-line rates, which would overweight short lines). Edit distances come from
rapidfuzz's Levenshtein.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

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


__all__ = ["ErrorCounts", "cer", "wer"]
