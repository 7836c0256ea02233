"""Search by content: a probabilistic keyword index (PrIx) over CTC posteriors, in SQLite."""

from keras_htr.search.index import (
    IndexFileError,
    IndexStats,
    KeywordIndex,
    SearchHit,
    build_index,
)
from keras_htr.search.relevance import relevance, word_classes, words_of

__all__ = [
    "IndexFileError",
    "IndexStats",
    "KeywordIndex",
    "SearchHit",
    "build_index",
    "relevance",
    "word_classes",
    "words_of",
]
