import numpy as np
import pytest

pytest.importorskip("flashlight.lib.text.decoder")

from keras_htr.charset import Charset
from keras_htr.decoders.lm import LMDecoder, load_language_model, resolve_lm_path
from keras_htr.decoders.ngram import LMFileError, estimate_arpa, write_lm

CHARSET = Charset("abct ")
CORPUS = ["a cab", "the cab", "cab cab", "a cat", "cab"] * 5


def frames(*rows):
    """log-probs (T, C) from rows of {symbol: probability}; the rest of each frame is spread."""
    out = []
    for row in rows:
        p = np.full(CHARSET.num_classes, 1e-4)
        for symbol, value in row.items():
            p[0 if symbol == "" else CHARSET.encode(symbol)[0]] = value
        out.append(p / p.sum())
    return np.log(np.asarray(out, np.float32))


@pytest.fixture(scope="module")
def lm_path(tmp_path_factory):
    return write_lm(estimate_arpa(CORPUS, order=4), tmp_path_factory.mktemp("lm") / "lm.arpa")


def test_the_lm_turns_an_ambiguous_reading_into_a_word(lm_path):
    # the optical model prefers "cbb" (b 0.55 over a 0.45), the corpus only knows "cab"
    x = frames({"c": 1}, {"": 1}, {"b": 0.55, "a": 0.45}, {"": 1}, {"b": 1})[None]
    with_lm = LMDecoder(lm_path, CHARSET, alpha=1.0, beta=0.0)
    without = LMDecoder(lm_path, CHARSET, alpha=0.0, beta=0.0)
    assert with_lm.decode(x, [5])[0][0] == "cab"
    assert without.decode(x, [5])[0][0] == "cbb"
    _, confidence = with_lm.decode(x, [5])[0]
    assert confidence == pytest.approx(0.45 ** (1 / 5), rel=1e-3)  # the path read, per frame


def test_lengths_cut_frames_and_spaces_separate_words(lm_path):
    x = frames({"a": 1}, {" ": 1}, {"c": 1}, {"a": 1}, {"b": 1}, {"t": 1})[None]
    decoder = LMDecoder(lm_path, CHARSET, alpha=0.5)
    assert decoder.decode(x, [5])[0][0] == "a cab"
    assert decoder.decode(x, [0])[0] == ("", 0.0)
    with pytest.raises(ValueError, match="argument `log_probs`"):
        decoder.decode(x[..., :3], [5])


def test_bad_models_and_arguments_get_clear_errors(lm_path, tmp_path):
    (tmp_path / "words.txt").write_text("just some text\n")
    with pytest.raises(LMFileError, match="words.txt: not an ARPA"):
        LMDecoder(tmp_path / "words.txt", CHARSET)
    with pytest.raises(FileNotFoundError, match="No language model file"):
        LMDecoder(tmp_path / "absent.arpa", CHARSET)
    word_lm = write_lm(estimate_arpa(CORPUS, order=2, unit="word"), tmp_path / "w.arpa")
    assert LMDecoder(word_lm, CHARSET).mode == "word"  # word models decode (test_lexicon.py)
    with pytest.raises(ValueError, match="one language model or a pair"):
        LMDecoder([lm_path, word_lm, lm_path], CHARSET)
    with pytest.raises(ValueError, match="with a space"):
        LMDecoder(lm_path, Charset("abc"))
    for kwargs, name in [({"alpha": -1.0}, "alpha"), ({"beta": float("nan")}, "beta"),
                         ({"beam_width": 0}, "beam_width"), ({"threshold": 0.0}, "threshold")]:
        with pytest.raises(ValueError, match=f"argument `{name}`"):
            LMDecoder(lm_path, CHARSET, **kwargs)
    assert load_language_model(lm_path).order == 4
    unigrams = "\n".join(f"-1.0\t{t}" for t in ["<unk>", "<s>", "</s>", "a", "<sp>"])
    header = "\\data\\\n" + "".join(f"ngram {n}={5 if n == 1 else 1}\n" for n in range(1, 8))
    (tmp_path / "order7.arpa").write_text(header + "\n\\1-grams:\n" + unigrams + "\n")
    with pytest.raises(ValueError, match="order at most 6"):
        LMDecoder(tmp_path / "order7.arpa", CHARSET)
    broken = "\\data\\\nngram 1=5\nngram 2=3\n\n\\1-grams:\n" + unigrams + "\n\n\\2-grams:\nnonsense\n"
    (tmp_path / "broken.arpa").write_text(broken)
    with pytest.raises(LMFileError, match="broken.arpa: KenLM cannot read it"):
        LMDecoder(tmp_path / "broken.arpa", CHARSET)


def test_en_names_the_shipped_model_or_the_env(lm_path, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HTR_LM", str(lm_path))
    assert resolve_lm_path("en") == lm_path
    monkeypatch.setenv("KERAS_HTR_LM", str(tmp_path / "absent.arpa"))
    with pytest.raises(FileNotFoundError, match="No shipped language model 'en'"):
        resolve_lm_path("en")


def test_the_shipped_english_model_reads_english_better_than_nonsense(monkeypatch):
    monkeypatch.delenv("KERAS_HTR_LM", raising=False)
    lm = load_language_model("en")
    assert (lm.order, lm.unit) == (6, "char") and lm.path.stat().st_size < 20e6
    assert not any(t.lower() != t for t in lm.vocabulary)  # lower case: read case-insensitively
    charset = Charset("abcdefghijklmnopqrstuvwxyz ")
    decoder = LMDecoder(lm, charset, alpha=1.0, beta=0.0)

    def read(word_a, word_b):
        """Each frame torn evenly between the letters of two same-length readings."""
        rows = []
        for x, y in zip(word_a, word_b):
            rows += [{x: 0.5, y: 0.5} if x != y else {x: 1.0}, {"": 1.0}]
        p = np.full((len(rows), charset.num_classes), 1e-4)
        for t, row in enumerate(rows):
            for symbol, value in row.items():
                p[t, 0 if symbol == "" else charset.encode(symbol)[0]] = value
        return decoder.decode(np.log(p / p.sum(1, keepdims=True))[None], [len(rows)])[0][0]

    assert read("the house", "tje hpuse") == "the house"
    assert read("xqz mountain", "the mountain") == "the mountain"


def test_a_model_without_capitals_reads_either_case(lm_path, tmp_path):
    cased = Charset("abctABCT ")

    def log_probs(*rows):
        p = np.full((len(rows), cased.num_classes), 1e-4)
        for t, row in enumerate(rows):
            for symbol, value in row.items():
                p[t, 0 if symbol == "" else cased.encode(symbol)[0]] = value
        return np.log(p / p.sum(1, keepdims=True))[None]

    decoder = LMDecoder(lm_path, cased, alpha=1.0, beta=0.0)
    assert decoder.case_folded
    # capitals: the lower-case model still knows "cab"; each letter keeps the case it was read in
    x = log_probs({"C": 1}, {"": 1}, {"B": 0.55, "A": 0.45}, {"": 1}, {"B": 1})
    assert decoder.decode(x, [5])[0][0] == "CAB"
    assert LMDecoder(lm_path, cased, alpha=0.0).decode(x, [5])[0][0] == "CBB"
    # "a" and "A" together outweigh "b"; the case more probable on the letter's frames wins
    x = log_probs({"c": 0.3, "C": 0.6}, {"": 1}, {"b": 0.4, "a": 0.25, "A": 0.35}, {"": 1}, {"b": 1})
    assert LMDecoder(lm_path, cased, alpha=0.0).decode(x, [5])[0][0] == "CAb"
    mixed = write_lm(estimate_arpa(["The Cab", "a cab"] * 3, order=3), tmp_path / "mixed.arpa")
    assert not LMDecoder(mixed, cased).case_folded


def test_the_shipped_english_model_keeps_the_punctuation_of_figures(monkeypatch):
    """`--lm en` once read "16:50" as "1650": the model had seen digits next to digits only."""
    monkeypatch.delenv("KERAS_HTR_LM", raising=False)
    charset = Charset("0123456789:/.,-% ")
    decoder = LMDecoder("en", charset)

    def read(text, p_mark=0.99):
        """The optical model sure of each digit and 99% sure of each punctuation mark (the
        rest of those frames on the blank), as it is of clear writing: only the LM can take a
        mark out. (At 90% the default alpha still lets the LM drop some marks, e.g. "3.50".)"""
        rows = []
        for ch in text:
            p = np.full(charset.num_classes, 1e-4)
            sure = 1.0 if ch.isdigit() or ch == " " else p_mark
            p[charset.encode(ch)[0]] = sure
            p[0] += 1.0 - sure
            rows += [p, np.eye(charset.num_classes)[0] + 1e-4]
        log_probs = np.log(np.asarray([r / r.sum() for r in rows], np.float32))
        return decoder.decode(log_probs[None], [len(rows)])[0][0]

    for text in ("16:50", "-5153", "12/03/1987", "3.50", "1,250", "45%"):
        assert read(text) == text
