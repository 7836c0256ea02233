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


def source_name(item, index: int) -> str:
    """How a result names its input: the path, or `<bytes i>` / `<array i>` in memory."""
    if isinstance(item, (str, os.PathLike)):
        return os.fspath(item)
    if isinstance(item, (bytes, bytearray)):
        return f"<bytes {index}>"
    return f"<array {index}>"


__all__ = ["Character", "Transcription", "source_name"]
