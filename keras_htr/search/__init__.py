"""Search by content: a probabilistic keyword index (PrIx) over CTC posteriors, in SQLite."""

from keras_htr.search.index import (
    IndexFileError,
    IndexStats,
    IndexWriter,
    KeywordIndex,
    SearchHit,
    build_index,
)
from keras_htr.search.relevance import relevance, word_classes, words_of

__all__ = [
    "IndexFileError",
    "IndexStats",
    "IndexWriter",
    "KeywordIndex",
    "SearchHit",
    "build_index",
    "relevance",
    "word_classes",
    "words_of",
]
