import collections
import importlib
import unicodedata

import numpy as np
import pytest

from keras_htr.data.synthetic.text import ALPHABET, DIGIT_ALPHABET, random_digit_text, random_line

text = importlib.import_module(
    "keras_htr.data.synthetic.text"
)  # the module, not a package attribute

OLD_ALPHABET = " !\"%&'(),-./0123456789:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _lines(seed, n, covered=None):
    rng = np.random.default_rng(seed)
    return [random_line(rng, covered) for _ in range(n)]


def test_alphabet_is_sorted_nfc_and_holds_the_six_languages():
    assert ALPHABET == "".join(sorted(set(ALPHABET))) == unicodedata.normalize("NFC", ALPHABET)
    assert set(OLD_ALPHABET) <= set(ALPHABET)
    letters = "áéíóúüñàèìòùâêîôûëïçœäößãõ"
    assert set(letters) <= set(ALPHABET)
    assert set(letters.replace("ß", "").upper()) <= set(ALPHABET)
    assert set("¿¡€ºª") <= set(ALPHABET)


def test_lines_are_deterministic_and_within_alphabet_and_length():
    lines = _lines(0, 600)
    assert lines[:50] == _lines(0, 50)
    assert lines[:20] != _lines(1, 20)
    for line in lines:
        assert set(line) <= set(ALPHABET), line
        assert 1 <= len(line) <= text.MAX_LENGTH, line
        assert line == line.strip() and "  " not in line, line
    lengths = np.array([len(line) for line in lines])
    # Archive lines: mostly full lines, some short ones.
    assert 35 <= np.median(lengths) <= 52 and np.mean(lengths < 15) > 0.05


def test_lines_mix_languages_capitals_numbers_and_punctuation():
    lines = _lines(2, 800)
    chars = collections.Counter("".join(lines))
    for c in "ñ¿áéóçãüäè":
        assert chars[c] > 0, c
    assert sum(chars[c] for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ") > 0.03 * sum(chars.values())
    assert any(line.isupper() and len(line) > 10 for line in lines)  # headings in capitals
    for c in ".,;:()?!-/%€":
        assert chars[c] > 0, c
    # Numbers inside text, as separate groups a reader sees spaced.
    assert (
        sum(
            any(w.isdigit() for w in line.split()) and any(w.isalpha() for w in line.split())
            for line in lines
        )
        > 40
    )
    assert any(sum(w.isdigit() for w in line.split()) >= 3 for line in lines)
    # Spanish leads: words only Spanish has among the six languages.
    spanish = {"el", "los", "las", "y", "del", "por", "con", "una", "para", "pero", "muy", "año"}
    assert max(text.LANGUAGES, key=text.LANGUAGES.get) == "es"
    share = np.mean([bool(spanish & set(line.lower().split())) for line in lines])
    assert share > 0.12


def test_covered_limits_characters_and_folds_accents():
    covered = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,")
    lines = _lines(3, 400, covered)
    for line in lines:
        assert set(line) <= covered, line
        assert line == line.strip() and "  " not in line and line
    # Accented words are folded (`está` -> `esta`), not all dropped: Spanish stays.
    assert sum(len(line) for line in lines) > 0.8 * sum(len(line) for line in _lines(3, 400))
    # A design without capitals writes capitalised words in lowercase rather than dropping them.
    lower = frozenset(c for c in ALPHABET if not c.isupper())
    lines = _lines(3, 400, lower)
    assert all(set(line) <= lower for line in lines)
    assert sum(len(line) for line in lines) > 0.9 * sum(len(line) for line in _lines(3, 400))
    tiny = _lines(4, 20, frozenset("xy"))
    assert all(set(line) <= {"x", "y"} for line in tiny)
    with pytest.raises(ValueError, match="`covered`"):
        random_line(np.random.default_rng(0), frozenset(" .,"))


def test_vocabulary_is_clean():
    words, cdf = text.vocabulary("es")
    assert len(words) > 20000 and np.all(np.diff(cdf) >= 0) and cdf[-1] == pytest.approx(1.0)
    assert "de" in words[:5] and "año" in words
    assert all(set(w) <= set(ALPHABET) and not any(c.isdigit() for c in w) for w in words)
    with pytest.raises(ValueError, match="`lang`"):
        text.vocabulary("xx")


def test_digit_text_uses_the_digit_alphabet():
    rng = np.random.default_rng(5)
    texts = [random_digit_text(rng) for _ in range(300)]
    assert all(t and set(t) <= set(DIGIT_ALPHABET) and t == t.strip() for t in texts)
    assert len(set(texts)) > 250
