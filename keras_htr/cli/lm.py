"""Language models for decoding: `keras-htr lm build CORPUS.txt --order N --out LM`.

Estimates an n-gram model (interpolated Kneser-Ney) from your own text, one sentence or text
line per line, and writes it as ARPA (gzip-compressed when LM ends in .gz), ready for
`keras-htr transcribe --lm LM` and `keras-htr evaluate --lm LM`. Character models (the
default) keep an open vocabulary: names, numbers and unseen words can still be read. Word models
(`--unit word`) score whole words; words they never saw are still read (see `--lexicon`).

Also the decoding flags `transcribe` and `evaluate` share (`add_decoding_arguments`).
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="lm_command", metavar="ACTION")
    sub.required = True
    build = sub.add_parser("build", help="estimate an n-gram model from a text corpus")
    build.add_argument("corpus", metavar="CORPUS", help="UTF-8 text, one sentence or line per line")
    build.add_argument("--out", required=True, metavar="LM", help="the model to write (.arpa or .arpa.gz)")
    build.add_argument("--order", type=int, default=6, help="n of the n-gram model (default 6)")
    build.add_argument(
        "--unit", choices=("char", "word"), default="char",
        help="char (default: characters, space as <sp>) or word (words and punctuation marks; "
        "decode with it alone, or with a char model: --lm WORDS --lm CHARS)",
    )
    build.add_argument(
        "--prune", type=int, default=1,
        help="leave out n-grams (order 3 and up) seen this often or less (default 1; 0 keeps all)",
    )


def add_decoding_arguments(parser: argparse.ArgumentParser) -> None:
    """The language-model flags of `transcribe` and `evaluate`."""
    parser.add_argument(
        "--lm", metavar="PATH|en", action="append",
        help="decode with a language model: an ARPA file (`keras-htr lm build`) or 'en', the "
        "shipped English character model (needs the `lm` extra; --beam is then unused). "
        "Character or word model, read from the file; give --lm twice for a word model with a "
        "character model that spells the words it does not know",
    )
    parser.add_argument(
        "--lexicon", metavar="FILE|en",
        help="with --lm: a word list (one word per line; 'en': the shipped English one). Words "
        "outside it are still read, at a cost (--oov-penalty)",
    )
    parser.add_argument("--alpha", type=float, help="weight of the language model (default: per mode)")
    parser.add_argument("--beta", type=float, help="score added per word (default: per mode)")
    parser.add_argument(
        "--oov-penalty", type=float, metavar="P",
        help="log10 score a word outside the lexicon pays, <= 0 (default: per mode; "
        "--oov-penalty=-inf: lexicon words only)",
    )


def decoder_from_args(args: argparse.Namespace, charset):
    """The `LMDecoder` the flags ask for, or None (raises ValueError on a bad combination)."""
    if args.lm is None:
        given = [f for f in ("lexicon", "alpha", "beta", "oov_penalty") if getattr(args, f) is not None]
        if given:
            raise ValueError(
                f"--{given[0].replace('_', '-')} needs a language model: add --lm en or --lm PATH"
            )
        return None
    from keras_htr.decoders.lm import LMDecoder

    return LMDecoder(
        args.lm if len(args.lm) > 1 else args.lm[0], charset, alpha=args.alpha, beta=args.beta,
        lexicon=args.lexicon, oov_penalty=args.oov_penalty,
    )


def run(args: argparse.Namespace) -> int:
    from keras_htr.decoders.ngram import build_lm

    try:
        path = build_lm(args.corpus, args.out, order=args.order, unit=args.unit, prune=args.prune)
    except (FileNotFoundError, ValueError, OSError) as e:
        print(f"keras-htr lm: error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", file=sys.stderr)
    return 0
