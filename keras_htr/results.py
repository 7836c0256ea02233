"""What every backend returns: one `Transcription` per input, whatever ran the model.

The Keras `Transcriber`, the SavedModel and TFLite runners and the TF Serving client all answer
with these records, so callers and writers (text, TSV, JSONL) do not care which backend ran.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Character:
    """One character of a transcription, where it is and how sure the model is of it.

    Attributes:
        char: the character.
        confidence: the highest posterior of its label over the frames the CTC alignment
            gives it (the best path for greedy decoding, the forced alignment of the text
            otherwise), in [0, 1].
        x_start, x_end: the span of those frames in input-image pixels (columns, taken on the
            line's middle row: slant correction leans a character's ink around it); -1 when
            the text could not be aligned.
    """

    char: str
    confidence: float
    x_start: float
    x_end: float


@dataclasses.dataclass(frozen=True)
class Transcription:
    """The result for one input: `text` and `score` (confidence in [0, 1]), or an `error`.

    Attributes:
        source: the path, or `<bytes i>` / `<array i>` for in-memory inputs.
        text: the recognised text ("" on error).
        score: decoder confidence (see `greedy_decode` / `beam_decode`); 0.0 on error.
        error: None, or why this input could not be transcribed.
        characters: one `Character` per character of `text` (empty on error, and from the
            backends that do not compute them: SavedModel, TFLite, TF Serving).
    """

    source: str
    text: str = ""
    score: float = 0.0
    error: Optional[str] = None
    characters: tuple = ()

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass(frozen=True)
class LineResult:
    """One line a paragraph model read, and where its attention put it.

    Attributes:
        text: the line's text.
        confidence: decoder confidence of the line in [0, 1] (as `Transcription.score`).
        y_top, y_bottom: the rows (input-image pixels) of the window the attention read,
            weighted by the attention: where the line lies vertically.
        y_centre: the attention-weighted centre row of the line (input-image pixels).
        x_start, x_end: the horizontal extent of the ink between `y_top` and `y_bottom`
            (input-image pixels; the image's full width when that band holds no ink).
    """

    text: str
    confidence: float
    y_top: float
    y_bottom: float
    y_centre: float
    x_start: float = 0.0
    x_end: float = 0.0


@dataclasses.dataclass(frozen=True)
class ParagraphTranscription:
    """The result of a paragraph model for one input image: its lines, or an `error`.

    Attributes:
        source: the path, or `<bytes i>` / `<array i>` for in-memory inputs.
        text: the lines' texts joined by "\\n" ("" on error or for a page without ink).
        lines: one `LineResult` per line read, top to bottom.
        error: None, or why this input could not be transcribed.
        truncated: True when the model read its maximum number of lines without deciding the
            paragraph had ended: lines past that cap were not read.
        image_size: (width, height) of the input image in pixels ((0, 0) on error).
        attention: float32 (lines, height): each line's attention over the input image's
            rows (for drawing it; not part of the text formats). None on error.
    """

    source: str
    text: str = ""
    lines: tuple = ()
    error: Optional[str] = None
    truncated: bool = False
    image_size: tuple = (0, 0)
    attention: object = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def score(self) -> float:
        """Mean line confidence (1.0 for a page with no line; 0.0 on error)."""
        if self.error:
            return 0.0
        if not self.lines:
            return 1.0
        return sum(line.confidence for line in self.lines) / len(self.lines)


def source_name(item, index: int) -> str:
    """How a result names its input: the path, or `<bytes i>` / `<array i>` in memory."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, (bytes, bytearray)):
        return f"<bytes {index}>"
    return f"<array {index}>"


def one_line(error: BaseException) -> str:
    """`Type: message` on one line, for a result's `error` (TF errors carry a multi-line trace;
    its last line says why)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[-1] if lines else ''}".rstrip(": ")


__all__ = [
    "Character", "LineResult", "ParagraphTranscription", "Transcription", "one_line", "source_name",
]  # fmt: skip
