"""Paragraph model against the line model on the same lines (issue 12's targets).

On paragraphs with line boxes (image + `.gt.txt` + PAGE XML; the synthetic `test` split holds
writer designs never trained on), it reads each paragraph with the paragraph model, as a user
does (`ParagraphTranscriber`: scaling to the line pitch, the attention, greedy decoding), and each
of its lines, cut with its true box (widened by `--margin` px, clipped to the image), with the
line model (`Transcriber`, greedy). It prints:

- the paragraph model's CER and WER over the paragraphs' texts (lines joined by "\\n") and, for
  the paragraphs where it read the right number of lines, its CER line by line;
- the line model's CER and WER over the same lines, and the ratio of the two CERs
  (target <= 1.2);
- the share of paragraphs read with the right number of lines (target >= 95%);
- lines/s of each (after one warm-up input each; model loading not counted).

    python benchmarks/paragraph.py --model /work/runs/paragraph-van/best.keras \\
        --data /work/data/para/test --limit 40
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a paragraph model (.keras)")
    parser.add_argument("--line-model",
                        default=str(ROOT / "keras_htr" / "shipped" / "htr_line.keras"),
                        help="a line model (.keras) (default: the shipped one)")
    parser.add_argument("--data", default="/work/data/para/test",
                        help="paragraphs with line boxes (default /work/data/para/test)")
    parser.add_argument("--limit", type=int, default=None, help="first N paragraphs (by name)")
    parser.add_argument("--margin", type=int, default=4, help="px added around each true box")
    parser.add_argument("--no-rescale", action="store_true",
                        help="read paragraphs at their own scale (no scaling to a 40-px pitch)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    return parser.parse_args(argv)


def cut_lines(sample, margin: int) -> list:
    """The paragraph's lines cut with their true boxes (uint8 gray crops)."""
    image = sample.load()
    h, w = image.shape
    return [
        image[max(0, y0 - margin) : min(h, y1 + margin), max(0, x0 - margin) : min(w, x1 + margin)]
        for x0, y0, x1, y1 in sample.boxes
    ]


def timed(transcribe, items):
    """(results, seconds) of `transcribe(items)`, after a warm-up call on the first item."""
    transcribe(items[:1])
    start = time.perf_counter()
    results = transcribe(items)
    return results, time.perf_counter() - start


def main(argv=None) -> int:
    args = parse_args(argv)
    from keras_htr.data.paragraph import read_paragraphs
    from keras_htr.metrics import ErrorCounts
    from keras_htr.paragraph_transcriber import ParagraphTranscriber, load_paragraph_model
    from keras_htr.transcriber import Transcriber, load_line_model

    samples, errors = read_paragraphs(args.data)
    if errors:
        print(f"{len(errors)} unreadable paragraphs, e.g. {errors[0]}", file=sys.stderr)
    samples = [s for s in samples if s.boxes is not None][: args.limit]
    if not samples:
        print(f"no paragraphs with line boxes in {args.data}", file=sys.stderr)
        return 2
    paragraph = ParagraphTranscriber(load_paragraph_model(args.model),
                                     pitch=None if args.no_rescale else 40)
    line = Transcriber(load_line_model(args.line_model))

    images = [s.load() for s in samples]
    read, para_seconds = timed(lambda x: paragraph.transcribe(x, progress=True), images)
    failed = [r.error for r in read if r.error]
    if failed:
        print(f"paragraph model: {len(failed)} failed, e.g. {failed[0]}", file=sys.stderr)
    crops = [crop for s in samples for crop in cut_lines(s, args.margin)]
    line_results, line_seconds = timed(lambda x: line.transcribe(x, progress=True), crops)

    para_counts, para_lines, line_counts = ErrorCounts(), ErrorCounts(), ErrorCounts()
    right_count, k = 0, 0
    for sample, result in zip(samples, read):
        para_counts.update(sample.text, result.text)
        predicted = [li.text for li in result.lines]
        if len(predicted) == len(sample.lines):
            right_count += 1
            for ref, hyp in zip(sample.lines, predicted):
                para_lines.update(ref, hyp)
        for ref in sample.lines:
            line_counts.update(ref, line_results[k].text)
            k += 1
    n_lines = sum(len(s.lines) for s in samples)
    figures = {
        "paragraphs": len(samples),
        "lines": n_lines,
        "paragraph_cer": para_counts.cer,
        "paragraph_wer": para_counts.wer,
        "paragraph_cer_right_count_lines": para_lines.cer if right_count else None,
        "line_model_cer": line_counts.cer,
        "line_model_wer": line_counts.wer,
        "cer_ratio": para_counts.cer / line_counts.cer if line_counts.cer else None,
        "right_line_count": right_count / len(samples),
        "paragraph_lines_per_s": sum(len(r.lines) for r in read) / para_seconds,
        "line_model_lines_per_s": n_lines / line_seconds,
        "truncated": sum(r.truncated for r in read),
    }

    def pct(x):
        return "n/a" if x is None else f"{100 * x:.2f}%"

    print(f"| {len(samples)} paragraphs, {n_lines} lines ({args.data}) | CER | WER | lines/s |")
    print("|---|---|---|---|")
    print(f"| paragraph model ({Path(args.model).name}) | {pct(figures['paragraph_cer'])} | "
          f"{pct(figures['paragraph_wer'])} | {figures['paragraph_lines_per_s']:.1f} |")
    print(f"| line model on true boxes ({Path(args.line_model).name}) | "
          f"{pct(figures['line_model_cer'])} | {pct(figures['line_model_wer'])} | "
          f"{figures['line_model_lines_per_s']:.1f} |")
    ratio = figures["cer_ratio"]
    ratio = "n/a" if ratio is None else f"{ratio:.2f}x"
    print(f"\nCER ratio paragraph / line: {ratio} (target <= 1.2x)")
    print(f"right number of lines: {pct(figures['right_line_count'])} (target >= 95%); "
          f"truncated at the cap: {figures['truncated']}")
    print(f"paragraph model CER line by line, on the paragraphs with the right line count: "
          f"{pct(figures['paragraph_cer_right_count_lines'])}")
    if args.json:
        print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
