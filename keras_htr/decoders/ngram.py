"""N-gram language models in ARPA format: estimate one from a corpus, check a file is one.

KenLM queries ARPA files fast but its Python wheel (`ufal-kenlm`) has no estimator (`lmplz`),
so this module estimates the model itself: interpolated Kneser-Ney with one discount per order
(Chen & Goodman 1998), counted with NumPy (sorting n-gram rows), written as ARPA, which KenLM and
flashlight-text read. Character models write a space as the token `<sp>`, so a line of text is
a sentence of character tokens.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

#: The token that stands for a space in character-level models.
SPACE_TOKEN = "<sp>"
BOS, EOS, UNK = "<s>", "</s>", "<unk>"
UNITS = ("char", "word")
#: The KenLM inside flashlight-text's decoder reads models up to order 6.
MAX_ORDER = 6
#: A word of a word model: letters, digits and apostrophes; any other visible character (a
#: comma, a bracket) is a token of its own, so "end." is the two tokens "end" and ".".
_WORD_TOKEN = re.compile(r"(?:[^\W_]|')+|\S")


def is_word_char(char: str) -> bool:
    """Whether `char` belongs inside a word token (a letter, a digit or an apostrophe)."""
    return char == "'" or char.isalnum()


class LMFileError(ValueError):
    """A file that is not a readable ARPA language model (names the file and why)."""


def tokenize(text: str, unit: str) -> list:
    """The tokens of one line: characters (space as `<sp>`), or words and punctuation marks.

    >>> tokenize("the end.", "word")
    ['the', 'end', '.']
    """
    text = " ".join(text.split())
    if unit == "word":
        return _WORD_TOKEN.findall(text)
    return [SPACE_TOKEN if c == " " else c for c in text]


def estimate_arpa(lines: Iterable[str], order: int = 6, unit: str = "char", prune: int = 1) -> str:
    """Estimates an interpolated Kneser-Ney n-gram model and returns it as ARPA text.

    Lower orders use continuation counts (in how many contexts a token follows), which is what
    makes Kneser-Ney good for rare words; n-grams that start with `<s>` keep their raw counts.

    Args:
        lines: the corpus, one sentence (a text line) per item.
        order: the n of the n-gram model (2..6, what the decoder's KenLM reads; 6 suits
            characters, 3 words).
        unit: "char" (every character a token, space as `<sp>`) or "word".
        prune: n-grams of order 3 and up counted this many times or fewer (continuation
            counts below the top order) are left out, unless a longer n-gram kept needs them;
            0 keeps all. Makes the file several times smaller for a small loss of accuracy.

    Returns:
        The model as ARPA text.

    Example:

    >>> arpa = estimate_arpa(["the cat", "the hat"], order=3)
    >>> arpa.splitlines()[0]
    '\\\\data\\\\'
    """
    if isinstance(order, bool) or not isinstance(order, int) or not 2 <= order <= MAX_ORDER:
        raise ValueError(
            f"Received an invalid value for argument `order`, expected an integer in "
            f"[2, {MAX_ORDER}], got {order!r}"
        )
    if unit not in UNITS:
        raise ValueError(
            f"Received an invalid value for argument `unit`, expected one of {UNITS}, got {unit!r}"
        )
    if isinstance(prune, bool) or not isinstance(prune, int) or prune < 0:
        raise ValueError(
            f"Received an invalid value for argument `prune`, expected a non-negative integer, "
            f"got {prune!r}"
        )
    vocab = {BOS: 0, EOS: 1}
    stream = []
    for line in lines:
        tokens = tokenize(line, unit)
        if tokens:
            stream.append(0)
            stream.extend(vocab.setdefault(t, len(vocab)) for t in tokens)
            stream.append(1)
    if not stream:
        raise ValueError("Received an invalid value for argument `lines`, expected some text, got none")
    words = [None] * len(vocab)
    for token, i in vocab.items():
        words[i] = token
    ids = np.asarray(stream, np.int32)

    # counts[n]: (sorted unique rows (k, n) int32, adjusted counts (k,)).
    raw = {}
    for n in range(1, order + 1):
        if len(ids) < n:
            break
        rows = np.lib.stride_tricks.sliding_window_view(ids, n)
        ok = np.ones(len(rows), bool)
        if n > 1:  # no n-gram across sentences: <s> only first, </s> only last
            ok &= ~(rows[:, 1:] == 0).any(axis=1)
            ok &= ~(rows[:, :-1] == 1).any(axis=1)
        rows = rows[ok]
        if n == 1:
            rows = rows[rows[:, 0] != 0]  # <s> is never predicted
        uniq, count = np.unique(rows, axis=0, return_counts=True)
        raw[n] = (uniq, count)
    top = max(raw)
    adjusted = {top: raw[top]}
    for n in range(top - 1, 0, -1):
        upper = raw[n + 1][0]
        cont, ccount = np.unique(upper[:, 1:], axis=0, return_counts=True)
        uniq, count = raw[n]
        # continuation count for every n-gram, raw count for those starting with <s>
        pos = _find(cont, uniq)
        found = pos >= 0
        adj = np.where(found, ccount[np.maximum(pos, 0)], 0)
        adj = np.where(uniq[:, 0] == 0, count, adj)
        keep = adj > 0
        adjusted[n] = (uniq[keep], adj[keep])

    # discounts D_n = n1 / (n1 + 2 n2), kept inside (0, 1)
    discount = {}
    for n, (_, c) in adjusted.items():
        n1, n2 = np.sum(c == 1), np.sum(c == 2)
        discount[n] = float(np.clip(n1 / (n1 + 2 * n2) if n1 + n2 else 0.5, 0.1, 0.9))

    # What pruning keeps, from the top order down: n-grams (order >= 3) counted more than
    # `prune` times, and every prefix (context) and suffix (backoff) a kept longer one needs.
    keep = {}
    for n in range(top, 0, -1):
        uniq, c = adjusted[n]
        k = np.ones(len(uniq), bool)
        if prune and n >= 3:
            k = c > prune
            if n < top:
                upper = adjusted[n + 1][0][keep[n + 1]]
                pos = _find(uniq, np.concatenate([upper[:, :-1], upper[:, 1:]]))
                k[pos[pos >= 0]] = True
        keep[n] = k

    probs, backoffs = {}, {}
    vocab_size = len(words)  # + <unk> - <s>
    uniq, c = adjusted[1]
    total = c.sum()
    gamma = discount[1] * len(c) / total
    p1 = np.full(len(words), gamma / vocab_size)
    p1[uniq[:, 0]] += (c - discount[1]) / total
    probs[1] = (uniq, p1[uniq[:, 0]])
    unk_prob = gamma / vocab_size
    for n in range(2, top + 1):
        uniq, c = adjusted[n]
        context, inverse, types = np.unique(
            uniq[:, :-1], axis=0, return_inverse=True, return_counts=True
        )
        inverse = inverse.ravel()
        totals = np.bincount(inverse, weights=c, minlength=len(context))
        gammas = discount[n] * types / totals
        uniq, c, inverse = uniq[keep[n]], c[keep[n]], inverse[keep[n]]
        # (h' w) is always in the lower order: its continuation count is at least 1, and
        # pruning keeps the suffixes of what it keeps
        lower_rows, lower_p = probs[n - 1]
        pos = _find(lower_rows, uniq[:, 1:])
        assert (pos >= 0).all(), "a lower-order n-gram is missing"
        p = (c - discount[n]) / totals[inverse] + gammas[inverse] * lower_p[pos]
        probs[n] = (uniq, p)
        # ARPA backoff weight: the mass left after the n-grams kept, over the lower order's
        # mass of the words not kept. Without pruning this is exactly gamma; with pruning it
        # keeps every context a distribution.
        left = 1.0 - np.bincount(inverse, weights=p, minlength=len(context))
        lower_left = 1.0 - np.bincount(inverse, weights=lower_p[pos], minlength=len(context))
        backoffs[n - 1] = (context, np.maximum(left, 1e-12) / np.maximum(lower_left, 1e-12))

    return _write_arpa(words, probs, backoffs, top, unk_prob)


def _void(rows: np.ndarray) -> np.ndarray:
    rows = np.ascontiguousarray(rows, np.int32)
    return rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()


def _find(table: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Index of each row of `rows` in the row-sorted unique `table` (sorted as bytes), or -1."""
    keys, wanted = _void(table), _void(rows)
    order = np.argsort(keys)
    sorted_keys = keys[order]
    pos = np.searchsorted(sorted_keys, wanted)
    pos = np.minimum(pos, len(sorted_keys) - 1)
    hit = sorted_keys[pos] == wanted
    return np.where(hit, order[pos], -1)


def _write_arpa(words, probs, backoffs, top, unk_prob) -> str:
    out = io.StringIO()
    counts = {n: len(probs[n][0]) + (2 if n == 1 else 0) for n in range(1, top + 1)}
    out.write("\\data\\\n")
    for n in range(1, top + 1):
        out.write(f"ngram {n}={counts[n]}\n")
    for n in range(1, top + 1):
        out.write(f"\n\\{n}-grams:\n")
        uniq, p = probs[n]
        logp = np.log10(np.maximum(p, 1e-99))
        bow = None
        if n in backoffs:
            ctx, g = backoffs[n]
            where = _find(ctx, uniq)
            bow = np.where(where >= 0, np.log10(g[np.maximum(where, 0)]), np.nan)
        if n == 1:
            unk = math.log10(max(1e-99, unk_prob))
            out.write(f"{unk:.6f}\t{UNK}\n")
            bos_bow = _bow_of(backoffs.get(1), 0)
            out.write(f"-99\t{BOS}" + (f"\t{bos_bow:.6f}" if bos_bow is not None else "") + "\n")
        for i in range(len(uniq)):
            line = f"{logp[i]:.6f}\t{' '.join(words[t] for t in uniq[i])}"
            if bow is not None and not np.isnan(bow[i]):
                line += f"\t{bow[i]:.6f}"
            out.write(line + "\n")
    out.write("\n\\end\\\n")
    return out.getvalue()


def _bow_of(backoff, token: int):
    if backoff is None:
        return None
    ctx, g = backoff
    where = _find(ctx, np.array([[token]], np.int32))[0]
    return math.log10(g[where]) if where >= 0 else None


def write_lm(arpa: str, path) -> Path:
    """Writes ARPA text to `path` (gzip-compressed when it ends in `.gz`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = arpa.encode("utf-8")
    if path.suffix == ".gz":
        with gzip.GzipFile(path, "wb", mtime=0) as f:  # mtime 0: same corpus, same bytes
            f.write(data)
    else:
        path.write_bytes(data)
    return path


def read_header(path) -> dict:
    """`{"order", "counts", "unit", "vocabulary", "unigrams"}` of the ARPA file at `path`.

    `unigrams` maps each unigram token to its log10 probability. Plain or gzipped files.

    Reads the whole unigram section to tell character models (their vocabulary holds `<sp>`)
    from word models. Raises `LMFileError` naming the file when it is not an ARPA model, so a
    wrong file gets a clear message instead of a crash inside KenLM.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No language model file at {path}")
    try:
        opener = gzip.open if _is_gzip(path) else open
        with opener(path, "rt", encoding="utf-8") as f:
            return _parse_header(f, path)
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise LMFileError(f"{path}: not an ARPA language model ({type(e).__name__}: {e})") from None


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def _parse_header(f, path) -> dict:
    first = ""
    for line in f:
        first = line.strip()
        if first:
            break
    if first != "\\data\\":
        raise LMFileError(
            f"{path}: not an ARPA language model (expected a first line '\\data\\', "
            f"got {first[:40]!r}); build one with `keras-htr lm build`"
        )
    counts = {}
    for line in f:
        line = line.strip()
        if not line:
            if counts:
                break
            continue
        if not line.startswith("ngram ") or "=" not in line:
            raise LMFileError(f"{path}: not an ARPA language model (bad header line {line[:40]!r})")
        n, k = line[6:].split("=", 1)
        try:
            counts[int(n)] = int(k)
        except ValueError:
            raise LMFileError(f"{path}: not an ARPA language model (bad header line {line!r})") from None
    if not counts or sorted(counts) != list(range(1, len(counts) + 1)):
        raise LMFileError(f"{path}: not an ARPA language model (no n-gram counts in its header)")
    vocabulary, unigrams = [], {}
    for line in f:
        line = line.strip()
        if not line:
            continue
        if line == "\\1-grams:":
            continue
        if line.startswith("\\"):
            break
        parts = line.split("\t")
        if len(parts) < 2:
            parts = line.split()
        if len(parts) < 2:
            raise LMFileError(f"{path}: not an ARPA language model (bad unigram line {line[:40]!r})")
        try:
            unigrams[parts[1]] = float(parts[0])
        except ValueError:
            raise LMFileError(f"{path}: not an ARPA language model (bad unigram line {line[:40]!r})") from None
        vocabulary.append(parts[1])
    if len(vocabulary) != counts[1]:
        raise LMFileError(
            f"{path}: not an ARPA language model (header says {counts[1]} unigrams, found "
            f"{len(vocabulary)}; is the file cut short?)"
        )
    unit = "char" if SPACE_TOKEN in vocabulary else "word"
    return {
        "order": max(counts), "counts": counts, "unit": unit, "vocabulary": vocabulary,
        "unigrams": unigrams,
    }


def build_lm(corpus, out, order: int = 6, unit: str = "char", prune: int = 1) -> Path:
    """Estimates a model from a text file (one line per sentence) and writes it to `out`.

    Args:
        corpus: path of a UTF-8 text file.
        out: where to write the model (`.arpa`, or `.arpa.gz` to compress).
        order, unit, prune: as for `estimate_arpa`.
    """
    corpus = Path(corpus)
    if not corpus.is_file():
        raise FileNotFoundError(f"No corpus file at {corpus}")
    import unicodedata

    with open(corpus, encoding="utf-8", errors="strict") as f:
        lines = [unicodedata.normalize("NFC", line) for line in f]
    return write_lm(estimate_arpa(lines, order=order, unit=unit, prune=prune), os.fspath(out))


__all__ = [
    "SPACE_TOKEN",
    "UNITS",
    "LMFileError",
    "build_lm",
    "estimate_arpa",
    "is_word_char",
    "read_header",
    "tokenize",
    "write_lm",
]
