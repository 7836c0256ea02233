"""Word-level knowledge for the LM beam search: a lexicon and word n-gram models, open vocabulary.

A lexicon says how words are spelled; a word n-gram model says which words follow which. Both
make a closed vocabulary on their own, and a handwritten page is full of names, numbers and
words no list holds. So here neither is a hard wall:

* a word spelled as in the lexicon is scored by the word model (or, without one, by the
  character model as usual);
* any other word may still be read: the character model spells it (a flat cost per letter
  without one) and it pays `oov_penalty` once, plus the word model's `<unk>` probability.
  `oov_penalty=-inf` makes the lexicon a hard constraint.

Words with a digit (numbers, dates) and punctuation never pay the penalty. While a word is
being spelled, the character model (or, without one, the best word the letters so far can
still become) scores the prefix, so the beam is guided inside words too; when the word ends
the prefix's score is replaced by the word's own.

It runs inside flashlight-text's lexicon-free CTC beam search as a Python `LM` (scores are
log10, like KenLM's); its state is the whole text so far, so hypotheses merge only when their
text is the same.
"""

from __future__ import annotations

import gzip
import math
import os
import re
from pathlib import Path

from keras_htr.decoders.ngram import SPACE_TOKEN, UNK, is_word_char

#: Shipped lexicons (package data next to the shipped language models): `en`.
SHIPPED_LEXICON_DIR = Path(__file__).resolve().parents[1] / "shipped" / "lm"
SHIPPED_LEXICONS = ("en",)
#: A space where no word ends (at the start of a line, or after another space), in log10.
_EMPTY_WORD = -30.0


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class LexiconFileError(ValueError):
    """A file that is not a lexicon (names the file and why)."""


def resolve_lexicon_path(name_or_path) -> Path:
    """The file of a lexicon: a path, or `"en"` (the shipped English word list)."""
    text = os.fspath(name_or_path)
    if text in SHIPPED_LEXICONS:
        path = SHIPPED_LEXICON_DIR / f"{text}.lexicon.txt.gz"
        if not path.is_file():
            raise FileNotFoundError(
                f"No shipped lexicon {text!r} at {path} (package data in keras_htr/shipped/lm/)"
            )
        return path
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(
            f"No lexicon file at {path} (pass a path, or one of {list(SHIPPED_LEXICONS)})"
        )
    return path


def load_lexicon(name_or_path) -> frozenset:
    """The words of a lexicon file: UTF-8 text (or gzip), one word per line.

    Anything after the first whitespace on a line (a count, a spelling) is ignored, so word
    frequency lists and Kaldi/flashlight lexicons load as they are. `"en"` is the shipped
    English list (built from wordfreq by `scripts/build_english_lm.py`).

    Raises:
        FileNotFoundError: no such file.
        LexiconFileError: binary or non-UTF-8 data, an ARPA model, no words, or mostly lines
            that are not words (a `ValueError`).
    """
    path = resolve_lexicon_path(name_or_path)
    try:
        with open(path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        with (gzip.open if gz else open)(path, "rb") as f:
            data = f.read()
        text = data.decode("utf-8")
    except (UnicodeDecodeError, OSError, EOFError) as e:
        raise LexiconFileError(
            f"{path}: not a lexicon (expected UTF-8 text, one word per line; {type(e).__name__})"
        ) from None
    if "\x00" in text:
        raise LexiconFileError(f"{path}: not a lexicon (binary data; expected one word per line)")
    rows = [line.split() for line in text.splitlines() if line.strip()]
    if rows and rows[0][0] == "\\data\\":
        raise LexiconFileError(
            f"{path}: not a lexicon but an ARPA language model; pass it as the language model "
            "(`--lm`), and a word list as the lexicon"
        )
    import unicodedata

    words, bad = set(), []
    for row in rows:
        # a word, then nothing, a count, or its spelling (one symbol per field)
        rest_ok = len(row) == 1 or (len(row) == 2 and _is_number(row[1])) or all(
            len(f) == 1 for f in row[1:]
        )
        if rest_ok and all(map(is_word_char, row[0])):
            words.add(unicodedata.normalize("NFC", row[0]))
        else:
            bad.append(" ".join(row))
    if not words or len(bad) > len(rows) // 2:
        raise LexiconFileError(
            f"{path}: not a lexicon (expected one word of letters, digits or apostrophes per "
            f"line, optionally followed by a count; {len(bad)} of {len(rows)} lines are not"
            + (f", e.g. {bad[0][:40]!r})" if bad else ")")
        )
    return frozenset(words)


def open_vocabulary_lm(symbols, lexicon, char_lm, word_lm, oov_penalty):
    """The flashlight `LM` that scores text word by word (see the module doc).

    Args:
        symbols: the decoder's tokens by index (index 0 the blank; `" "` the word separator).
        lexicon: the words (already case-folded when the search is), or None for the word
            model's vocabulary.
        char_lm: flashlight `KenLM` over `symbols` (space as `<sp>`), or None.
        word_lm: `(flashlight KenLM, {word: index}, {word: log10 unigram})`, or None.
        oov_penalty: log10 score added once to a word outside the lexicon (<= 0).
    """
    from flashlight.lib.text.decoder import LM, LMState

    class _LM(LM):
        def __init__(self):
            LM.__init__(self)
            self.states, self.scores = {}, {}

        def start(self, start_with_nothing):
            self.states.clear()
            self.scores.clear()
            state = LMState()
            char = char_lm.start(False) if char_lm is not None else None
            word = word_model.start(False) if word_model is not None else None
            # (char state, word state, word so far, its char score, its lookahead, after a space,
            # score of the last token)
            self.states[state] = (char, word, "", 0.0, 0.0, True, 0.0)
            return state

        def score(self, state, token):
            found = self.scores.get((state, token))
            if found is None:  # the text so far + token: a new state (child) and its score
                child = state.child(token)
                info = self.states[child] = step(self.states[state], token)
                found = self.scores[state, token] = (child, info[-1])
            return found

        def finish(self, state):
            char, word, prefix, spell, partial = self.states[state][:5]
            total = 0.0
            if prefix:
                closed, word = close(word, prefix, spell, partial)
                total += closed
            if word_model is not None:
                total += word_model.finish(word)[1]
            elif char_lm is not None:
                total += char_lm.finish(char)[1]
            return state, total

    word_model, word_ids, unigrams = word_lm if word_lm is not None else (None, {}, {})
    # -inf (a closed vocabulary) as a finite wall: the lookahead is subtracted when a word ends,
    # and -inf - -inf is nan
    oov_penalty = max(oov_penalty, -1e4)
    if lexicon is None:
        lexicon = frozenset(w for w in word_ids if all(map(is_word_char, w)))
    prefixes = {w[:k] for w in lexicon for k in range(1, len(w) + 1)}
    letters = [s for s in symbols[1:] if is_word_char(s)]
    flat = -math.log10(max(len(letters), 2))  # a letter's cost without a character model
    unk = word_ids.get(UNK)
    # without a character model, a prefix is scored by the best word it can still become
    smear = {}
    if char_lm is None and word_model is not None:
        floor = min(unigrams.values(), default=-10.0)
        for w in lexicon:
            p = unigrams.get(w, floor)
            for k in range(1, len(w) + 1):
                if smear.get(w[:k], -1e9) < p:
                    smear[w[:k]] = p
    char_token = {i: s for i, s in enumerate(symbols)}
    space = symbols.index(" ")

    exempt = re.compile(r"\d").search  # numbers never pay the penalty
    in_word = {i: is_word_char(s) for i, s in enumerate(symbols)}

    def lookahead(prefix, spell):
        known = prefix in prefixes or exempt(prefix)
        if char_lm is not None:
            return spell + (0.0 if known else oov_penalty)
        if word_model is None:  # not reached: a lexicon alone comes with a character model
            return 0.0
        return smear[prefix] if prefix in smear else oov_penalty + flat * len(prefix)

    def close(word, prefix, spell, partial):
        """(score that replaces the lookahead `partial` of a finished word, word state)."""
        in_lexicon = prefix in lexicon
        penalty = 0.0 if in_lexicon or exempt(prefix) else oov_penalty
        if word_model is None:
            return spell + penalty - partial, word
        index = word_ids.get(prefix)
        if in_lexicon and index is not None:
            word, p = word_model.score(word, index)
            return p - partial, word
        word, p = word_model.score(word, unk)
        spelled = spell if char_lm is not None else flat * len(prefix)
        return p + spelled + penalty - partial, word

    def step(info, token):
        char, word, prefix, spell, partial, spaced, _ = info
        symbol = char_token[token]
        s = 0.0
        if char_lm is not None:
            char, s = char_lm.score(char, token)
        if in_word[token]:
            prefix, spell = prefix + symbol, spell + s
            if char_lm is not None:  # the common case, inline
                ahead = spell if prefix in prefixes or exempt(prefix) else spell + oov_penalty
            else:
                ahead = lookahead(prefix, spell)
            return char, word, prefix, spell, ahead, False, ahead - partial
        total = 0.0
        if prefix:
            total, word = close(word, prefix, spell, partial)
        if token == space:
            if spaced:
                total += _EMPTY_WORD
            elif word_model is None:
                total += s
            return char, word, "", 0.0, 0.0, True, total
        # punctuation: a word of its own, never penalised
        if word_model is None:
            total += s
        else:
            word, p = word_model.score(word, word_ids.get(symbol, unk))
            total += p + (s if symbol not in word_ids else 0.0)
        return char, word, "", 0.0, 0.0, False, total

    return _LM()


def word_dictionary(vocabulary):
    """A flashlight `Dictionary` of a word model's vocabulary and `{word: index}`."""
    from flashlight.lib.text import dictionary

    words = dictionary.Dictionary()
    ids = {}
    for token in vocabulary:
        if token not in ids:
            ids[token] = len(ids)
            words.add_entry(token)
    return words, ids


def char_dictionary(symbols):
    """A flashlight `Dictionary` of the decoder's tokens, as a character model spells them."""
    from flashlight.lib.text import dictionary

    tokens = dictionary.Dictionary()
    for token in symbols:
        tokens.add_entry(SPACE_TOKEN if token == " " else token)
    return tokens


__all__ = ["LexiconFileError", "load_lexicon", "open_vocabulary_lm", "resolve_lexicon_path"]
