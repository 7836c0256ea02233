"""What the readers return: line samples, read errors, and the dataset holding both."""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterator, Sequence, Union

import numpy as np

ImageOrLoader = Union[np.ndarray, Callable[[], np.ndarray]]


class Sample:
    """One text line: its image (uint8 gray (H, W)), its transcription and where it came from.

    The image may be held in memory or loaded on access (`lazy=True` readers pass a loader),
    so a large dataset does not have to fit in memory.

    Args:
        image: a uint8 (H, W) array, or a zero-argument callable returning one.
        text: the transcription, Unicode NFC.
        source: the file (and line id for IAM/PAGE/ALTO), for error messages and reports.
        flagged: the source marks this line as doubtful (IAM `err` segmentation).
    """

    __slots__ = ("_image", "text", "source", "flagged")

    def __init__(self, image: ImageOrLoader, text: str, source: str, flagged: bool = False):
        self._image = image
        self.text = text
        self.source = source
        self.flagged = flagged

    @property
    def image(self) -> np.ndarray:
        """The line as uint8 (H, W); loading may raise `ImageError` for a lazy sample."""
        if callable(self._image):
            return self._image()
        return self._image

    @property
    def is_loaded(self) -> bool:
        return not callable(self._image)

    def __repr__(self) -> str:
        shape = self._image.shape if self.is_loaded else "lazy"
        flag = ", flagged=True" if self.flagged else ""
        return f"Sample(image={shape}, text={self.text!r}, source={self.source!r}{flag})"


@dataclasses.dataclass(frozen=True)
class ReadError:
    """A file or line that could not be used, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class LineDataset(Sequence[Sample]):
    """The samples read from a dataset, plus `.errors` for everything that was skipped.

    Args:
        samples: the readable lines.
        errors: one `ReadError` per unusable file or line.
        format: the detected format ("folder", "iam", "page", "alto", "mixed").
    """

    def __init__(self, samples: list[Sample], errors: list[ReadError], format: str = "folder"):
        self.samples = list(samples)
        self.errors = list(errors)
        self.format = format

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return LineDataset(self.samples[index], self.errors, self.format)
        return self.samples[index]

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.samples)

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.samples]

    def without_flagged(self) -> "LineDataset":
        """The same dataset without lines the source marked doubtful (IAM `err`)."""
        return LineDataset([s for s in self.samples if not s.flagged], self.errors, self.format)

    def __repr__(self) -> str:
        return f"LineDataset({len(self)} lines, {len(self.errors)} errors, format={self.format!r})"
