"""A probabilistic keyword index in SQLite: build it from line images, search it by word.

For every line, words are proposed from the N best CTC paths (a beam search), then each one's
relevance probability is computed exactly over all alignments (`relevance`) and stored as
(word, line, probability, position) when it reaches `min_probability`. Each line's frame
posteriors are kept too, sparse (the few classes of each frame that matter, float16, zlib), so
a word never proposed can still be scored at query time, and so can a case-sensitive query.

SQLite because an index is one embedded file that any tool opens, with a B-tree index on
(word, probability) that answers a query on 100,000 lines in milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_htr.charset import BLANK_ID, Charset
from keras_htr.search.relevance import (
    check_query,
    relevance,
    separator_ids,
    word_classes,
    words_of,
)

FORMAT = "keras-htr-prix-1"
#: Sparse posteriors keep, per frame, the classes at least this probable (at most `_TOP`).
_KEEP = 0.003
_TOP = 6

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE lines (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, text TEXT NOT NULL, frames INTEGER NOT NULL,
    mass BLOB NOT NULL, posteriors BLOB NOT NULL
);
CREATE TABLE postings (
    word TEXT NOT NULL, line INTEGER NOT NULL REFERENCES lines(id),
    probability REAL NOT NULL, position INTEGER NOT NULL
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS postings_word ON postings (word, probability DESC);
CREATE INDEX IF NOT EXISTS postings_line ON postings (line);
"""


class IndexFileError(ValueError):
    """A file that is not a keras-htr keyword index (names the file and why)."""


@dataclasses.dataclass(frozen=True)
class SearchHit:
    """One line where a query word may occur.

    Attributes:
        query: the word searched for.
        path: the line image.
        probability: P(the word occurs in the line), over all the model's readings of it.
        position: index of the word in the most probable reading that holds it (-1: in none).
        text: the line's 1-best transcript (for display; the word may be missing from it).
        line: the line's id in the index.
    """

    query: str
    path: str
    probability: float
    position: int
    text: str
    line: int


@dataclasses.dataclass(frozen=True)
class IndexStats:
    """What `build_index` did: lines indexed, postings stored, failures ("path: reason")."""

    lines: int
    postings: int
    failed: tuple


def encode_posteriors(log_probs: np.ndarray) -> tuple:
    """Sparse, compressed frame posteriors, and each class's mass summed over frames:
    `(blob, float16 (C,))`. The mass bounds what a word can score (see `KeywordIndex`)."""
    probs = np.exp(np.asarray(log_probs, np.float32))
    top = np.argsort(-probs, axis=1)[:, :_TOP]
    p = np.take_along_axis(probs, top, axis=1)
    keep = p >= _KEEP
    keep[:, 0] = True
    counts = keep.sum(1).astype(np.uint8)
    ids = top[keep].astype(np.uint16)
    values = p[keep].astype(np.float16)
    payload = (
        np.int32(len(probs)).tobytes() + counts.tobytes() + ids.tobytes() + values.tobytes()
    )
    return zlib.compress(payload, 6), probs.sum(0).astype(np.float16)


def decode_posteriors(blob: bytes, num_classes: int, columns=None) -> np.ndarray:
    """Dense float32 (T, num_classes + 1) posteriors; the last column holds the mass the sparse
    form left out, as a symbol that matches no query letter (so scores err low, not high).

    With `columns` (int (num_classes,): the column each class adds to), the posteriors come
    out merged into `columns.max() + 1` columns instead, the mass left out added to the last
    one (map the classes of no interest there): a query needs only its letters, the blank and
    the separators, not every class.
    """
    raw = zlib.decompress(blob)
    frames = int(np.frombuffer(raw[:4], np.int32)[0])
    counts = np.frombuffer(raw[4 : 4 + frames], np.uint8)
    n = int(counts.sum())
    ids = np.frombuffer(raw[4 + frames : 4 + frames + 2 * n], np.uint16)
    values = np.frombuffer(raw[4 + frames + 2 * n : 4 + frames + 4 * n], np.float16)
    rows = np.repeat(np.arange(frames), counts)
    if columns is None:
        dense = np.zeros((frames, num_classes + 1), np.float32)
        dense[rows, ids] = values
    else:
        dense = np.zeros((frames, int(columns.max()) + 1), np.float32)
        np.add.at(dense, (rows, columns[ids]), values)
    dense[:, -1] += np.maximum(1.0 - dense.sum(1), 0.0)
    return dense


def _candidates(log_probs: np.ndarray, top_paths: int) -> list:
    """The `top_paths` most probable readings of one line (CTC beam search), as id lists."""
    import tensorflow as tf

    # The search costs beams x classes per frame. A class that never reaches 1% in any frame
    # of the line cannot shape a reading among the best few, so it is left out: several times
    # faster. (Nor can a word holding it reach the 1% a posting needs, short of many frames.)
    useful = [c for c in np.flatnonzero(log_probs.max(axis=0) >= np.log(0.01)) if c != BLANK_ID]
    order = np.asarray(useful + [BLANK_ID])  # TF wants the blank last
    # A run of near-certain blanks reads like one blank (it still parts repeated letters).
    sure = log_probs[:, BLANK_ID] >= np.log(0.999)
    frames = ~(sure & np.concatenate([[False], sure[:-1]]))
    decoded, _ = tf.nn.ctc_beam_search_decoder(
        np.ascontiguousarray(log_probs[frames][:, order][:, None, :], np.float32),
        [int(frames.sum())],
        beam_width=max(2 * top_paths, 8),
        top_paths=top_paths,
    )
    return [[int(order[v]) for v in sparse.values.numpy()] for sparse in decoded]


class IndexWriter:
    """Writes a new index from frame posteriors, whatever produced them (Keras, TFLite, ...).

    Args:
        out: the index file to create (an existing file is replaced).
        charset: the alphabet of the model whose posteriors are added.
        top_paths: readings per line whose words are proposed.
        min_probability: postings below this are not stored (such words are still found by
            rescoring the stored posteriors when no line proposed them).

    Example:

    >>> with IndexWriter("lines.sqlite", transcriber.charset) as writer:       # doctest: +SKIP
    ...     writer.add([(x, src) for x, src, err in transcriber.posteriors(paths) if not err])
    """

    def __init__(self, out, charset, top_paths: int = 8, min_probability: float = 0.01):
        if isinstance(top_paths, bool) or not isinstance(top_paths, int) or top_paths < 1:
            raise ValueError(
                f"Received an invalid value for argument `top_paths`, expected a positive "
                f"integer, got {top_paths!r}"
            )
        if not 0.0 <= float(min_probability) < 1.0:
            raise ValueError(
                f"Received an invalid value for argument `min_probability`, expected a number "
                f"in [0, 1), got {min_probability!r}"
            )
        self.charset = charset
        self.top_paths = top_paths
        self.min_probability = float(min_probability)
        self._separators = separator_ids(charset)
        self.lines = self.postings = 0
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.exists():
            out.unlink()
        self._db = sqlite3.connect(out)
        self._db.executescript(_SCHEMA)
        self._db.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ("format", FORMAT),
                ("charset", json.dumps(list(charset.chars), ensure_ascii=False)),
                ("min_probability", repr(self.min_probability)),
            ],
        )

    def add(self, posteriors: Sequence) -> int:
        """Indexes lines given as `(log_probs (T, C), source)` pairs; returns postings added."""
        good = [(x, source) for x, source in posteriors if len(x) > 0]
        if not good:
            return 0
        added = 0
        for log_probs, source in good:
            paths = _candidates(log_probs, self.top_paths)
            added += _index_line(
                self._db, self.charset, self._separators, log_probs, source, paths,
                self.min_probability,
            )
            self.lines += 1
        self.postings += added
        return added

    def close(self) -> None:
        """Creates the lookup indexes (faster once, after all rows) and closes the file."""
        if self._db is not None:
            self._db.executescript(_INDEXES)
            self._db.commit()
            self._db.close()
            self._db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_index(
    transcriber,
    images_or_paths: Sequence,
    out,
    batch_size: int = 16,
    top_paths: int = 8,
    min_probability: float = 0.01,
    progress: bool = False,
) -> IndexStats:
    """Transcribes and indexes line images into a new SQLite keyword index at `out`.

    Args:
        transcriber: a `Transcriber` (its model's posteriors are indexed).
        images_or_paths: line images (paths are what search results name).
        out: the index file to create (an existing file is replaced).
        batch_size: lines through the model at once.
        top_paths, min_probability: as for `IndexWriter`.
        progress: a tqdm progress bar on stderr.

    Returns:
        `IndexStats`.
    """
    from tqdm.auto import tqdm

    items = list(images_or_paths)
    failed = []
    bar = tqdm(total=len(items), disable=not progress, unit="line", desc="index", leave=False)
    with IndexWriter(out, transcriber.charset, top_paths, min_probability) as writer:
        for start in range(0, len(items), max(batch_size, 64)):
            part = transcriber.posteriors(items[start : start + max(batch_size, 64)], batch_size=batch_size)
            failed.extend(error for _, _, error in part if error is not None)
            writer.add([(x, source) for x, source, error in part if error is None])
            bar.update(len(part))
    bar.close()
    return IndexStats(writer.lines, writer.postings, tuple(failed))


def _index_line(db, charset, separators, log_probs, source, readings, min_probability) -> int:
    best_text = charset.decode(readings[0])
    position = {}
    for ids in readings:
        for k, word in enumerate(words_of(charset.decode(ids))):
            position.setdefault(word, k)
    words = []
    for word in position:
        try:
            words.append((word, word_classes(word, charset)))
        except ValueError:  # a lower case outside the alphabet: not indexable
            continue
    blob, mass = encode_posteriors(log_probs)
    cursor = db.execute(
        "INSERT INTO lines (path, text, frames, mass, posteriors) VALUES (?, ?, ?, ?, ?)",
        (os.fspath(source), best_text, len(log_probs), mass.tobytes(), blob),
    )
    line = cursor.lastrowid
    if not words:
        return 0
    probs = relevance(np.exp(log_probs)[None], [len(log_probs)], [c for _, c in words], separators)[0]
    rows = [
        (word, line, float(p), position[word])
        for (word, _), p in zip(words, probs)
        if p >= min_probability
    ]
    db.executemany("INSERT INTO postings VALUES (?, ?, ?, ?)", rows)
    return len(rows)


class KeywordIndex:
    """A keyword index built by `build_index`: search it by word, best lines first.

    Args:
        path: the SQLite file.

    Example:

    >>> index = KeywordIndex("archive.sqlite")                    # doctest: +SKIP
    >>> [(h.path, round(h.probability, 2)) for h in index.search("merced")][:2]  # doctest: +SKIP
    [('f12/line07.png', 0.97), ('f31/line02.png', 0.41)]
    """

    def __init__(self, path):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No index file at {path}")
        self.path = path
        try:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            meta = dict(self._db.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as e:
            raise IndexFileError(
                f"{path}: not a keras-htr keyword index ({e}); build one with `keras-htr index`"
            ) from None
        if meta.get("format") != FORMAT:
            raise IndexFileError(
                f"{path}: not a keras-htr keyword index (format {meta.get('format')!r}, "
                f"expected {FORMAT!r})"
            )
        try:
            self.charset = Charset(json.loads(meta["charset"]))
            self.min_probability = float(meta["min_probability"])
        except (KeyError, ValueError, TypeError) as e:
            raise IndexFileError(f"{path}: corrupt keyword index (bad metadata: {e})") from None
        self._separators = separator_ids(self.charset)
        self._mass = None  # (ids, float32 (lines, C)), read on the first rescoring

    def close(self) -> None:
        self._db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM lines").fetchone()[0]

    def search(
        self,
        query: str,
        min_probability: float = 0.0,
        limit: int | None = None,
        case_sensitive: bool = False,
    ) -> list:
        """Lines where `query` may occur, most probable first.

        Args:
            query: one word (letters and digits of the model's alphabet).
            min_probability: leave out lines below this relevance probability.
            limit: at most this many hits (None: all).
            case_sensitive: match capitals exactly (default: case-insensitive).

        Returns:
            list of `SearchHit`.

        Raises:
            ValueError: an empty query, or one with symbols outside the alphabet.
        """
        word = check_query(query, self.charset)
        if not 0.0 <= float(min_probability) <= 1.0:
            raise ValueError(
                f"Received an invalid value for argument `min_probability`, expected a number "
                f"in [0, 1], got {min_probability!r}"
            )
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(
                f"Received an invalid value for argument `limit`, expected a positive integer "
                f"or None, got {limit!r}"
            )
        folded = word.lower()
        try:
            proposed = self._db.execute(
                "SELECT 1 FROM postings WHERE word = ? LIMIT 1", (folded,)
            ).fetchone()
            if proposed and not case_sensitive:
                rows = self._db.execute(
                    "SELECT p.line, l.path, p.probability, p.position, l.text FROM postings p "
                    "JOIN lines l ON l.id = p.line WHERE p.word = ? AND p.probability >= ? "
                    "ORDER BY p.probability DESC" + (f" LIMIT {int(limit)}" if limit else ""),
                    (folded, float(min_probability)),
                ).fetchall()
                return [SearchHit(word, path, p, pos, text, line) for line, path, p, pos, text in rows]
            hits = self._rescore(word, folded, bool(proposed), case_sensitive, min_probability)
        except sqlite3.DatabaseError as e:
            raise IndexFileError(f"{self.path}: corrupt keyword index ({e})") from None
        hits.sort(key=lambda h: -h.probability)
        return hits[:limit] if limit else hits

    def _rescore(self, word, folded, proposed, case_sensitive, min_probability) -> list:
        """Scores `word` on the stored posteriors: of the lines that proposed it (case-sensitive
        search), or of every line that can hold it (a word never proposed).

        A line can hold the word with probability at most min over its letters of the frames'
        summed probability of that letter (P(letter read somewhere) <= its expected frame
        count), so lines under the threshold are skipped without decoding their posteriors.
        Hits below the index's own `min_probability` are left out, as at indexing time.
        """
        classes = word_classes(word, self.charset, case_sensitive=case_sensitive)
        floor = max(float(min_probability), self.min_probability)
        if proposed:
            ids = [i for (i,) in self._db.execute("SELECT line FROM postings WHERE word = ?", (folded,))]
        else:
            if self._mass is None:
                rows = self._db.execute("SELECT id, mass FROM lines").fetchall()
                ids_all = np.array([i for i, _ in rows], np.int64)
                mass = np.frombuffer(b"".join(m for _, m in rows), np.float16)
                self._mass = (ids_all, mass.reshape(len(rows), -1).astype(np.float32))
            ids_all, mass = self._mass
            bound = np.min([mass[:, c].sum(1) for c in classes], axis=0) if len(ids_all) else []
            ids = ids_all[np.asarray(bound) >= floor].tolist()
        # merged columns: 0 blank, 1 every separator, 2.. the query's letters, last: the rest
        letters = sorted({c for ids in classes for c in ids})
        columns = np.full(self.charset.num_classes, len(letters) + 2, np.int64)
        columns[BLANK_ID] = 0
        columns[self._separators] = 1
        columns[letters] = np.arange(2, len(letters) + 2)
        merged = [[2 + letters.index(c) for c in ids] for ids in classes]
        hits = []
        positions = dict(
            self._db.execute("SELECT line, position FROM postings WHERE word = ?", (folded,))
        )
        for start in range(0, len(ids), 256):
            chunk = ids[start : start + 256]
            rows = self._db.execute(
                f"SELECT id, path, text, posteriors FROM lines WHERE id IN ({','.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            dense = [decode_posteriors(blob, self.charset.num_classes, columns) for _, _, _, blob in rows]
            frames = max(len(d) for d in dense)
            probs = np.zeros((len(dense), frames, dense[0].shape[1]), np.float32)
            probs[:, :, BLANK_ID] = 1.0
            for i, d in enumerate(dense):
                probs[i, : len(d)] = d
            p = relevance(probs, [len(d) for d in dense], [merged], [1])[:, 0]
            for (line, path, text, _), prob in zip(rows, p):
                if prob >= floor:
                    hits.append(SearchHit(word, path, float(prob), positions.get(line, -1), text, line))
        return hits


__all__ = [
    "FORMAT",
    "IndexFileError",
    "IndexStats",
    "IndexWriter",
    "KeywordIndex",
    "SearchHit",
    "build_index",
    "decode_posteriors",
    "encode_posteriors",
]
