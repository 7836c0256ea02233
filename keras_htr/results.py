"""What every backend returns: one `Transcription` per input, whatever ran the model.

The Keras `Transcriber`, the SavedModel and TFLite runners and the TF Serving client all answer
with these records, so callers and writers (text, TSV, JSONL) do not care which backend ran.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional


@dataclasses.dataclass(frozen=True)
class Transcription:
    """The result for one input: `text` and `score` (confidence in [0, 1]), or an `error`.

    Attributes:
        source: the path, or `<bytes i>` / `<array i>` for in-memory inputs.
        text: the recognised text ("" on error).
        score: decoder confidence (see `greedy_decode` / `beam_decode`); 0.0 on error.
        error: None, or why this input could not be transcribed.
    """

    source: str
    text: str = ""
    score: float = 0.0
    error: Optional[str] = None

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


__all__ = ["Transcription", "source_name"]
