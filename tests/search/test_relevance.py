import itertools
import re

import numpy as np
import pytest

from keras_htr.charset import Charset
from keras_htr.search.relevance import (
    check_query,
    relevance,
    separator_ids,
    word_classes,
    words_of,
)

CHARSET = Charset("abA ,")


def brute_force(probs, word, case_sensitive=False):
    """Sum of P(path) over every frame path whose CTC collapse holds `word` as a whole word."""
    chars = ("",) + CHARSET.chars  # class 0 is the blank
    total = 0.0
    for path in itertools.product(range(len(chars)), repeat=len(probs)):
        ids = [k for k, _ in itertools.groupby(path) if k != 0]
        text = "".join(chars[k] for k in ids)
        found = [w for w in re.findall(r"[^\W_]+", text)]
        if not case_sensitive:
            found, word_ = [w.casefold() for w in found], word.casefold()
        else:
            word_ = word
        if word_ in found:
            total += np.prod([probs[t, k] for t, k in enumerate(path)])
    return total


@pytest.mark.parametrize("word", ["a", "ab", "aa", "ba", "aba"])
@pytest.mark.parametrize("seed", [0, 1])
def test_relevance_equals_the_sum_over_all_alignments(word, seed):
    rng = np.random.default_rng(seed)
    frames = 5
    probs = rng.dirichlet(np.full(CHARSET.num_classes, 0.7), size=frames)
    got = relevance(probs[None], [frames], [word_classes(word, CHARSET)], separator_ids(CHARSET))
    assert got[0, 0] == pytest.approx(brute_force(probs, word), abs=1e-10)


def test_case_sensitive_and_padding_and_batches():
    rng = np.random.default_rng(3)
    probs = rng.dirichlet(np.full(CHARSET.num_classes, 0.7), size=(2, 5))
    words = [word_classes("A", CHARSET, case_sensitive=True), word_classes("ab", CHARSET)]
    got = relevance(probs, [5, 4], words, separator_ids(CHARSET))
    for line, frames in enumerate([5, 4]):
        want = [brute_force(probs[line, :frames], "A", case_sensitive=True),
                brute_force(probs[line, :frames], "ab")]
        np.testing.assert_allclose(got[line], want, atol=1e-10)
    three = relevance(probs[[0, 1, 0]], [5, 4, 5], words[1:], separator_ids(CHARSET))
    np.testing.assert_allclose(three[:, 0], got[[0, 1, 0], 1], atol=1e-12)


def test_queries_are_checked():
    assert check_query("  Ab ", CHARSET) == "Ab"
    with pytest.raises(ValueError, match="empty query"):
        check_query("  ", CHARSET)
    with pytest.raises(ValueError, match="outside"):
        check_query("abz", CHARSET)
    with pytest.raises(ValueError, match="one word"):
        check_query("a,b", CHARSET)
    assert words_of("Él dijo: ¿don't? Straße") == ["él", "dijo", "don", "t", "straße"]
