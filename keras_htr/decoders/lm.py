"""CTC beam search with an n-gram language model (flashlight-text's decoder and KenLM).

One wrong letter spoils a word, and a CTC model alone does not know what words look like; a
language model does. The search keeps the best `beam_width` prefixes frame by frame and scores
each as `log p_ctc + alpha * log p_lm + beta * words`: alpha weighs the LM against the optical
model, beta is a bonus per word that keeps the LM from preferring few, long words.

The default model is a character n-gram (`keras-htr lm build --unit char`): it learns the
spelling of a lexicon (the English one ships, built from word frequency lists) yet keeps an open
vocabulary, so names, numbers, punctuation and words outside the lexicon can still be read;
the lexicon is a strong preference, not a constraint. flashlight-text's C++ decoder (the
`lm` extra) does the search, with KenLM inside it reading the ARPA file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
from pathlib import Path

import numpy as np

from keras_htr.charset import BLANK_ID
from keras_htr.decoders.lexicon import (
    char_dictionary,
    load_lexicon,
    open_vocabulary_lm,
    word_dictionary,
)
from keras_htr.decoders.ngram import MAX_ORDER, LMFileError, read_header

#: Environment variable naming the file `--lm en` loads instead of the shipped English model.
LM_ENV = "KERAS_HTR_LM"
#: The shipped language models (package data, like the shipped line model): `en` -> `en.arpa.gz`.
SHIPPED_LM_DIR = Path(__file__).resolve().parents[1] / "shipped" / "lm"
SHIPPED_LMS = ("en",)
#: alpha and beta chosen by `benchmarks/lm.py --tune` for the shipped English model: on other
#: text (TUNE_TEXTS) written by *training* designs, never on the test writers or text.
DEFAULT_ALPHA = 2.0
DEFAULT_BETA = -1.0
#: (alpha, beta, oov_penalty) per decoding mode (`LMDecoder.mode`): a character model alone,
#: with a lexicon, a word model alone or with a character model. Chosen by `benchmarks/lm.py
#: --tune` on the same tuning lines as DEFAULT_ALPHA, with the shipped character model and
#: lexicon, and a word bigram built from wordfreq (`scripts/build_english_lm.py --unit word`).
DEFAULT_WEIGHTS = {
    "char": (DEFAULT_ALPHA, DEFAULT_BETA, 0.0),
    "lexicon": (1.5, 0.0, -2.0),
    "word": (2.0, 0.0, -2.0),
    "word+char": (1.5, 2.0, -1.0),
}


def _require_flashlight():
    try:
        from flashlight.lib.text import decoder, dictionary
        from flashlight.lib.text.decoder.kenlm import KenLM
    except ImportError as e:
        raise ImportError(
            "Language-model decoding needs the optional extra `lm`: pip install 'htr-keras[lm]' "
            f"(flashlight-text); {e}"
        ) from None
    return decoder, dictionary, KenLM


def _last_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


@contextlib.contextmanager
def _quiet_native_stderr():
    """KenLM prints a progress bar on file descriptor 2 while it reads an ARPA file: noise to a
    user of `transcribe`. Errors still reach Python as exceptions."""
    try:
        saved = os.dup(2)
    except OSError:  # no file descriptor 2 (some embedded interpreters)
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def resolve_lm_path(name_or_path) -> Path:
    """The file of a language model: a path, or a shipped name (`"en"`).

    `"en"` is `$KERAS_HTR_LM` when set, else the shipped `keras_htr/shipped/lm/en.arpa.gz`.
    """
    text = os.fspath(name_or_path)
    if text in SHIPPED_LMS:
        env = os.environ.get(LM_ENV)
        path = Path(env) if env else SHIPPED_LM_DIR / f"{text}.arpa.gz"
        if not path.is_file():
            raise FileNotFoundError(
                f"No shipped language model {text!r} at {path} (it is package data in "
                f"keras_htr/shipped/lm/; set ${LM_ENV} or pass a path)"
            )
        return path
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(
            f"No language model file at {path} (pass a path, or one of {list(SHIPPED_LMS)})"
        )
    return path


@dataclasses.dataclass(frozen=True)
class LanguageModel:
    """An ARPA n-gram model on disk and what its header says.

    Attributes:
        path: the ARPA file (plain or gzip).
        order: n.
        unit: "char" (tokens are characters, `<sp>` a space) or "word".
        vocabulary: the unigram tokens.
    """

    path: Path
    order: int
    unit: str
    vocabulary: tuple
    unigrams: dict = dataclasses.field(default=None, compare=False, repr=False)


def load_language_model(name_or_path) -> LanguageModel:
    """Checks and describes a language model: a path, or `"en"` for the shipped English one.

    Raises:
        FileNotFoundError: no such file.
        keras_htr.decoders.ngram.LMFileError: the file is not an ARPA model (a `ValueError`).
    """
    path = resolve_lm_path(name_or_path)
    header = read_header(path)
    return LanguageModel(
        path, header["order"], header["unit"], tuple(header["vocabulary"]), header["unigrams"]
    )


def _load_models(lm) -> dict:
    """`{unit: LanguageModel}` of one model or a (word, char) pair, checked."""
    items = list(lm) if isinstance(lm, (list, tuple)) else [lm]
    if not 1 <= len(items) <= 2:
        raise ValueError(
            f"Received an invalid value for argument `lm`, expected one language model or a "
            f"pair (a word and a character model), got {len(items)}"
        )
    models = {}
    for item in items:
        model = item if isinstance(item, LanguageModel) else load_language_model(item)
        if model.unit in models:
            raise ValueError(
                f"Received an invalid value for argument `lm`, expected at most one {model.unit} "
                f"model (a pair is one word and one character model), got "
                f"{models[model.unit].path} and {model.path}"
            )
        if model.order > MAX_ORDER:
            raise ValueError(
                f"Received an invalid value for argument `lm`, expected a model of order at most "
                f"{MAX_ORDER} (what the decoder's KenLM reads), got order {model.order} "
                f"({model.path})"
            )
        models[model.unit] = model
    return models


def _lexicon_words(lexicon, case_folded: bool):
    if lexicon is None:
        return None
    if isinstance(lexicon, (str, os.PathLike)):
        words = load_lexicon(lexicon)
    else:
        words = frozenset(lexicon)
        bad = [w for w in words if not isinstance(w, str) or not w or " " in w]
        if not words or bad:
            raise ValueError(
                f"Received an invalid value for argument `lexicon`, expected a file, 'en' or "
                f"words without spaces, got {sorted(map(repr, bad))[:3] or 'no words'}"
            )
    return frozenset(w.lower() for w in words) if case_folded else words


def _kenlm(kenlm, model: LanguageModel, tokens):
    try:
        with _quiet_native_stderr():
            return kenlm(os.fspath(model.path), tokens)
    except RuntimeError as e:  # KenLM's own checks of the file
        raise LMFileError(f"{model.path}: KenLM cannot read it ({_last_line(e)})") from None


class LMDecoder:
    """CTC prefix beam search with n-gram language models and an optional lexicon.

    Three ways to decode, chosen by what is given (`mode`: "char", "lexicon", "word" or
    "word+char"):

    * a character model alone (the shipped `"en"`): open vocabulary, the fast path (KenLM in
      C++);
    * a character model and a `lexicon`: words outside the lexicon pay `oov_penalty` once;
    * a word model (`keras-htr lm build --unit word`), alone or with a character model in a
      pair: words are scored by the word model; a word outside its vocabulary (or outside
      `lexicon`, when given) is still readable: spelled by the character model (a flat cost
      per letter without one), it pays `oov_penalty` and the word model's `<unk>`.

    See `keras_htr.decoders.lexicon` for the scoring.

    Args:
        lm: a `LanguageModel`, a path or `"en"`; or a pair of them, one word and one character
            model (units are read from the files).
        charset: the model's `Charset` (must hold a space: words are separated by it).
        alpha: weight of the LM's log probability (0 decodes without it); None: the default
            of the mode (`DEFAULT_WEIGHTS`).
        beta: score added per word (per space emitted), balancing the LM's cost of each word;
            None: the default of the mode.
        beam_width: prefixes kept per frame.
        token_beam: symbols tried per frame and prefix (the most probable ones).
        threshold: prefixes scoring this much (natural log) below the best are dropped.
        lexicon: None, a word list file (`load_lexicon`), `"en"`, or an iterable of words.
        oov_penalty: log10 LM score added once to each word outside the lexicon (<= 0;
            `-inf` allows none: a closed vocabulary); None: the default of the mode.

    Example:

    >>> decoder = LMDecoder("en", transcriber.charset, lexicon="en")  # doctest: +SKIP
    >>> decoder.decode(log_probs, lengths)[0]                        # doctest: +SKIP
    ('the cat', 0.93)
    """

    def __init__(
        self,
        lm,
        charset,
        alpha: float | None = None,
        beta: float | None = None,
        beam_width: int = 16,
        token_beam: int = 8,
        threshold: float = 25.0,
        lexicon=None,
        oov_penalty: float | None = None,
    ):
        models = _load_models(lm)
        self.lm = models.get("char") or models["word"]  # the character model when there is one
        self.word_lm = models.get("word")
        if self.word_lm is not None:
            self.mode = "word+char" if "char" in models else "word"
        else:
            self.mode = "lexicon" if lexicon is not None else "char"
        defaults = DEFAULT_WEIGHTS[self.mode]
        alpha = defaults[0] if alpha is None else alpha
        beta = defaults[1] if beta is None else beta
        oov_penalty = defaults[2] if oov_penalty is None else oov_penalty
        for name, value in (("alpha", alpha), ("beta", beta), ("threshold", threshold)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a finite number, "
                    f"got {value!r}"
                )
        if alpha < 0 or threshold <= 0:
            bad = ("alpha", alpha) if alpha < 0 else ("threshold", threshold)
            raise ValueError(
                f"Received an invalid value for argument `{bad[0]}`, expected a "
                f"{'non-negative' if bad[0] == 'alpha' else 'positive'} number, got {bad[1]!r}"
            )
        if (
            isinstance(oov_penalty, bool)
            or not isinstance(oov_penalty, (int, float))
            or np.isnan(oov_penalty)
            or oov_penalty > 0
        ):
            raise ValueError(
                f"Received an invalid value for argument `oov_penalty`, expected a number <= 0 "
                f"(or -inf), got {oov_penalty!r}"
            )
        for name, value in (("beam_width", beam_width), ("token_beam", token_beam)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a positive "
                    f"integer, got {value!r}"
                )
        if " " not in charset:
            raise ValueError(
                "Received an invalid value for argument `charset`, expected an alphabet with a "
                f"space (the word separator), got {charset!r}"
            )
        decoder, _, kenlm = _require_flashlight()
        self.charset = charset
        self.alpha, self.beta, self.oov_penalty = float(alpha), float(beta), float(oov_penalty)
        # A model without capitals (like the shipped one) reads letters of either case: the
        # search runs on case-folded posteriors (P(a) + P(A) per frame) and each letter
        # found gets back the case the optical model preferred on its frames.
        self.case_folded = not any(
            t.lower() != t
            for m in models.values()
            for t in m.vocabulary
            if m.unit == "word" or len(t) == 1
        )
        symbols = ["<blank>"] + list(charset.chars)
        if self.case_folded:
            symbols = [s.lower() if len(s.lower()) == 1 and s.lower() in charset else s for s in symbols]
        self._folded = sorted(set(symbols), key=symbols.index)  # first-seen order, blank first
        self._column = np.array([self._folded.index(s) for s in symbols])
        self._space = self._folded.index(" ")
        self.lexicon = _lexicon_words(lexicon, self.case_folded)
        char_lm = word_lm = None
        if "char" in models:
            char_lm = _kenlm(kenlm, models["char"], char_dictionary(self._folded))
        if self.word_lm is not None:
            words, ids = word_dictionary(self.word_lm.vocabulary)
            word_lm = (_kenlm(kenlm, self.word_lm, words), ids, self.word_lm.unigrams or {})
        options = decoder.LexiconFreeDecoderOptions(
            beam_size=beam_width,
            beam_size_token=min(token_beam, charset.num_classes),
            beam_threshold=float(threshold),
            lm_weight=self.alpha,
            sil_score=self.beta,
            log_add=False,
            criterion_type=decoder.CriterionType.CTC,
        )
        if self.mode == "char":
            self._kenlm = char_lm
        else:
            self._kenlm = open_vocabulary_lm(
                self._folded, self.lexicon, char_lm, word_lm, self.oov_penalty
            )
        self._decoder = decoder.LexiconFreeDecoder(options, self._kenlm, self._space, BLANK_ID, [])

    def decode(self, log_probs, lengths) -> list:
        """Best transcription of each line: `[(text, confidence), ...]`.

        Args:
            log_probs: float (B, T, C) log-softmax of the model's logits (raw logits work as
                well for the search, but then the confidence is not a probability).
            lengths: int (B,) frames of each line.

        Returns:
            one `(text, confidence)` per line; confidence = exp(log p(best path) / frames),
            the per-frame geometric mean of the optical model's probability of the path chosen.
        """
        log_probs = np.asarray(log_probs, np.float32)
        if log_probs.ndim != 3 or log_probs.shape[-1] != self.charset.num_classes:
            raise ValueError(
                f"Received an invalid value for argument `log_probs`, expected shape (B, T, "
                f"{self.charset.num_classes}), got {log_probs.shape}"
            )
        lengths = np.asarray(lengths).astype(int).reshape(-1)
        out = []
        for row, frames in zip(log_probs, lengths):
            frames = int(min(max(frames, 0), row.shape[0]))
            if frames == 0:
                out.append(("", 0.0))
                continue
            probs = np.exp(row[:frames].astype(np.float64))
            folded = np.zeros((frames, len(self._folded)))
            np.add.at(folded, (slice(None), self._column), probs)
            emissions = np.ascontiguousarray(np.log(np.maximum(folded, 1e-30)), np.float32)
            best = self._decoder.decode(emissions.ctypes.data, frames, emissions.shape[1])[0]
            path = np.asarray(best.tokens[1:-1])  # every hypothesis starts and ends in silence
            ids, start = [], 0
            for token, run in itertools.groupby(path):
                length = len(list(run))
                if token != BLANK_ID:  # the class of this folded symbol most probable on its run
                    members = np.flatnonzero(self._column == token)
                    mass = probs[start : start + length][:, members].sum(0)
                    ids.append(int(members[np.argmax(mass)]))
                start += length
            text = self.charset.decode(ids).strip(" ")
            out.append((text, float(np.exp(best.emittingModelScore / frames))))
        return out


__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_BETA",
    "DEFAULT_WEIGHTS",
    "LM_ENV",
    "LMDecoder",
    "LanguageModel",
    "load_language_model",
    "resolve_lm_path",
]
