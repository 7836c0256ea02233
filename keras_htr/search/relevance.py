"""Probabilistic indexing (PrIx): the probability that a word occurs in a line, from CTC output.

A 1-best transcript misses a word whenever one letter of it is wrong, yet the model's frame
posteriors still hold the probability that the word is there. Following Vidal, Toselli and
Puigcerver, the relevance of word v for line x is

    P(v in x) = sum of P(w | x) over the transcriptions w that contain v as a whole word,

and with CTC it is a forward pass over the frame posteriors through a deterministic automaton
for "(anything separator)? v (separator anything)?": because every frame label leads to exactly
one state, each frame path is counted once and the states' masses always sum to 1, so no
normalisation or log space is needed. The cost is linear in frames x word length.

States (with `k = len(v)`): R (at a word start: line start or after a separator), X (inside
some other word), A (v matched and closed by a separator: absorbing), and for each matched
prefix v[:j], `M_j^b` (last frame blank) and `M_j^h(c)` (last frame the class c that emitted
v[j-1]; the same class again is a CTC repeat, not a new letter). X is what is left of 1.

Words are runs of letters and digits; every other symbol (space, punctuation, apostrophe,
hyphen) separates words. Matching is case-insensitive unless asked otherwise: each letter of v
may be any class whose character has the same case fold.
"""

from __future__ import annotations

import re
import unicodedata

import numpy as np

from keras_htr.charset import BLANK_ID

_WORD = re.compile(r"[^\W_]+")


def words_of(text: str) -> list:
    """The words of a text as the index sees them: runs of letters and digits, lower-cased
    (`lower`, not `casefold`, which would turn 'ß' into 'ss', another spelling)."""
    return _WORD.findall(unicodedata.normalize("NFC", text).lower())


def is_word_char(char: str) -> bool:
    return char.isalnum()


def separator_ids(charset) -> np.ndarray:
    """Class ids of the symbols that separate words (all but letters and digits)."""
    return np.array(
        [i + 1 for i, c in enumerate(charset.chars) if not is_word_char(c)], dtype=np.int64
    )


def check_query(query, charset) -> str:
    """The normalised query word, or a ValueError saying why it cannot be searched."""
    if not isinstance(query, str):
        raise TypeError(
            f"Received an invalid value for argument `query`, expected a word (str), got {query!r}"
        )
    word = unicodedata.normalize("NFC", query.strip())
    if not word:
        raise ValueError("Received an invalid value for argument `query`, expected a word, got an empty query")
    missing = sorted(
        {c for c in word if c not in charset and not any(v in charset for v in _variants(c))}
    )
    if missing:
        raise ValueError(
            f"Received an invalid value for argument `query`, expected symbols of the model's "
            f"alphabet, got {query!r} with {''.join(missing)!r} outside it"
        )
    bad = sorted({c for c in word if not is_word_char(c)})
    if bad:
        raise ValueError(
            f"Received an invalid value for argument `query`, expected one word of letters and "
            f"digits (other symbols separate words), got {query!r} with {''.join(bad)!r}"
        )
    return word


def _variants(char: str) -> list:
    """Single characters with the same case fold as `char` (a, A; é, É)."""
    fold = char.casefold()
    out = {char, char.lower(), char.upper()}
    return sorted(c for c in out if len(c) == 1 and c.casefold() == fold)


def word_classes(word: str, charset, case_sensitive: bool = False) -> list:
    """For each letter of `word`, the class ids it may be read as (one, or its case variants)."""
    word = check_query(word, charset)
    out = []
    for c in word:
        options = [c] if case_sensitive else _variants(c)
        ids = [charset.encode(v)[0] for v in options if v in charset]
        if not ids:
            raise ValueError(
                f"Received an invalid value for argument `query`, expected symbols of the model's "
                f"alphabet, got {word!r} with {c!r} outside it (case-sensitive search)"
            )
        out.append(ids)
    return out


def relevance(probs, lengths, words, separators) -> np.ndarray:
    """P(word occurs in line) for every line and word, summed over all CTC alignments.

    Args:
        probs: float (L, T, C) frame posteriors (softmax, blank at 0) of L lines.
        lengths: int (L,) frames of each line (later frames are ignored).
        words: W words, each a list of per-letter class-id lists (`word_classes`).
        separators: class ids that separate words (`separator_ids`).

    Returns:
        float64 (L, W) relevance probabilities in [0, 1].

    Example:

    >>> import numpy as np
    >>> from keras_htr.charset import Charset
    >>> cs = Charset("ab ")
    >>> probs = np.eye(4)[[1, 0, 2, 3]][None] * 0.9 + 0.025  # "ab " with some doubt
    >>> p = relevance(probs, [4], [word_classes("ab", cs)], separator_ids(cs))
    >>> bool(0.5 < p[0, 0] < 1)
    True
    """
    probs = np.asarray(probs)
    if probs.ndim != 3:
        raise ValueError(
            f"Received an invalid value for argument `probs`, expected shape (L, T, C), got {probs.shape}"
        )
    num_lines, num_frames, _ = probs.shape
    lengths = np.asarray(lengths, np.int64).reshape(-1)
    if len(words) == 0 or num_lines == 0:
        return np.zeros((num_lines, len(words)))
    # Only the columns of the query letters, the blank and the separators' sum are needed:
    # gather them once (float64) instead of carrying every class through the frames.
    used = sorted({c for w in words for ids in w for c in ids})
    column = {c: k for k, c in enumerate(used)}
    k_max = max(len(w) for w in words)
    v_max = max(len(ids) for w in words for ids in w)
    dummy = len(used)  # a column of probability 0, for padding
    var = np.full((len(words), k_max, v_max), dummy, np.int64)
    valid = np.zeros((len(words), k_max), bool)
    last = np.zeros((len(words), k_max), bool)
    for i, w in enumerate(words):
        for j, ids in enumerate(w):
            var[i, j, : len(ids)] = [column[c] for c in ids]
        valid[i, : len(w)] = True
        last[i, len(w) - 1] = True
    not_last = valid & ~last
    # same[w, j, c, c2]: variant c of letter j is the very class of variant c2 of letter j-1,
    # so going from one to the other with no blank between is a repeat, not a new letter
    same = np.zeros((len(words), k_max, v_max, v_max), bool)
    same[:, 1:] = (var[:, 1:, :, None] == var[:, :-1, None, :]) & (var[:, 1:, :, None] != dummy)

    # Padded frames become pure blank: that moves no mass between R, X, A and M_j.
    inside = np.arange(num_frames)[None, :] < lengths[:, None]
    y = np.zeros((num_lines, num_frames, len(used) + 1))
    y[..., :-1] = probs[..., used]
    y[~inside] = 0.0
    blank = np.where(inside, probs[..., BLANK_ID], 1.0).astype(np.float64)
    separators = np.asarray(separators, np.int64)
    sep = probs[..., separators].sum(-1, dtype=np.float64) if len(separators) else np.zeros_like(blank)
    sep[~inside] = 0.0

    shape = (num_lines, len(words))
    r = np.ones(shape)
    a = np.zeros(shape)
    b = np.zeros(shape + (k_max,))
    h = np.zeros(shape + (k_max, v_max))
    for t in range(num_frames):
        yt = y[:, t]
        yv = yt[:, var]  # (L, W, K, V)
        yb = blank[:, t][:, None]
        ys = sep[:, t][:, None]
        mass = b + h.sum(-1)  # (L, W, K)
        x = np.maximum(1.0 - r - a - mass.sum(-1), 0.0)
        # what may start letter j: R for j = 0, else M_{j-1} less the repeats of the same class
        prev = np.empty(shape + (k_max, v_max))
        prev[:, :, 0, :] = r[..., None]
        if k_max > 1:
            repeat = np.einsum("wjcd,lwjd->lwjc", same[:, 1:], h[:, :, :-1])
            prev[:, :, 1:, :] = mass[:, :, :-1, None] - repeat
        r_new = r * (yb + ys) + x * ys + (mass * not_last).sum(-1) * ys
        a = a + (mass * last).sum(-1) * ys
        b = mass * yb[..., None]
        h = yv * (h + prev)
        h *= valid[..., None]
        r = r_new
    return np.clip(a + ((b + h.sum(-1)) * last).sum(-1), 0.0, 1.0)


__all__ = ["check_query", "relevance", "separator_ids", "word_classes", "words_of"]
