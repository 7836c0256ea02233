"""`ParagraphTranscriber`: paragraph images in, lines of text out, with a `ParagraphModel`.

An image is brought to the line pitch the model reads (`prepare_block`, TF ops, so the exported
SavedModel does exactly the same), the model's vertical attention reads one line per step until
its end head says the paragraph is over (at most `max_lines`), and each line is CTC-decoded.
Each line's vertical position comes from its attention. Also here: the PAGE XML writer and the
attention-map picture of a result.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from keras_htr.data.paragraph import LINE_PITCH
from keras_htr.results import LineResult, ParagraphTranscription, one_line
from keras_htr.transcriber import (
    check_positive,
    inputs_of,
    lm_decoder,
    progress_bar,
    run_in_batches,
)

#: Largest block (pixels, after scaling to the line pitch) read in one go: a full page at the
#: model's scale is ~1-2 Mpx; far more means a wrong scale or not a text block.
MAX_BLOCK_PIXELS = 6_000_000
PAGE_NAMESPACE = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"


# ---------------------------------------------------------------------------------------------
# Preprocessing (TF ops: the same in `transcribe` and in the SavedModel)


def _percentile(values, q: float):
    """np.percentile(values, q) (linear interpolation) of a 1-D float tensor."""
    import tensorflow as tf

    ordered = tf.sort(values)
    n = tf.shape(ordered)[0]
    position = q / 100.0 * tf.cast(n - 1, tf.float32)
    low = tf.cast(tf.floor(position), tf.int32)
    high = tf.minimum(low + 1, n - 1)
    frac = position - tf.cast(low, tf.float32)
    return ordered[low] + frac * (ordered[high] - ordered[low])


def _ink(gray):
    """uint8 (H, W) -> float32 ink (paper 0, ink 1), as `data.paragraph.prepare_paragraph`."""
    import tensorflow as tf

    ink = 255.0 - tf.cast(gray, tf.float32)
    flat = tf.reshape(ink, [-1])
    low = _percentile(flat, 50.0)
    high = tf.maximum(_percentile(flat, 99.5), low + 32.0)
    return tf.clip_by_value((ink - low) / (high - low), 0.0, 1.0)


def _line_pitch(ink):
    """Line pitch (rows) from the autocorrelation of the ink profile, as
    `keras_htr.data.paragraph.estimate_line_pitch`; -1 for a block with fewer than two lines."""
    import tensorflow as tf

    profile = tf.reduce_sum(ink, axis=1)
    profile = profile - tf.reduce_mean(profile)
    n = tf.shape(profile)[0]

    def measure():
        signal = tf.pad(profile, [[0, n]])[None, :, None]
        corr = tf.nn.conv1d(signal, profile[:, None, None], 1, "VALID")[0, :n, 0]
        corr = corr / corr[0]
        local_max = tf.nn.max_pool1d(corr[None, :, None], 7, 1, "SAME")[0, :, 0]
        lags = tf.range(n)
        peak = (lags >= 4) & (lags < n // 2) & (corr > 0.15) & (corr >= local_max)
        found = tf.cast(tf.where(peak), tf.int32)
        return tf.cond(
            tf.size(found) > 0, lambda: tf.cast(found[0, 0], tf.float32), lambda: tf.constant(-1.0)
        )

    usable = (n >= 16) & (tf.reduce_sum(profile * profile) > 1e-6)
    return tf.cond(usable, measure, lambda: tf.constant(-1.0))


def prepare_block(gray, pitch: float | None = LINE_PITCH):
    """A paragraph image as the model reads it.

    Args:
        gray: uint8 (H, W), dark ink on light paper.
        pitch: line pitch the model was trained at (pixels); None keeps the image's scale.

    Returns:
        (ink float32 (h, w) scaled so lines are `pitch` px apart (a single line: its ink
        0.75 x `pitch` high), factor float32 (h = H x factor), has_ink bool).
    """
    import tensorflow as tf

    gray = tf.convert_to_tensor(gray, tf.uint8)
    ink = _ink(gray)
    rows = tf.where(tf.reduce_max(ink, axis=1) > 0.5)[:, 0]
    has_ink = tf.size(rows) > 0
    if pitch is None:
        return ink, tf.constant(1.0), has_ink
    measured = _line_pitch(ink)
    height = tf.cond(has_ink, lambda: tf.cast(rows[-1] - rows[0] + 1, tf.float32), lambda: 0.0)
    factor = tf.where(
        measured > 0, pitch / tf.maximum(measured, 1.0),
        tf.where(height > 0, 0.75 * pitch / tf.maximum(height, 1.0), 1.0),
    )
    size = tf.cast(tf.shape(ink), tf.float32) * factor
    size = tf.maximum(tf.cast(tf.round(size), tf.int32), 1)
    scaled = tf.image.resize(ink[..., None], size, method="bilinear", antialias=True)[..., 0]
    return tf.clip_by_value(scaled, 0.0, 1.0), factor, has_ink


# ---------------------------------------------------------------------------------------------
# Transcriber


class ParagraphTranscriber:
    """Transcribes paragraph images (text blocks) with a `ParagraphModel`.

    Args:
        model: a `ParagraphModel`.
        pitch: the line pitch (pixels) images are scaled to; None reads them at their own
            scale (for images already at the model's scale). Defaults to `LINE_PITCH` (40).

    Example:

    >>> transcriber = load_transcriber("saved_models/htr_paragraph.keras")  # doctest: +SKIP
    >>> print(transcriber.transcribe(["block.png"])[0].text)                # doctest: +SKIP
    """

    def __init__(self, model, pitch: float | None = LINE_PITCH):
        import tensorflow as tf

        for attribute in ("read_paragraph", "charset", "max_lines"):
            if not hasattr(model, attribute):
                raise ValueError(
                    f"Received an invalid value for argument `model`, expected a keras_htr "
                    f"ParagraphModel, got {type(model).__name__}"
                )
        self.model = model
        self.charset = model.charset
        self._prepare = tf.function(
            lambda gray: prepare_block(gray, pitch),
            input_signature=[tf.TensorSpec([None, None], tf.uint8)],
        )
        self._read = tf.function(
            lambda inputs: model(inputs, training=False), reduce_retracing=True
        )

    def _load(self, item, source: str):
        """(gray, ink, factor, has_ink, None) or (None, ..., error)."""
        from keras_htr.data.preprocess import ImageError, load_image

        try:
            gray = load_image(item)
            if min(gray.shape) < 2:
                return None, None, None, None, (
                    f"{source}: image of {gray.shape[1]}x{gray.shape[0]} pixels is too small "
                    f"for a text block"
                )
            ink, factor, has_ink = self._prepare(np.ascontiguousarray(gray, np.uint8))
        except ImageError as e:
            message = str(e)
            return None, None, None, None, message if source in message else f"{source}: {message}"
        except Exception as e:  # a bad input must not stop the others
            return None, None, None, None, f"{source}: cannot preprocess image ({one_line(e)})"
        ink = ink.numpy()
        if ink.size > MAX_BLOCK_PIXELS:
            return None, None, None, None, (
                f"{source}: block is {ink.shape[1]}x{ink.shape[0]} pixels after scaling to a "
                f"{LINE_PITCH}-px line pitch (limit {MAX_BLOCK_PIXELS} pixels); is this one "
                f"text block?"
            )
        return gray, ink, float(factor), bool(has_ink), None

    def transcribe(
        self,
        images_or_paths: Sequence,
        beam: int = 1,
        batch_size: int = 4,
        progress: bool = False,
        lm=None,
    ) -> list[ParagraphTranscription]:
        """One `ParagraphTranscription` per input, in input order.

        Args:
            images_or_paths: file paths, encoded image bytes, or gray/RGB arrays.
            beam: 1 for greedy decoding of each line, N > 1 for a beam search with N beams.
            batch_size: paragraphs run through the model together (sorted by size).
            progress: show a tqdm progress bar on stderr.
            lm: None, or a language model for each line's beam search (as in
                `Transcriber.transcribe`).

        Returns:
            list of `ParagraphTranscription`; unreadable inputs have `error` set. A page
            without ink gives no lines. At most `model.max_lines` lines are read from an
            image; `truncated` says when the model hit that cap.
        """
        check_positive(beam=beam, batch_size=batch_size)
        lm = lm_decoder(lm, self.charset)
        items, sources = inputs_of(images_or_paths)
        results: list[ParagraphTranscription | None] = [None] * len(items)
        bar = progress_bar(len(items), progress, unit="image")
        loaded = {}
        for i, (item, source) in enumerate(zip(items, sources)):
            gray, ink, factor, has_ink, error = self._load(item, source)
            if error is not None:
                results[i] = ParagraphTranscription(source, error=error)
                bar.update(1)
            elif not has_ink:  # nothing to read: no lines, and no model run to invent one
                h, w = gray.shape
                results[i] = ParagraphTranscription(
                    source, image_size=(w, h), attention=np.zeros((0, h), np.float32)
                )
                bar.update(1)
            else:
                loaded[i] = (gray.shape, ink, factor)

        def run(batch):
            out = self._run([loaded[i][1] for i in batch])
            for k, i in enumerate(batch):
                results[i] = self._result(sources[i], out, k, *loaded[i], beam, lm)

        def fail(batch, reason):
            for i in batch:
                results[i] = ParagraphTranscription(sources[i], error=f"{sources[i]}: {reason}")

        run_in_batches(sorted(loaded, key=lambda i: loaded[i][1].shape), batch_size, run, fail, bar)
        bar.close()
        return results

    def _run(self, inks):
        heights = np.array([ink.shape[0] for ink in inks], np.int32)
        widths = np.array([ink.shape[1] for ink in inks], np.int32)
        images = np.zeros((len(inks), heights.max(), widths.max(), 1), np.float32)
        for k, ink in enumerate(inks):
            images[k, : ink.shape[0], : ink.shape[1], 0] = ink
        out = self._read({"image": images, "height": heights, "width": widths})
        return {key: value.numpy() for key, value in out.items()}

    def _result(self, source, out, k, shape, ink, factor, beam, lm):
        """The `ParagraphTranscription` of item `k` of a batch's outputs."""
        model = self.model
        height, width = shape
        read = int(out["n_lines"][k])
        count = min(read, out["logits"].shape[1])
        stride, window = model.stride_h, model.window
        rows = -(-ink.shape[0] // stride)
        attention = out["attention"][k, :count, :rows].astype(np.float32)
        texts, scores = decode_lines(
            out["logits"][k, :count], np.full(count, out["lengths"][k]), self.charset, beam, lm
        )
        lines, profiles = [], []
        starts = stride * np.arange(rows, dtype=np.float64)
        for t in range(count):
            a = attention[t] / max(float(attention[t].sum()), 1e-9)
            top = float(a @ starts)  # the attended window starts here (scaled pixels)
            bottom = top + stride * window
            y_top, y_bottom = max(0.0, top / factor), min(float(height), bottom / factor)
            band = ink[int(top) : int(np.ceil(bottom))]
            cols = np.nonzero(band.max(0) > 0.5)[0] if band.size else np.array([], int)
            x_start, x_end = (0.0, width)
            if cols.size:
                x_start, x_end = cols[0] / factor, (cols[-1] + 1) / factor
            lines.append(LineResult(
                texts[t], float(scores[t]), round(y_top, 1), round(y_bottom, 1),
                round((y_top + y_bottom) / 2, 1), round(float(x_start), 1),
                round(min(float(x_end), width), 1),
            ))
            # Attention over the image's rows: row r is in the windows of rows r-k+1..r.
            per_row = np.convolve(a, np.ones(window))[:rows]
            scaled = np.repeat(per_row, stride)[: ink.shape[0]]
            at = np.minimum((np.arange(height) * factor).astype(int), scaled.size - 1)
            profiles.append(scaled[at])
        return ParagraphTranscription(
            source, "\n".join(texts), tuple(lines), truncated=read >= model.max_lines,
            image_size=(width, height),
            attention=np.array(profiles, np.float32).reshape(count, height),
        )


def decode_lines(logits, lengths, charset, beam: int = 1, lm=None):
    """(texts, scores) of CTC logits (lines, frames, classes): greedy, beam or with an LM."""
    import tensorflow as tf

    if len(logits) == 0:
        return [], []
    if lm is not None:
        found = lm.decode(tf.nn.log_softmax(logits, axis=-1).numpy(), np.asarray(lengths))
        return [text for text, _ in found], [score for _, score in found]
    if beam > 1:
        from keras_htr.decoders.beam import beam_decode

        ids, scores = beam_decode(logits, lengths, beam_width=beam)
    else:
        from keras_htr.decoders.greedy import greedy_decode

        ids, scores = greedy_decode(logits, lengths)
    return [charset.decode(row) for row in ids.numpy()], scores.numpy().tolist()


# ---------------------------------------------------------------------------------------------
# Loading


def load_paragraph_model(path):
    """The `ParagraphModel` saved at `path` (a `.keras` file).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: the file holds some other model.
    """
    import keras

    import keras_htr.models  # noqa: F401  (registers the classes for deserialization)
    from keras_htr.models.line_model import saved_model_kind
    from keras_htr.models.paragraph import PARAGRAPH_MODEL_NAME, ParagraphModel

    kind = saved_model_kind(path)
    if kind != PARAGRAPH_MODEL_NAME:
        raise ValueError(
            f"{path} holds a {kind}, not a keras-htr paragraph model ({PARAGRAPH_MODEL_NAME})"
        )
    model = keras.models.load_model(path, compile=False)
    if not isinstance(model, ParagraphModel):
        raise ValueError(f"{path}: expected a keras-htr ParagraphModel, got {type(model).__name__}")
    return model


def load_paragraph_transcriber(path) -> ParagraphTranscriber:
    """A `ParagraphTranscriber` for the paragraph model saved at `path`."""
    return ParagraphTranscriber(load_paragraph_model(path))


# ---------------------------------------------------------------------------------------------
# Writers


def page_xml(result: ParagraphTranscription, image_filename: str) -> str:
    """PAGE XML (2019 schema) of a result: one TextRegion, one TextLine per line read, each
    with the box of its attention rows x its ink's extent and its text (TextEquiv/Unicode).

    `keras_htr.data.paragraph.read_paragraphs` reads it back.
    """
    import datetime
    import xml.etree.ElementTree as ET

    if not result.ok:
        raise ValueError(
            f"Received an invalid value for argument `result`, expected a result without "
            f"error, got {result.error!r}"
        )

    def points(x0, y0, x1, y1):
        x0, y0, x1, y1 = (round(v) for v in (x0, y0, x1, y1))
        return f"{x0},{y0} {x1},{y0} {x1},{y1} {x0},{y1}"

    def text_equiv(parent, text):
        ET.SubElement(ET.SubElement(parent, "TextEquiv"), "Unicode").text = text

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    root = ET.Element("PcGts", xmlns=PAGE_NAMESPACE)
    meta = ET.SubElement(root, "Metadata")
    ET.SubElement(meta, "Creator").text = "keras-htr"
    ET.SubElement(meta, "Created").text = now
    ET.SubElement(meta, "LastChange").text = now
    width, height = result.image_size
    page = ET.SubElement(root, "Page", imageFilename=image_filename, imageWidth=str(width),
                         imageHeight=str(height))
    if result.lines:
        region = ET.SubElement(page, "TextRegion", id="r0")
        box = (min(li.x_start for li in result.lines), min(li.y_top for li in result.lines),
               max(li.x_end for li in result.lines), max(li.y_bottom for li in result.lines))
        ET.SubElement(region, "Coords", points=points(*box))
        for k, line in enumerate(result.lines):
            element = ET.SubElement(region, "TextLine", id=f"r0l{k}",
                                    custom=f"confidence:{line.confidence:.4f}")
            ET.SubElement(element, "Coords",
                          points=points(line.x_start, line.y_top, line.x_end, line.y_bottom))
            text_equiv(element, line.text)
        text_equiv(region, result.text)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


#: Colours of successive lines in `attention_map` (repeating).
PALETTE = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180),
                    (70, 240, 240), (240, 50, 230), (128, 128, 0), (0, 128, 128), (170, 110, 40)],
                   np.float32)


def attention_map(gray: np.ndarray, result: ParagraphTranscription) -> np.ndarray:
    """uint8 RGB (H, W, 3): the image with each line's attention as a coloured band over the
    rows it read (colour = line, strength = attention), line k in `PALETTE[k % 10]`."""
    gray = np.asarray(gray, np.float32)
    rgb = np.repeat(gray[..., None], 3, axis=2)
    attention = result.attention if result.attention is not None else np.zeros((0, gray.shape[0]))
    if len(attention) == 0:
        return rgb.astype(np.uint8)
    strongest = attention.argmax(0)  # the line owning each row
    weight = attention.max(0) / max(float(attention.max()), 1e-9)
    alpha = (0.6 * weight)[:, None, None]
    colour = PALETTE[strongest % len(PALETTE)][:, None, :]
    return np.clip(rgb * (1 - alpha) + colour * alpha, 0, 255).astype(np.uint8)


def write_attention_map(gray: np.ndarray, result: ParagraphTranscription, path) -> Path:
    """Writes `attention_map(gray, result)` as a PNG at `path`; returns the path."""
    from PIL import Image

    path = Path(path)
    Image.fromarray(attention_map(gray, result)).save(path)
    return path




def write_outputs(results, page_dir=None, attention_dir=None) -> tuple[list, list]:
    """Writes, for each result of an image file, `<page_dir>/<stem>.xml` (PAGE XML) and/or
    `<attention_dir>/<stem>.attention.png`. An existing file is not overwritten: that image's
    result becomes an error naming it, and the other images are still written.

    Returns:
        (results, page paths): the results (failed writes turned into errors) and, per result,
        the PAGE XML file written (None if none).
    """
    import dataclasses

    from keras_htr.data.preprocess import load_image

    results = list(results)
    pages: list = [None] * len(results)
    for folder in (page_dir, attention_dir):
        if folder is not None:
            Path(folder).mkdir(parents=True, exist_ok=True)
    for k, result in enumerate(results):
        if not result.ok:
            continue
        stem = Path(result.source).stem
        try:
            if page_dir is not None:
                target = Path(page_dir) / f"{stem}.xml"
                with open(target, "x", encoding="utf-8") as f:  # "x": never overwrite
                    f.write(page_xml(result, Path(result.source).name))
                pages[k] = str(target)
            if attention_dir is not None:
                target = Path(attention_dir) / f"{stem}.attention.png"
                if target.exists():
                    raise FileExistsError(f"{target} exists")
                write_attention_map(load_image(result.source), result, target)
        except (OSError, ValueError) as e:
            results[k] = dataclasses.replace(
                result, error=f"{result.source}: cannot write output ({e})"
            )
    return results, pages


__all__ = [
    "MAX_BLOCK_PIXELS",
    "ParagraphTranscriber",
    "attention_map",
    "decode_lines",
    "load_paragraph_model",
    "load_paragraph_transcriber",
    "page_xml",
    "prepare_block",
    "write_attention_map",
    "write_outputs",
]
