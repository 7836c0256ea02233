"""Lexicon and word-model decoding: the lexicon and the word model steer the search, yet
words outside them (names, numbers, punctuation) can still be read."""

import gzip

import numpy as np
import pytest

pytest.importorskip("flashlight.lib.text.decoder")

from keras_htr.charset import Charset
from keras_htr.decoders.lexicon import LexiconFileError, load_lexicon
from keras_htr.decoders.lm import LMDecoder
from keras_htr.decoders.ngram import estimate_arpa, write_lm

CHARSET = Charset("abcdeht 1.")


def read(decoder, *rows):
    """Decodes frames given as {symbol: probability} (the rest of each frame spread thin),
    a blank frame after each."""
    p = np.full((2 * len(rows), CHARSET.num_classes), 1e-6)
    for t, row in enumerate(rows):
        p[2 * t + 1, 0] = 1.0
        for symbol, value in row.items():
            p[2 * t, CHARSET.encode(symbol)[0]] = value
    x = np.log(p / p.sum(1, keepdims=True))[None]
    return decoder.decode(x, [x.shape[1]])[0][0]


def spell(text, doubt=None):
    """Frames that read `text` for sure, except {position: {symbol: p}}."""
    doubt = doubt or {}
    return [doubt.get(i, {c: 1.0}) for i, c in enumerate(text)]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lex")
    # the character model has seen "cbt" as often as "cat": only a lexicon can tell them apart
    char = write_lm(estimate_arpa(["a cat", "a cbt", "the cab", "a bed"] * 5, order=4), folder / "c.arpa")
    # the word model knows which word follows which: "the cab", "a cat"
    words = write_lm(
        estimate_arpa(["the cab .", "a cat .", "the cab", "a cat", "a bed"] * 5, order=2, unit="word"),
        folder / "w.arpa",
    )
    lexicon = folder / "lexicon.txt"
    lexicon.write_text("cat\ncab\nthe\na\nbed\n")
    return char, words, lexicon


def test_a_lexicon_picks_the_spelling_it_knows(models):
    char, _, lexicon = models
    doubt = spell("a cbt", {3: {"b": 0.6, "a": 0.4}})
    assert read(LMDecoder(char, CHARSET, alpha=1.0, beta=0.0), *doubt) == "a cbt"
    with_lexicon = LMDecoder(char, CHARSET, alpha=1.0, beta=0.0, lexicon=lexicon)
    assert read(with_lexicon, *doubt) == "a cat"
    assert with_lexicon.mode == "lexicon" and "cat" in with_lexicon.lexicon


def test_words_outside_the_lexicon_stay_readable_unless_it_is_closed(models):
    char, _, lexicon = models
    open_lexicon = LMDecoder(char, CHARSET, alpha=1.0, beta=0.0, lexicon=lexicon)
    closed = LMDecoder(char, CHARSET, alpha=1.0, beta=0.0, lexicon=lexicon, oov_penalty=-np.inf)
    # clear optical evidence for a word the lexicon lacks: a name, say
    assert read(open_lexicon, *spell("a tad")) == "a tad"
    # a closed vocabulary has to find a lexicon word on the frames
    assert read(closed, *spell("a tab")) == "a cab"
    # numbers and punctuation are never out of the lexicon
    assert read(closed, *spell("a 11 cat.")) == "a 11 cat."


def test_a_word_model_reads_words_in_their_context(models):
    char, words, _ = models
    for lm, mode in ((words, "word"), ((words, char), "word+char")):
        decoder = LMDecoder(lm, CHARSET, alpha=1.0, beta=0.0)
        assert decoder.mode == mode
        torn = {4: {"b": 0.5, "t": 0.5}}  # "ca?" is "cab" after "the" and "cat" after "a"
        assert read(decoder, *spell("the cab", {6: {"b": 0.5, "t": 0.5}})) == "the cab"
        assert read(decoder, *spell("a cat", torn)) == "a cat"
        assert read(decoder, *spell("a cab", torn)) == "a cat"
        # a word the word model never saw is still read, punctuation too
        assert read(decoder, *spell("the dab.")) == "the dab."
    # unknown words: spelled by the character model when there is one
    assert LMDecoder((words, char), CHARSET).lm.unit == "char"


def test_bad_lexicons_and_model_pairs_get_clear_errors(models, tmp_path):
    char, words, lexicon = models
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\xffcat")
    with pytest.raises(LexiconFileError, match="binary.txt: not a lexicon"):
        LMDecoder(char, CHARSET, lexicon=tmp_path / "binary.txt")
    with pytest.raises(LexiconFileError, match="ARPA language model; pass it as the language model"):
        load_lexicon(char)
    (tmp_path / "prose.txt").write_text("This is a sentence, not a list.\nAnd this, (too).\n")
    with pytest.raises(LexiconFileError, match="prose.txt: not a lexicon .*2 of 2 lines are not, e.g. 'This is a sentence"):
        load_lexicon(tmp_path / "prose.txt")
    with pytest.raises(FileNotFoundError, match="No lexicon file"):
        load_lexicon(tmp_path / "absent.txt")
    with pytest.raises(ValueError, match="at most one char model"):
        LMDecoder((char, char), CHARSET)
    with pytest.raises(ValueError, match="at most one word model"):
        LMDecoder((words, words), CHARSET)
    with pytest.raises(ValueError, match="argument `oov_penalty`"):
        LMDecoder(char, CHARSET, lexicon=lexicon, oov_penalty=1.0)
    with pytest.raises(ValueError, match="argument `lexicon`"):
        LMDecoder(char, CHARSET, lexicon=["a cat"])
    # counts after the word and gzip are fine (frequency lists, the shipped format)
    with gzip.open(tmp_path / "counts.txt.gz", "wt") as f:
        f.write("cat 10\ncab\t3\n")
    assert load_lexicon(tmp_path / "counts.txt.gz") == {"cat", "cab"}


def test_the_shipped_english_lexicon():
    words = load_lexicon("en")
    assert {"the", "house", "mountain"} <= words and len(words) > 20000
    assert all(w == w.lower() for w in words)
