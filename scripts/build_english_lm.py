"""Builds the shipped English language model and lexicon, `keras_htr/shipped/lm/en.*.gz`.

The lexicon (`en.lexicon.txt.gz`, for `--lexicon en`) is the same word list, lower-cased, one
word per line, most frequent first.

Source: `wordfreq`'s English list only (word frequencies, no running text). Sentences are drawn
from it (80% of words by frequency, 20% uniformly among the 50,000 most frequent, so rare words
are spelled too), with the shapes text takes on a line: commas, full stops, question marks,
numbers, brackets. The text is lower-cased: a model without capitals is applied to letters of
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
        for i in range(k):
            r = rng.random()
            if r < 0.02:
                tokens[i] = str(int(10 ** rng.uniform(0, 4)))
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
