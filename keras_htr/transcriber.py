"""`Transcriber`: images or files in, text out, one result per input, bad inputs reported not raised."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from keras_htr.data.preprocess import MAX_LINE_WIDTH
from keras_htr.results import Transcription, one_line, source_name

#: Environment variable naming the model `load_transcriber(None)` loads instead of the shipped one.
MODEL_ENV = "KERAS_HTR_MODEL"
#: The shipped model. Package data, so it installs with the package (wheel, `pip install .`,
#: editable); `scripts/release_shipped_model.py` writes it here.
SHIPPED_MODEL = Path(__file__).resolve().parent / "shipped" / "htr_line.keras"


class Transcriber:
    """Transcribes line images with a `LineModel`, using the preprocessing it was trained with.

    Args:
        model: a `LineModel` (owns `charset` and `preprocess_config`).

    Example:

    >>> transcriber = load_transcriber()                       # doctest: +SKIP
    >>> transcriber.transcribe(["examples/line1.png"])[0].text  # doctest: +SKIP
    """

    def __init__(self, model):
        import tensorflow as tf

        from keras_htr.data.preprocess import preprocess_line

        self.model = model
        self.charset = model.charset
        self.preprocess_config = model.preprocess_config
        config = self.preprocess_config
        # One trace for all images (any size), one per padded batch width for the model.
        self._preprocess = tf.function(
            lambda gray: preprocess_line(gray, config, return_geometry=True),
            input_signature=[tf.TensorSpec([None, None], tf.uint8)],
        )
        self._logits = tf.function(
            lambda inputs: (model(inputs, training=False), model.output_lengths(inputs["width"])),
            reduce_retracing=True,
        )

    def _prepare(self, item, source: str):
        """Load and preprocess one input: (line float32 (h, W, 1), None) or (None, error)."""
        line, _, error = self._prepare_with_geometry(item, source)
        return line, error

    def _prepare_with_geometry(self, item, source: str):
        """`_prepare`, plus where the line's columns lie in the image: (line, geometry, None)
        or (None, None, error); geometry as from `preprocess_line(..., return_geometry=True)`."""
        from keras_htr.data.preprocess import ImageError, load_image

        try:
            gray = load_image(item)
            if min(gray.shape) < 2:
                return None, None, (
                    f"{source}: image of {gray.shape[1]}x{gray.shape[0]} pixels is too small "
                    f"for a text line"
                )
            line, geometry = self._preprocess(np.ascontiguousarray(gray, np.uint8))
            line, geometry = line.numpy(), geometry.numpy()
        except ImageError as e:
            message = str(e)
            if source not in message:
                message = f"{source}: {message}"
            return None, None, message
        except Exception as e:  # a bad input must not stop the others
            return None, None, f"{source}: cannot preprocess image ({one_line(e)})"
        if line.shape[1] > MAX_LINE_WIDTH:
            return None, None, (
                f"{source}: line is {line.shape[1]} pixels wide after scaling to height "
                f"{line.shape[0]} (limit {MAX_LINE_WIDTH}); is this a single text line?"
            )
        return line, geometry, None

    def _characters(self, logits, lengths, texts, geometries, greedy: bool) -> list:
        """Per-character confidences and image x-positions (`Character`s) for each text.

        Greedy texts take their best path's alignment; others (beam, LM) are aligned to the
        frames by `forced_alignment`.
        """
        import tensorflow as tf

        from keras_htr.decoders.alignment import characters, forced_alignment

        stride = self.model.horizontal_stride
        if greedy:
            from keras_htr.decoders.greedy import greedy_alignment

            _, _, confidence, first, last = (x.numpy() for x in greedy_alignment(logits, lengths))
            return [
                characters(text, first[b], last[b], confidence[b], geometries[b], stride)
                for b, text in enumerate(texts)
            ]
        log_probs = tf.nn.log_softmax(logits, axis=-1).numpy()
        out = []
        for b, (text, n) in enumerate(zip(texts, lengths.numpy())):
            ids = self.charset.encode(text, errors="ignore")
            if len(ids) == len(text):
                first, last, confidence = forced_alignment(log_probs[b, : int(n)], ids)
            else:  # a symbol outside the alphabet: no alignment
                first = last = [-1] * len(text)
                confidence = [0.0] * len(text)
            out.append(characters(text, first, last, confidence, geometries[b], stride))
        return out

    def _decode(self, logits, lengths, beam: int, lm=None):
        if lm is not None:  # an LMDecoder: beam search with a language model
            import tensorflow as tf

            found = lm.decode(tf.nn.log_softmax(logits, axis=-1).numpy(), lengths.numpy())
            return [text for text, _ in found], [score for _, score in found]
        if beam > 1:
            from keras_htr.decoders.beam import beam_decode

            ids, scores = beam_decode(logits, lengths, beam_width=beam)
        else:
            from keras_htr.decoders.greedy import greedy_decode

            ids, scores = greedy_decode(logits, lengths)
        return [self.charset.decode(row) for row in ids.numpy()], scores.numpy().tolist()

    def transcribe(
        self,
        images_or_paths: Sequence,
        beam: int = 1,
        batch_size: int = 16,
        progress: bool = False,
        lm=None,
    ) -> list[Transcription]:
        """One `Transcription` per input, in input order.

        Args:
            images_or_paths: file paths, encoded image bytes, or gray/RGB arrays of any dtype
                (read like `load_image`: floats in [0, 1] or [0, 255], 16-bit, ...).
            beam: 1 for greedy decoding, N > 1 for a beam search with N beams.
            batch_size: lines run through the model together (sorted by width to limit padding).
            progress: show a tqdm progress bar on stderr.
            lm: None, or a language model for a beam search with it (then `beam` is unused): an
                `LMDecoder`, a path of an ARPA model, or `"en"` (the shipped English model), or
                a (word model, character model) pair. For a lexicon or other weights pass an
                `LMDecoder(lm, charset, lexicon=..., alpha=..., ...)`.

        Returns:
            list of `Transcription`; unreadable inputs have `error` set, the others are unaffected.
        """
        from keras_htr.data.pipeline import pad_batch

        check_positive(beam=beam, batch_size=batch_size)
        lm = lm_decoder(lm, self.charset)
        items, sources = inputs_of(images_or_paths)
        results: list[Optional[Transcription]] = [None] * len(items)
        bar = progress_bar(len(items), progress)

        lines, geometries = {}, {}
        for i, (item, source) in enumerate(zip(items, sources)):
            line, geometry, error = self._prepare_with_geometry(item, source)
            if error is not None:
                results[i] = Transcription(source, error=error)
                bar.update(1)
            else:
                lines[i], geometries[i] = line, geometry

        def run(batch):
            logits, lengths = self._logits(pad_batch([lines[i] for i in batch]))
            texts, scores = self._decode(logits, lengths, beam, lm)
            chars = self._characters(
                logits, lengths, texts, [geometries[i] for i in batch], beam == 1 and lm is None
            )
            for i, text, score, c in zip(batch, texts, scores, chars):
                results[i] = Transcription(sources[i], text, float(score), characters=c)

        def fail(batch, reason):
            for i in batch:
                results[i] = Transcription(sources[i], error=f"{sources[i]}: {reason}")

        run_in_batches(sorted(lines, key=lambda i: lines[i].shape[1]), batch_size, run, fail, bar)
        bar.close()
        return results

    def posteriors(self, images_or_paths: Sequence, batch_size: int = 16) -> list:
        """The model's frame log-probabilities per input, with the preprocessing of `transcribe`.

        What keyword indexing (`keras_htr.search`) and other decoders work on.

        Returns:
            one `(log_probs, source, error)` per input, in input order: float32 (T, C)
            log-softmax over the line's own frames and None, or None and why it failed.
        """
        import tensorflow as tf

        from keras_htr.data.pipeline import pad_batch

        check_positive(batch_size=batch_size)
        items, sources = inputs_of(images_or_paths)
        results: list = [None] * len(items)
        lines = {}
        for i, (item, source) in enumerate(zip(items, sources)):
            line, error = self._prepare(item, source)
            if error is not None:
                results[i] = (None, source, error)
            else:
                lines[i] = line

        def run(batch):
            logits, lengths = self._logits(pad_batch([lines[i] for i in batch]))
            log_probs = tf.nn.log_softmax(logits, axis=-1).numpy()
            for i, row, n in zip(batch, log_probs, lengths.numpy()):
                results[i] = (row[: int(n)], sources[i], None)

        def fail(batch, reason):
            for i in batch:
                results[i] = (None, sources[i], f"{sources[i]}: {reason}")

        run_in_batches(sorted(lines, key=lambda i: lines[i].shape[1]), batch_size, run, fail)
        return results


def check_positive(**values) -> None:
    """Raises ValueError naming the first argument that is not a positive int."""
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"Received an invalid value for argument `{name}`, expected a positive "
                f"integer, got {value!r}"
            )


def lm_decoder(lm, charset):
    """None, or `lm` as an `LMDecoder` over `charset` (see `Transcriber.transcribe`)."""
    if lm is None:
        return None
    from keras_htr.decoders.lm import LMDecoder

    return lm if isinstance(lm, LMDecoder) else LMDecoder(lm, charset)


def inputs_of(images_or_paths) -> tuple[list, list[str]]:
    """The inputs of a `transcribe` call and their source names; one path, bytes or array alone
    is one input."""
    if isinstance(images_or_paths, (str, os.PathLike, bytes, np.ndarray)):
        images_or_paths = [images_or_paths]
    items = list(images_or_paths)
    return items, [source_name(item, i) for i, item in enumerate(items)]


def run_in_batches(order: Sequence, batch_size: int, run, fail, bar=None) -> None:
    """`run(batch)` on each `batch_size` slice of `order`; a batch that raises goes to
    `fail(batch, reason)` instead, so an input that breaks the model (out of memory on a huge
    image) fails its batch only and the rest are transcribed."""
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        try:
            run(batch)
        except Exception as e:  # noqa: BLE001 (reported in the result, the rest go on)
            fail(batch, f"recognition failed ({one_line(e)})")
        if bar is not None:
            bar.update(len(batch))


def progress_bar(total: int, enabled: bool, unit: str = "line"):
    from tqdm.auto import tqdm

    return tqdm(total=total, disable=not enabled, unit=unit, desc="transcribe", leave=False)


def default_model_path() -> Path:
    """The model used when none is given: `$KERAS_HTR_MODEL` if set, else `SHIPPED_MODEL`."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    return SHIPPED_MODEL


def load_line_model(path=None):
    """The `LineModel` saved at `path` (a `.keras` file); None is the shipped model.

    Raises:
        FileNotFoundError: no model at `path` (or no shipped model), with where it looked.
        ValueError: the file holds some other Keras model.
    """
    import keras

    import keras_htr.models  # noqa: F401  (registers the model's classes for deserialization)
    from keras_htr.models.line_model import LineModel, check_line_model_file

    model_path = Path(path) if path is not None else default_model_path()
    if not model_path.is_file():
        hint = (
            f" (set ${MODEL_ENV} or pass a path: no shipped model was found)" if path is None else ""
        )
        raise FileNotFoundError(f"No model file at {model_path}{hint}")
    # Refuse a paragraph model (or any other) by name, before Keras fails on its classes.
    check_line_model_file(model_path)
    model = keras.models.load_model(model_path, compile=False)
    if not isinstance(model, LineModel):
        raise ValueError(f"{model_path}: expected a keras-htr LineModel, got {type(model).__name__}")
    return model


def load_transcriber(path=None):
    """A `Transcriber` for the `.keras` model at `path`; None is the shipped model.

    A file holding a paragraph model (`keras_htr>ParagraphModel`, read from the file before
    loading) gives a `keras_htr.paragraph_transcriber.ParagraphTranscriber` instead.
    """
    from keras_htr.models.line_model import saved_model_kind
    from keras_htr.models.paragraph import PARAGRAPH_MODEL_NAME

    model_path = Path(path) if path is not None else default_model_path()
    if model_path.is_file() and saved_model_kind(model_path) == PARAGRAPH_MODEL_NAME:
        from keras_htr.paragraph_transcriber import load_paragraph_transcriber

        return load_paragraph_transcriber(model_path)
    return Transcriber(load_line_model(path))


__all__ = [
    "MODEL_ENV",
    "SHIPPED_MODEL",
    "Transcriber",
    "default_model_path",
    "load_line_model",
    "load_transcriber",
]
