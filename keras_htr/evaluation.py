"""CER and WER of a line model on labelled lines: one function for the API, the CLI and `fit`.

`evaluate` runs the lines through a `Transcriber`, i.e. exactly the preprocessing, batching and
decoding users get from `transcribe`, so a validation CER logged during training, the number
`keras-htr evaluate` prints and the one `evaluate()` returns are the same quantity. The
Transcriber (and its `tf.function`s) is made once per model and reused, so evaluating after
every epoch does not trace the model again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import keras

from keras_htr.metrics import ErrorCounts

# Where a model keeps its Transcriber, so its tf.functions trace once per model, not once per
# call or epoch. An attribute (not a global cache) lets the model and it be freed together.
_TRANSCRIBER_ATTR = "_keras_htr_transcriber"


@dataclasses.dataclass
class Evaluation:
    """What `evaluate` measured.

    Attributes:
        counts: the `ErrorCounts` (edit and reference totals) over all lines.
        failed: `"source: reason"` for each line whose image could not be read or recognised;
            such a line counts as empty output (every reference character an error).
    """

    counts: ErrorCounts
    failed: list = dataclasses.field(default_factory=list)

    @property
    def cer(self) -> float:
        return self.counts.cer

    @property
    def wer(self) -> float:
        return self.counts.wer

    @property
    def lines(self) -> int:
        return self.counts.lines


def transcriber_for(model_or_transcriber):
    """The cached `Transcriber` of a `LineModel` (or the `Transcriber` given)."""
    from keras_htr.transcriber import Transcriber

    if isinstance(model_or_transcriber, Transcriber):
        return model_or_transcriber
    from keras_htr.models.line_model import check_line_model

    check_line_model(model_or_transcriber)
    transcriber = getattr(model_or_transcriber, _TRANSCRIBER_ATTR, None)
    if transcriber is None:
        transcriber = Transcriber(model_or_transcriber)
        # Plain object attribute: Keras' attribute tracking has no business with it.
        object.__setattr__(model_or_transcriber, _TRANSCRIBER_ATTR, transcriber)
    return transcriber


def evaluate(
    model,
    samples: Sequence,
    beam: int = 1,
    batch_size: int = 16,
    progress: bool = False,
    chunk: int = 256,
    lm=None,
) -> Evaluation:
    """Transcribes `samples` and counts character and word errors against their texts.

    Args:
        model: a `LineModel` or a `Transcriber`.
        samples: a sequence of `Sample` (e.g. a `LineDataset`, lazy or not).
        beam: 1 for greedy decoding, N > 1 for a beam search with N beams.
        batch_size: lines run through the model together.
        progress: show a tqdm progress bar (lines) on stderr.
        chunk: lines loaded into memory at a time (a lazy dataset need not fit in memory).
        lm: None, or a language model to decode with (see `Transcriber.transcribe`).

    Returns:
        An `Evaluation`; unreadable lines are in `failed` and count as empty output.

    Example:

    >>> result = evaluate(load_line_model("best.keras"), read_dataset("val/"))  # doctest: +SKIP
    >>> result.cer, result.wer                                                 # doctest: +SKIP
    """
    from tqdm.auto import tqdm

    from keras_htr.data.preprocess import ImageError

    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(
            f"Received an invalid value for argument `chunk`, expected a positive integer, got {chunk!r}"
        )
    transcriber = transcriber_for(model)
    if lm is not None:  # load the model once, not once per chunk
        from keras_htr.decoders.lm import LMDecoder

        lm = lm if isinstance(lm, LMDecoder) else LMDecoder(lm, transcriber.charset)
    samples = samples if hasattr(samples, "__getitem__") else list(samples)
    result = Evaluation(ErrorCounts())
    bar = tqdm(total=len(samples), disable=not progress, unit="line", desc="evaluate", leave=False)
    for start in range(0, len(samples), chunk):
        part = [samples[i] for i in range(start, min(start + chunk, len(samples)))]
        images, errors = [], {}
        for i, sample in enumerate(part):
            try:
                images.append((i, sample.image))
            except ImageError as e:
                errors[i] = str(e)
        done = transcriber.transcribe(
            [image for _, image in images], beam=beam, batch_size=batch_size, lm=lm
        )
        texts = {}
        for (i, _), transcription in zip(images, done):
            if transcription.error:
                # The Transcriber names an in-memory image `<array i>`; the sample knows better.
                errors[i] = transcription.error.removeprefix(f"{transcription.source}: ")
            texts[i] = transcription.text
        for i, sample in enumerate(part):
            if i in errors:
                message = errors[i]
                result.failed.append(message if sample.source in message else f"{sample.source}: {message}")
            result.counts.update(sample.text, texts.get(i, ""))
        bar.update(len(part))
    bar.close()
    return result


class ErrorRateCallback(keras.callbacks.Callback):
    """Adds `val_cer` and `val_wer` to the epoch logs: `evaluate` of the model on `samples`.

    Put it before `ModelCheckpoint` / `EarlyStopping` in the callback list so they can monitor
    `val_cer`: Keras calls callbacks in order with the same logs dict. It is the only pass over
    the validation lines; `fit` needs no `validation_data` for it.

    Args:
        samples: the validation lines (a sequence of `Sample`, e.g. a `LineDataset`).
        beam: beam width (1: greedy decoding, the fast default).
        batch_size: lines per batch.
        prefix: name prefix of the logged values.
    """

    def __init__(self, samples, beam: int = 1, batch_size: int = 16, prefix: str = "val_"):
        super().__init__()
        if hasattr(samples, "element_spec"):
            raise ValueError(
                "Received an invalid value for argument `samples`, expected a sequence of "
                "`Sample` (e.g. from `read_dataset`), got a tf.data.Dataset"
            )
        self.samples = samples
        self.beam = beam
        self.batch_size = batch_size
        self.prefix = prefix
        self.last: Evaluation | None = None

    def on_epoch_end(self, epoch, logs=None):
        self.last = evaluate(self.model, self.samples, beam=self.beam, batch_size=self.batch_size)
        if logs is not None:
            logs[f"{self.prefix}cer"] = self.last.cer
            logs[f"{self.prefix}wer"] = self.last.wer


__all__ = ["ErrorRateCallback", "Evaluation", "evaluate", "transcriber_for"]
