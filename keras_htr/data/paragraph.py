"""Paragraph ground truth and the `tf.data` pipeline of the paragraph model.

Two formats are read (`read_paragraphs`):

- **folder**: an image and a `.gt.txt` beside it holding one text line per image line; line boxes
  are taken from a PAGE XML file of the same stem when there is one (the synthetic generator
  writes both);
- **PAGE XML**: one paragraph per `TextRegion`, its `TextLine`s' texts in document order, the
  image cut to the region's box.

Scale: the paragraph model reads blocks whose line pitch (baseline to baseline) is about
`LINE_PITCH` = 40 px, so that a line's ink fits the line model's 32-px window. The generator writes
at that scale; `rescale_to_pitch` brings a user's image to it from the line pitch measured on the
image's horizontal ink profile.

The pipeline (`paragraph_dataset`) batches paragraphs of similar size together and, through a
`Curriculum`, gives windows of at most `max_lines(epoch)` consecutive lines, so training starts on
1-2 line blocks and grows to full paragraphs.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from keras_htr.charset import normalize_text
from keras_htr.data.folder import IMAGE_SUFFIXES, error_reason
from keras_htr.data.preprocess import ImageError, load_image
from keras_htr.data.sample import ReadError

#: Line pitch (baseline to baseline, pixels) the paragraph model reads.
LINE_PITCH = 40


@dataclasses.dataclass(frozen=True)
class ParagraphSample:
    """One paragraph: its image file, the text of each line top to bottom, and optionally
    each line's box `(x0, y0, x1, y1)` in the cut image and the `region` cut from the file."""

    image_path: str
    lines: tuple
    boxes: tuple | None = None
    region: tuple | None = None
    source: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def load(self) -> np.ndarray:
        """The uint8 gray image of the paragraph (the region, if any, cut out)."""
        image = load_image(self.image_path)
        if self.region is not None:
            x0, y0, x1, y1 = self.region
            image = image[y0:y1, x0:x1]
        return image


# ---------------------------------------------------------------------------------------------
# Readers


def _box(points) -> tuple:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (int(min(xs)), int(min(ys)), int(np.ceil(max(xs))), int(np.ceil(max(ys))))


def read_page_regions(path) -> tuple[list, list]:
    """Paragraphs of one PAGE XML file: one per TextRegion with transcribed TextLines.

    Returns:
        (samples, errors): `ParagraphSample`s and `ReadError`s naming the file and region.
    """
    from keras_htr.data.page_xml import _polygon, _text_of, find_page_image
    from keras_htr.data.preprocess import probe_image
    from keras_htr.data.xml_format import namespace, parse_xml, xml_kind

    path = pathlib.Path(os.fspath(path))
    try:
        root = parse_xml(path)
    except ValueError as e:
        return [], [ReadError(str(path), str(e))]
    if xml_kind(root) != "page":
        return [], [ReadError(str(path), "not a PAGE XML file")]
    ns = namespace(root)
    page = root.find(f"{{{ns}}}Page")
    if page is None:
        return [], [ReadError(str(path), "no Page element")]
    image_path = find_page_image(path, page.get("imageFilename", ""))
    if image_path is None:
        return [], [ReadError(str(path), f"page image {page.get('imageFilename', '')!r} not found")]
    try:
        width, height = probe_image(image_path)
    except ImageError as e:
        return [], [ReadError(str(image_path), error_reason(e, image_path))]
    samples, errors = [], []
    for n, region in enumerate(page.iter(f"{{{ns}}}TextRegion")):
        source = f"{path}#{region.get('id') or f'region{n}'}"
        texts, boxes = [], []
        try:
            for line in region.findall(f"{{{ns}}}TextLine"):
                text = _text_of(line, ns)
                polygon = _polygon(line, ns)
                if text is None or not text.strip() or polygon is None:
                    raise ValueError(f"line {line.get('id')!r} has no text or no Coords")
                texts.append(normalize_text(text.strip()))
                boxes.append(_box(polygon))
            if not texts:
                continue  # a region without lines (a figure, a title without text)
            region_polygon = _polygon(region, ns)
        except (ValueError, TypeError) as e:
            errors.append(ReadError(source, f"malformed region ({e})"))
            continue
        rx0, ry0, rx1, ry1 = _box(region_polygon) if region_polygon else _box(
            [(b[0], b[1]) for b in boxes] + [(b[2], b[3]) for b in boxes]
        )
        rx0, ry0 = max(0, min(rx0, *(b[0] for b in boxes))), max(0, min(ry0, *(b[1] for b in boxes)))
        rx1 = min(width, max(rx1, *(b[2] for b in boxes)))
        ry1 = min(height, max(ry1, *(b[3] for b in boxes)))
        if rx1 <= rx0 or ry1 <= ry0:
            errors.append(ReadError(source, "region outside its page image"))
            continue
        local = tuple((x0 - rx0, y0 - ry0, x1 - rx0, y1 - ry0) for x0, y0, x1, y1 in boxes)
        samples.append(
            ParagraphSample(str(image_path), tuple(texts), local, (rx0, ry0, rx1, ry1), source)
        )
    return samples, errors


def _folder_sample(image: pathlib.Path, gt: pathlib.Path):
    lines = [normalize_text(t.strip()) for t in gt.read_text(encoding="utf-8").splitlines()]
    lines = [t for t in lines if t]
    if not lines:
        return None, ReadError(str(gt), "no text lines")
    boxes = None
    xml = image.with_suffix(".xml")
    if xml.is_file():
        page, errors = read_page_regions(xml)
        if errors or len(page) != 1 or len(page[0].lines) != len(lines):
            return None, ReadError(str(xml), "PAGE XML does not match the .gt.txt lines")
        x0, y0, _, _ = page[0].region
        boxes = tuple((a + x0, b + y0, c + x0, d + y0) for a, b, c, d in page[0].boxes)
    return ParagraphSample(str(image), tuple(lines), boxes, None, str(image)), None


def read_paragraphs(paths) -> tuple[list, list]:
    """Paragraphs of folders (image + `.gt.txt`) and PAGE XML files, one bad file reported by
    name and the rest read.

    Args:
        paths: a folder, a PAGE XML file, or a list of them. In a folder, an image with a
            `.gt.txt` is one paragraph; a PAGE XML file whose image has no `.gt.txt` gives one
            paragraph per TextRegion.

    Returns:
        (samples, errors): `ParagraphSample`s sorted by source, and `ReadError`s.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    samples, errors = [], []
    for path in map(pathlib.Path, paths):
        if path.is_dir():
            files = sorted(path.iterdir())
        elif path.is_file():
            files = [path]
        else:
            errors.append(ReadError(str(path), "no such file or folder"))
            continue
        for f in files:
            if f.suffix.lower() in IMAGE_SUFFIXES:
                gt = f.with_name(f.stem + ".gt.txt")
                if gt.is_file():
                    sample, error = _folder_sample(f, gt)
                    samples += [sample] if sample else []
                    errors += [error] if error else []
            elif f.suffix.lower() == ".xml":
                image_gt = [f.with_suffix(s) for s in IMAGE_SUFFIXES]
                if any(p.is_file() and p.with_name(p.stem + ".gt.txt").is_file() for p in image_gt):
                    continue  # its folder sample holds it
                found, bad = read_page_regions(f)
                samples += found
                errors += bad
    return samples, errors


# ---------------------------------------------------------------------------------------------
# Images


def prepare_paragraph(gray: np.ndarray) -> np.ndarray:
    """uint8 gray (H, W), dark ink on light paper -> float32 ink (H, W): paper 0, ink 1.

    The paper's level (median) maps to 0 and the ink's (a high quantile) to 1, as the line model's
    preprocessing does, so the encoder sees what it was trained on.
    """
    ink = 255.0 - np.asarray(gray, np.float32)
    low = float(np.median(ink))
    high = float(np.percentile(ink, 99.5))
    high = max(high, low + 32.0)
    return np.clip((ink - low) / (high - low), 0.0, 1.0).astype(np.float32)


def estimate_line_pitch(gray: np.ndarray) -> float | None:
    """Line pitch (pixels) from the autocorrelation of the horizontal ink profile, or None for a
    block with fewer than two lines (no period)."""
    profile = prepare_paragraph(gray).sum(1)
    profile = profile - profile.mean()
    n = profile.size
    if n < 16 or not np.any(profile):
        return None
    corr = np.correlate(profile, profile, "full")[n - 1 :]
    corr = corr / corr[0]
    # The first clear peak after the central one: lines repeat every `pitch` rows.
    for lag in range(4, n // 2):
        if corr[lag] > 0.15 and corr[lag] == max(corr[lag - 3 : lag + 4]):
            return float(lag)
    return None


def ink_height(gray: np.ndarray) -> int:
    """Rows between the first and last row holding ink (0 for an empty page)."""
    rows = np.nonzero(prepare_paragraph(gray).max(1) > 0.5)[0]
    return int(rows[-1] - rows[0] + 1) if rows.size else 0


def rescale_to_pitch(gray: np.ndarray, pitch: float = LINE_PITCH) -> tuple[np.ndarray, float]:
    """The image scaled so its lines are `pitch` px apart; a single line is scaled so its ink is
    0.75 x `pitch` high (as in generated paragraphs). Returns (image, scale factor)."""
    from PIL import Image

    measured = estimate_line_pitch(gray)
    if measured is not None:
        factor = pitch / measured
    else:
        height = ink_height(gray)
        factor = 0.75 * pitch / height if height else 1.0
    h, w = gray.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return np.asarray(Image.fromarray(gray).resize(size, Image.BILINEAR)), factor


def line_window(image: np.ndarray, boxes: Sequence, start: int, count: int) -> tuple:
    """Lines `start`..`start+count-1` of a paragraph, cut halfway between the neighbouring lines:
    (the cut image, the row of the paragraph where it begins)."""
    n = len(boxes)
    top = 0 if start == 0 else (boxes[start - 1][3] + boxes[start][1]) // 2
    end = start + count
    bottom = image.shape[0] if end >= n else (boxes[end - 1][3] + boxes[end][1]) // 2
    if bottom <= top:  # overlapping lines: cut at the boxes themselves
        top, bottom = boxes[start][1], boxes[end - 1][3]
    top = max(0, top)
    return image[top:bottom], top


# ---------------------------------------------------------------------------------------------
# Curriculum and tf.data


class Curriculum:
    """Most lines per training paragraph, growing with the epoch.

    Args:
        schedule: lines allowed at epochs 0, 1, 2...; the last value holds afterwards.
            Defaults to (2, 4, 8, 15).
    """

    def __init__(self, schedule: Sequence[int] = (2, 4, 8, 15)):
        schedule = tuple(int(s) for s in schedule)
        if not schedule or min(schedule) < 1:
            raise ValueError(
                f"Received an invalid value for argument `schedule`, expected positive line "
                f"counts, got {schedule!r}"
            )
        self.schedule = schedule
        self.epoch = 0

    def max_lines(self, epoch: int | None = None) -> int:
        epoch = self.epoch if epoch is None else epoch
        return self.schedule[min(epoch, len(self.schedule) - 1)]


def _encode(lines: Sequence[str], charset) -> list:
    return [charset.encode(t, errors="ignore") for t in lines]


def _example(sample, charset, rng, max_lines):
    """(ink (H, W), [ids per line], line centres (rows; -1 without boxes)) of one paragraph, or
    of a window of its lines."""
    image = sample.load()
    lines, boxes = sample.lines, sample.boxes
    if max_lines and len(lines) > max_lines and boxes is not None:
        count = int(rng.integers(1, max_lines + 1))
        start = int(rng.integers(0, len(lines) - count + 1))
        image, top = line_window(image, boxes, start, count)
        lines = lines[start : start + count]
        boxes = [(x0, y0 - top, x1, y1 - top) for x0, y0, x1, y1 in boxes[start : start + count]]
    elif max_lines and len(lines) > max_lines:
        return None  # no boxes to cut a window by: wait for the curriculum to allow it
    centres = [(b[1] + b[3]) / 2 for b in boxes] if boxes is not None else [-1.0] * len(lines)
    return prepare_paragraph(image), _encode(lines, charset), centres


def _pad_batch(examples):
    heights = np.array([e[0].shape[0] for e in examples], np.int32)
    widths = np.array([e[0].shape[1] for e in examples], np.int32)
    n_lines = np.array([len(e[1]) for e in examples], np.int32)
    longest = max(1, max(len(ids) for e in examples for ids in e[1]))
    images = np.zeros((len(examples), heights.max(), widths.max(), 1), np.float32)
    labels = np.full((len(examples), n_lines.max(), longest), -1, np.int32)
    centres = np.full((len(examples), n_lines.max()), -1.0, np.float32)
    for k, (ink, ids, rows) in enumerate(examples):
        images[k, : ink.shape[0], : ink.shape[1], 0] = ink
        for t, line in enumerate(ids):
            labels[k, t, : len(line)] = line
        centres[k, : len(rows)] = rows
    x = {"image": images, "height": heights, "width": widths, "n_lines": n_lines}
    return x, {"labels": labels, "n_lines": n_lines, "line_centres": centres}


def paragraph_batches(samples, charset, batch_size, curriculum=None, shuffle=True, seed=0,
                      repeat=False, errors=None):
    """Python generator of padded batches `(x, y)`; paragraphs of similar size go together.

    A paragraph that cannot be read is skipped and its error appended to `errors` (if given).
    """
    rng = np.random.default_rng(seed)
    while True:
        order = rng.permutation(len(samples)) if shuffle else np.arange(len(samples))
        pool = batch_size * 16
        for begin in range(0, len(order), pool):
            examples = []
            for i in order[begin : begin + pool]:
                try:
                    ex = _example(samples[i], charset, rng, curriculum.max_lines() if curriculum else 0)
                except (ImageError, OSError, ValueError) as e:
                    if errors is not None:
                        errors.append(ReadError(samples[i].source or samples[i].image_path, str(e)))
                    continue
                if ex is not None:
                    examples.append(ex)
            if shuffle:  # by size, so padding stays small; batches in random order
                examples.sort(key=lambda e: (e[0].shape[0], e[0].shape[1]))
            batches = [examples[k : k + batch_size] for k in range(0, len(examples), batch_size)]
            for b in rng.permutation(len(batches)) if shuffle else range(len(batches)):
                yield _pad_batch(batches[b])
        if not repeat:
            return


def paragraph_dataset(samples, charset, batch_size=4, curriculum=None, shuffle=True, seed=0,
                      repeat=False, errors=None):
    """`tf.data.Dataset` of `(x, y)` for `ParagraphModel.fit/evaluate`.

    `x`: {"image": float32 (B, H, W, 1) ink, "height", "width", "n_lines": int32 (B,)};
    `y`: {"labels": int32 (B, lines, L) padded with -1, "n_lines", "line_centres": float32
    (B, lines), each line's vertical centre in pixels, -1 where no box is known}.
    """
    import tensorflow as tf

    if not samples:
        raise ValueError("Received an invalid value for argument `samples`, expected paragraphs, got none")
    i32 = tf.int32
    signature = (
        {
            "image": tf.TensorSpec((None, None, None, 1), tf.float32),
            "height": tf.TensorSpec((None,), i32),
            "width": tf.TensorSpec((None,), i32),
            "n_lines": tf.TensorSpec((None,), i32),
        },
        {
            "labels": tf.TensorSpec((None, None, None), i32),
            "n_lines": tf.TensorSpec((None,), i32),
            "line_centres": tf.TensorSpec((None, None), tf.float32),
        },
    )
    return tf.data.Dataset.from_generator(
        lambda: paragraph_batches(samples, charset, batch_size, curriculum, shuffle, seed, repeat, errors),
        output_signature=signature,
    ).prefetch(2)
