"""Transcribe line images (files and/or folders) with a trained model.

One result per image, in input order (a folder's images sorted by name). An image that cannot
be read gets an error line naming it, the others are still transcribed, and the exit status is
1 when any input failed.
"""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="line image files and/or folders of them")
    parser.add_argument("--model", metavar="M", help="a .keras model (default: the shipped model)")
    parser.add_argument(
        "--format", choices=("text", "tsv", "jsonl"), default="text",
        help="text: one line of text per image; tsv: path<TAB>text; jsonl: {path, text, score, "
        "chars: [{char, confidence, x_start, x_end}]} with image x-positions in pixels",
    )
    parser.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy)")
    parser.add_argument("--batch-size", type=int, default=16, help="lines per batch (default 16)")
    from keras_htr.cli.lm import add_decoding_arguments

    add_decoding_arguments(parser)  # --lm, --lexicon, --alpha, --beta, --oov-penalty
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def format_result(result, fmt: str) -> str:
    """One output line for a `Transcription` (tabs and newlines in text become spaces in tsv)."""
    if fmt == "jsonl":
        if result.error:
            return json.dumps({"path": result.source, "error": result.error}, ensure_ascii=False)
        return json.dumps(
            {
                "path": result.source, "text": result.text, "score": round(result.score, 6),
                "chars": [
                    {"char": c.char, "confidence": round(c.confidence, 4), "x_start": c.x_start,
                     "x_end": c.x_end}
                    for c in result.characters
                ],
            },
            ensure_ascii=False,
        )
    if result.error:
        return f"error: {result.error}"
    if fmt == "tsv":
        text = result.text.replace("\t", " ").replace("\n", " ")
        return f"{result.source}\t{text}"
    return result.text


def run(args: argparse.Namespace) -> int:
    for name in ("beam", "batch_size"):
        if getattr(args, name) < 1:
            print(f"keras-htr transcribe: error: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    from keras_htr.data.read import list_images

    paths = list_images(args.inputs)
    if not paths:
        print("keras-htr transcribe: error: no image files in the given folders", file=sys.stderr)
        return 2
    from keras_htr.transcriber import load_transcriber

    try:
        transcriber = load_transcriber(args.model)
        from keras_htr.cli.lm import decoder_from_args

        lm = decoder_from_args(args, transcriber.charset)
    except (FileNotFoundError, ValueError, OSError, ImportError) as e:
        print(f"keras-htr transcribe: error: {e}", file=sys.stderr)
        return 2
    results = transcriber.transcribe(
        paths, beam=args.beam, batch_size=args.batch_size, progress=not args.quiet, lm=lm
    )
    for result in results:
        line = format_result(result, args.format)
        # Error lines go to stdout too in tsv/jsonl (one line per input); in text mode to stderr,
        # with an empty stdout line so line i of the output is still input i.
        if result.error and args.format == "text":
            print(line, file=sys.stderr)
            print("")
        else:
            print(line)
    return 1 if any(r.error for r in results) else 0
