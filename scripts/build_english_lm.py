"""Builds the shipped English language model and lexicon, `keras_htr/shipped/lm/en.*.gz`.

The lexicon (`en.lexicon.txt.gz`, for `--lexicon en`) is the same word list, lower-cased, one
word per line, most frequent first.

Source: `wordfreq`'s English list only (word frequencies, no running text). Sentences are drawn
from it (80% of words by frequency, 20% uniformly among the 50,000 most frequent, so rare words
are spelled too), with the shapes text takes on a line: commas, full stops, question marks,
numbers, brackets, and lines of figures (times, dates, amounts, signed and grouped numbers, so
that the model does not take the punctuation out of "16:50" or "-5153"). The text is lower-cased: a model without capitals is applied to letters of
either case (`LMDecoder` folds the case of the optical model's output before the search and
restores it after), so the statistics of "the" and "THE" are not split. A character 6-gram is
estimated on them (`keras_htr.decoders.ngram.estimate_arpa`).

Why this is fair to `benchmarks/lm.py`: its test prose is real English running text (the license
texts every Debian system ships in /usr/share/common-licenses), not sentences from wordfreq; and
no reserved evaluation source is read. (`keras_htr.data.synthetic.text` draws its lines from
wordfreq too, so measuring this model on those lines would flatter it: the benchmark does not.)

    python scripts/build_english_lm.py                       # a few minutes
    python scripts/build_english_lm.py --lexicon-only        # the lexicon alone, seconds
    python scripts/build_english_lm.py --unit word --order 2 --sentences 40000 \
        --out /tmp/en-words.arpa.gz --lexicon-out /tmp/en.lexicon.txt.gz   # a word model

A word model from this source knows word frequencies only (wordfreq has no running text, so
which word follows which is noise): it is what `benchmarks/lm.py` measures the word-model
decoding with, not shipped. A real word model needs running text: `keras-htr lm build --unit
word` on a corpus of your own.
    python scripts/build_english_lm.py --sentences 20000 --out /tmp/en_small.arpa.gz
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata

import numpy as np

VOCABULARY = 50000
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def english_words(size: int = VOCABULARY):
    """wordfreq's `size` most frequent clean English words and their frequencies."""
    import wordfreq

    words, freqs = [], []
    for w in wordfreq.top_n_list("en", size):
        w = unicodedata.normalize("NFC", w)
        if _WORD.fullmatch(w) and (len(w) > 1 or w in ("a", "i")):
            words.append("I" if w == "i" else w)
            freqs.append(wordfreq.word_frequency(w, "en"))
    freqs = np.asarray(freqs)
    return words, freqs / freqs.sum()


def number(rng) -> str:
    """A figure as lines write them: a time, a date, an amount, a signed or grouped number.
    Without these the model learns that digits follow digits only, and `--lm en` would read
    "16:50" as "1650"."""
    d = lambda lo, hi: int(rng.integers(lo, hi))  # noqa: E731
    z = lambda lo, hi: f"{d(lo, hi):0{d(1, 3)}d}"  # noqa: E731  (zero-padded or not: 03 or 3)
    shapes = (
        lambda: f"{d(0, 24)}:{d(0, 60):02d}",
        lambda: f"{z(1, 32)}/{z(1, 13)}/{d(1800, 2030)}",
        lambda: f"{z(1, 32)}.{z(1, 13)}.{d(1800, 2030)}",
        lambda: f"{z(1, 32)}-{z(1, 13)}-{d(1800, 2030)}",
        lambda: f"{d(1800, 2030)}-{d(1, 13):02d}-{d(1, 32):02d}",
        lambda: f"{d(0, 10000)}.{d(0, 100):02d}",
        lambda: f"{d(0, 1000)},{d(0, 100):02d}",
        lambda: f"{d(1, 1000)},{d(0, 1000):03d}",
        lambda: f"-{d(0, 100000)}",
        lambda: f"+{d(0, 1000)}",
        lambda: f"{d(0, 100)}%",
        lambda: f"${d(0, 10000)}",
        lambda: f"no. {d(1, 1000)}",
        lambda: f"({d(1, 100)})",
        lambda: str(d(0, 10 ** int(rng.integers(1, 8)))),
    )
    return shapes[int(rng.integers(len(shapes)))]()


def sentences(n: int, seed: int = 0):
    """`n` pseudo-sentences in the shapes of written English lines (see the module doc)."""
    rng = np.random.default_rng(seed)
    words, p = english_words()
    for _ in range(n):
        k = int(rng.integers(3, 16))
        by_freq = rng.choice(len(words), size=k, p=p)
        uniform = rng.integers(0, len(words), size=k)
        picks = np.where(rng.random(k) < 0.8, by_freq, uniform)
        tokens = [words[i] for i in picks]
        if rng.random() < 0.05:  # a line of figures: dates, times, amounts, references
            tokens = [number(rng) for _ in range(int(rng.integers(1, 5)))]
            yield " ".join(tokens)
            continue
        for i in range(k):
            r = rng.random()
            if r < 0.02:
                tokens[i] = str(int(10 ** rng.uniform(0, 4)))
            elif r < 0.035:
                tokens[i] = number(rng)
            elif r < 0.03:
                tokens[i] = f"({tokens[i]})"
            if rng.random() < 0.07 and i < k - 1:
                tokens[i] += ","
        tokens[-1] += str(rng.choice([".", ".", ".", ".", ".", "?", "!", ":", ";", ""]))
        yield " ".join(tokens).lower()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="keras_htr/shipped/lm/en.arpa.gz")
    parser.add_argument("--sentences", type=int, default=150000)
    parser.add_argument("--order", type=int, default=6)
    parser.add_argument("--unit", choices=("char", "word"), default="char")
    parser.add_argument("--prune", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lexicon-out", default="keras_htr/shipped/lm/en.lexicon.txt.gz")
    parser.add_argument("--lexicon-only", action="store_true", help="write the lexicon only")
    args = parser.parse_args(argv)
    from keras_htr.decoders.ngram import estimate_arpa, write_lm

    words, _ = english_words()
    lexicon = write_lm("\n".join(dict.fromkeys(w.lower() for w in words)) + "\n", args.lexicon_out)
    print(f"wrote {lexicon} ({len(words)} words)", file=sys.stderr)
    if args.lexicon_only:
        return 0

    arpa = estimate_arpa(
        sentences(args.sentences, args.seed), order=args.order, unit=args.unit, prune=args.prune
    )
    path = write_lm(arpa, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
