"""Synthetic paragraphs: one writer writes a block of 1-15 lines, then the whole page is scanned.

Each paragraph is a pure function of `(seed, index)`: a writer (a design and a random style,
`writer.Writer`) writes lines of wrapped prose with its own line spacing, indentation, margins and
line lengths; the block is tilted slightly, scaled to the paragraph model's scale
(`TARGET_X_HEIGHT`: line pitch about `LINE_PITCH` pixels) and scanned as one page (`scan.scan`).
Each line's true box is kept, so a line model can be compared on the same lines cut exactly.

Files (`write_paragraphs`): `<stem>.png`, `<stem>.gt.txt` (one text line per image line) and
`<stem>.xml`, PAGE XML with one TextRegion of TextLines (Coords + TextEquiv), which
`keras_htr.data.paragraph.read_paragraphs` reads back.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from keras_htr.data.synthetic.designs import Design, select_designs
from keras_htr.data.synthetic.scan import scan
from keras_htr.data.synthetic.text import random_line
from keras_htr.data.synthetic.writer import Writer

#: x-height (pixels) of the writing in generated paragraphs: a line then spans about 28 px of ink,
#: which the line model's 32-px input holds, and lines follow each other every ~`LINE_PITCH` px.
TARGET_X_HEIGHT = 10.5
#: Typical distance between baselines at the paragraph model's scale (pixels).
LINE_PITCH = 40
#: Most lines a generated paragraph has.
MAX_LINES = 15
#: Widest generated paragraph (pixels, at the model's scale); wider renders are scaled down.
MAX_WIDTH = 600
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class SyntheticParagraph:
    """A generated paragraph: uint8 gray image, its lines' texts, their boxes
    `(x0, y0, x1, y1)` in image pixels (top to bottom), and the writer's design name."""

    image: np.ndarray
    lines: tuple
    boxes: tuple
    writer: str


def _caps_text(design: Design):
    from keras_htr.data.synthetic import _text_chars

    return _text_chars(design)


def _wrap(words: list, width: int) -> list:
    """Words -> lines of at most `width` characters (a longer word gets a line of its own)."""
    lines, current = [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


class ParagraphSynthesizer:
    """Reproducible synthetic paragraphs: `synth.paragraph(i)` depends only on `(seed, i)`.

    Args:
        split: "train" and "val" write with the training designs (new writers on each
            paragraph: give val another `seed`); "test" with `HELD_OUT_DESIGNS` only.
        seed: the generator seed.
        min_lines, max_lines: range of the number of lines (1..15 by default).
        designs, exclude_designs: as for `LineSynthesizer` (only with split "train"/"val").
        degrade: scan the page (paper, blur, noise...); False gives clean renders.

    Example:

    >>> synth = ParagraphSynthesizer(seed=0, min_lines=3, max_lines=3)
    >>> len(synth.paragraph(0).lines)
    3
    """

    def __init__(
        self,
        split: str = "train",
        seed: int = 0,
        min_lines: int = 1,
        max_lines: int = MAX_LINES,
        designs: Sequence[str] | None = None,
        exclude_designs: Sequence[str] | None = None,
        degrade: bool = True,
    ):
        if split not in SPLITS:
            raise ValueError(
                f"Received an invalid value for argument `split`, expected one of {SPLITS}, got {split!r}"
            )
        if not (isinstance(min_lines, int) and isinstance(max_lines, int) and 1 <= min_lines <= max_lines):
            raise ValueError(
                f"Received an invalid value for arguments `min_lines`, `max_lines`, expected "
                f"ints with 1 <= min_lines <= max_lines, got {min_lines!r}, {max_lines!r}"
            )
        self.split = split
        self.seed = int(seed)
        self.min_lines, self.max_lines = min_lines, max_lines
        self.degrade = bool(degrade)
        self.designs = select_designs(designs, exclude_designs, held_out=split == "test")

    def paragraph(self, index: int) -> SyntheticParagraph:
        rng = np.random.default_rng([self.seed, int(index), 7])
        design = self.designs[int(rng.integers(len(self.designs)))]
        writer = Writer.sample(rng, design)
        chars = _caps_text(design)
        n_lines = int(rng.integers(self.min_lines, self.max_lines + 1))
        texts = self._texts(rng, chars, n_lines, design.caps_only)
        ink, boxes = self._layout(rng, writer, texts)
        tone = writer.style.ink_tone
        h, w = ink.shape
        image = scan(ink, rng, ink_tone=tone, strength=1.0 if self.degrade else 0.0)
        if image.shape != (h, w):  # a rescale fired: keep the model's scale and the boxes
            image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
        return SyntheticParagraph(image, tuple(texts), tuple(boxes), design.name)

    def _texts(self, rng, chars, n_lines: int, caps: bool) -> list:
        width = int(rng.integers(14, 42))  # characters per full line
        words: list = []
        while sum(len(w) + 1 for w in words) < width * n_lines + width:
            words += random_line(rng, chars).split()
        lines = _wrap(words, width)[:n_lines]
        if n_lines > 1 and rng.random() < 0.7:  # a paragraph's last line is often short
            last = lines[-1].split()
            lines[-1] = " ".join(last[: max(1, int(len(last) * rng.uniform(0.2, 1.0)))])
        return [t.upper() for t in lines] if caps else lines

    def _layout(self, rng, writer: Writer, texts: list):
        """Writes the lines one under the other at the writer's scale, tilts and scales the
        block; returns the ink (float32) and each line's box at the final scale."""
        xh = writer.style.x_height_px
        spacing = rng.uniform(3.2, 4.6) * xh  # baseline to baseline
        indent_first = rng.uniform(0, 3) * xh if rng.random() < 0.5 else 0.0
        rendered = []
        for k, text in enumerate(texts):
            line = writer.write(text, rng)
            x = (indent_first if k == 0 else 0.0) + rng.normal(0, 0.15) * xh
            rendered.append((line, x))
        margin_x = rng.uniform(0.3, 2.0) * xh
        margin_top = rng.uniform(0.3, 1.5) * xh
        margin_bottom = rng.uniform(0.3, 1.5) * xh
        ascent = max(line.baseline for line, _ in rendered)
        origin_x = margin_x + max(0.0, -min(x for _, x in rendered))
        width = int(np.ceil(origin_x + max(x + line.ink.shape[1] for line, x in rendered) + margin_x))
        baselines = [margin_top + ascent + k * spacing for k in range(len(rendered))]
        descent = max(line.ink.shape[0] - line.baseline for line, _ in rendered)
        height = int(np.ceil(baselines[-1] + descent + margin_bottom))
        layers = []
        for (line, x), base in zip(rendered, baselines):
            layer = np.zeros((height, width), np.float32)
            top, left = round(base - line.baseline), round(origin_x + x)
            h, w = line.ink.shape
            layer[top : top + h, left : left + w] = line.ink
            layers.append(layer)
        scale = TARGET_X_HEIGHT / xh * rng.uniform(0.9, 1.1)
        scale = min(scale, MAX_WIDTH / width)
        angle = rng.normal(0, 0.6)  # degrees: slight skew of the whole block
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        ink = np.zeros(size[::-1], np.float32)
        boxes = []
        for layer in layers:
            im = Image.fromarray(layer, mode="F").rotate(angle, Image.BILINEAR, fillcolor=0.0)
            small = np.asarray(im.resize(size, Image.BILINEAR))
            ink = np.maximum(ink, small)
            rows = np.nonzero(small.max(1) > 0.1)[0]
            cols = np.nonzero(small.max(0) > 0.1)[0]
            if rows.size == 0:
                rows = cols = np.array([0])
            boxes.append((int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1))
        return np.clip(ink, 0.0, 1.0), boxes


def page_xml(image_name: str, size: tuple, lines: Sequence[str], boxes: Sequence[tuple]) -> str:
    """PAGE XML (2019 schema) of one TextRegion holding one TextLine per line, in reading order."""
    from xml.sax.saxutils import escape, quoteattr

    width, height = size
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[2] for b in boxes)
    y1 = max(b[3] for b in boxes)

    def points(b):
        return f"{b[0]},{b[1]} {b[2]},{b[1]} {b[2]},{b[3]} {b[0]},{b[3]}"

    body = "".join(
        f'      <TextLine id="l{k}"><Coords points="{points(b)}"/>'
        f"<TextEquiv><Unicode>{escape(t)}</Unicode></TextEquiv></TextLine>\n"
        for k, (t, b) in enumerate(zip(lines, boxes))
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<PcGts xmlns="http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15">\n'
        f"  <Page imageFilename={quoteattr(image_name)} imageWidth=\"{width}\" imageHeight=\"{height}\">\n"
        f'    <TextRegion id="r0"><Coords points="{points((x0, y0, x1, y1))}"/>\n'
        f"{body}    </TextRegion>\n  </Page>\n</PcGts>\n"
    )


def write_paragraphs(
    out_dir,
    count: int,
    split: str = "train",
    seed: int = 0,
    min_lines: int = 1,
    max_lines: int = MAX_LINES,
    start: int = 0,
    degrade: bool = True,
    workers: int = 1,
    progress: bool = True,
) -> dict:
    """Write `count` paragraphs as `<out_dir>/para-<split>-s<seed>-<index>.png`, `.gt.txt`, `.xml`.

    Args:
        out_dir, count: where, and how many.
        split, seed, min_lines, max_lines, degrade: as for `ParagraphSynthesizer`.
        start: index of the first paragraph (to extend a set). Defaults to 0.
        workers: processes; the files do not depend on their number. Defaults to 1.
        progress: show a progress bar. Defaults to True.

    Returns:
        {writer design name: number of paragraphs}.
    """
    for name, value, low in (("count", count, 1), ("workers", workers, 1), ("start", start, 0)):
        if not isinstance(value, int) or value < low:
            raise ValueError(
                f"Received an invalid value for argument `{name}`, expected an int >= {low}, got {value!r}"
            )
    config = {"split": split, "seed": seed, "min_lines": min_lines, "max_lines": max_lines, "degrade": degrade}
    ParagraphSynthesizer(**config)  # check the arguments here, not in a worker
    out = pathlib.Path(os.fspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    bar = tqdm(total=count, desc=f"synth paragraphs ({split})", unit="par", disable=not progress)
    counts: dict = {}
    jobs = [(out, config, s, min(s + 20, start + count)) for s in range(start, start + count, 20)]
    if workers == 1:
        results = map(_write_chunk, jobs)
    else:
        import multiprocessing

        pool = multiprocessing.get_context("spawn").Pool(workers)
        results = pool.imap(_write_chunk, jobs)
    for (_, _, s, e), part in zip(jobs, results):
        for name, n in part.items():
            counts[name] = counts.get(name, 0) + n
        bar.update(e - s)
    if workers > 1:
        pool.close()
        pool.join()
    bar.close()
    return counts


def _write_chunk(job) -> dict:
    out, config, begin, end = job
    synth = ParagraphSynthesizer(**config)
    counts: dict = {}
    for i in range(begin, end):
        par = synth.paragraph(i)
        stem = f"para-{config['split']}-s{config['seed']}-{i:07d}"
        Image.fromarray(par.image).save(out / f"{stem}.png", compress_level=1)
        (out / f"{stem}.gt.txt").write_text("\n".join(par.lines) + "\n", encoding="utf-8")
        size = (par.image.shape[1], par.image.shape[0])
        (out / f"{stem}.xml").write_text(
            page_xml(f"{stem}.png", size, par.lines, par.boxes), encoding="utf-8"
        )
        counts[par.writer] = counts.get(par.writer, 0) + 1
    return counts
