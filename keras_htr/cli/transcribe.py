"""Transcribe line images (files and/or folders) with a trained model; with a paragraph model
(the model file says which kind it holds), paragraph images: one result per image, its lines.

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
        "--format", choices=("text", "tsv", "jsonl", "page"), default="text",
        help="text: one line of text per image (paragraph model: its lines, then an empty line); "
        "tsv: path<TAB>text; jsonl: {path, text, score, chars: [{char, confidence, x_start, "
        "x_end}]} with image x-positions in pixels (paragraph model: {path, text, score, "
        "truncated, lines: [{text, confidence, y_top, y_bottom, y_centre, x_start, x_end}]}); "
        "page (paragraph model): PAGE XML <image stem>.xml per image into --out-dir",
    )
    parser.add_argument(
        "--out-dir", metavar="DIR", help="folder for --format page files (never overwritten)"
    )
    parser.add_argument(
        "--attention-maps", metavar="DIR",
        help="paragraph model: write <image stem>.attention.png per image, each line's attention "
        "as a coloured band over the rows it read",
    )
    parser.add_argument("--beam", type=int, default=1, help="beam width (default 1: greedy)")
    parser.add_argument("--batch-size", type=int, default=16, help="lines per batch (default 16)")
    from keras_htr.cli.lm import add_decoding_arguments

    add_decoding_arguments(parser)  # --lm, --lexicon, --alpha, --beta, --oov-penalty
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def format_result(result, fmt: str) -> str:
    """One output line for a `Transcription` (tabs and newlines in text become spaces in tsv)."""
    if fmt == "jsonl" and hasattr(result, "lines") and not result.error:  # a paragraph
        import dataclasses

        return json.dumps(
            {"path": result.source, "text": result.text, "score": round(result.score, 6),
             "truncated": result.truncated,
             "lines": [{k: round(v, 4) if isinstance(v, float) else v
                        for k, v in dataclasses.asdict(line).items()} for line in result.lines]},
            ensure_ascii=False,
        )
    if fmt == "text" and hasattr(result, "lines") and not result.error:
        return result.text + "\n"  # lines, then an empty line between paragraphs
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
    paragraph = hasattr(transcriber, "model") and hasattr(transcriber.model, "read_paragraph")
    if (args.format == "page" or args.attention_maps) and not paragraph:
        print("keras-htr transcribe: error: --format page and --attention-maps need a paragraph "
              "model (--model)", file=sys.stderr)
        return 2
    if args.format == "page" and not args.out_dir:
        print("keras-htr transcribe: error: --format page needs --out-dir DIR", file=sys.stderr)
        return 2
    results = transcriber.transcribe(
        paths, beam=args.beam, batch_size=args.batch_size, progress=not args.quiet, lm=lm
    )
    if paragraph and (args.format == "page" or args.attention_maps):
        from keras_htr.paragraph_transcriber import write_outputs

        results, pages = write_outputs(
            results, page_dir=args.out_dir if args.format == "page" else None,
            attention_dir=args.attention_maps,
        )
    for k, result in enumerate(results):
        if args.format == "page":  # stdout: the file written for each image
            print(f"error: {result.error}" if result.error else pages[k],
                  file=sys.stderr if result.error else sys.stdout)
            continue
        line = format_result(result, args.format)
        # Error lines go to stdout too in tsv/jsonl (one line per input); in text mode to stderr,
        # with an empty stdout line so line i of the output is still input i.
        if result.error and args.format == "text":
            print(line, file=sys.stderr)
            print("")
        else:
            print(line)
    return 1 if any(r.error for r in results) else 0
