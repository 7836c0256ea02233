"""Folder of line images with `<stem>.gt.txt` transcriptions (Kraken / Calamari / tesstrain)."""

from __future__ import annotations

import functools
import os
import pathlib
from typing import Iterable

from keras_htr.charset import normalize_text
from keras_htr.data.preprocess import ImageError, load_image, probe_image
from keras_htr.data.sample import ReadError, Sample

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pgm", ".ppm")
GT_SUFFIX = ".gt.txt"
# OCRopus names binarised/normalised variants `x.bin.png`, `x.nrm.png`; their text is `x.gt.txt`.
_VARIANT_SUFFIXES = (".bin", ".nrm", ".raw")


def is_image_file(path: pathlib.Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def gt_path_for(image_path: pathlib.Path) -> pathlib.Path:
    """`a/b/x.png` -> `a/b/x.gt.txt` (also for `x.bin.png`, if `x.bin.gt.txt` does not exist)."""
    stem = image_path.with_suffix("")
    direct = stem.with_name(stem.name + GT_SUFFIX)
    if not direct.exists() and stem.suffix in _VARIANT_SUFFIXES:
        return stem.with_suffix("").with_name(stem.with_suffix("").name + GT_SUFFIX)
    return direct


def read_text_file(path: pathlib.Path) -> str:
    """A transcription file as NFC text without the trailing newline; raises ValueError."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read transcription ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"transcription is not UTF-8 ({e.reason} at byte {e.start})") from None
    text = normalize_text(text.rstrip("\r\n"))
    if "\n" in text:
        text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    if not text.strip():
        raise ValueError("empty transcription")
    return text


def read_image_folder(
    paths: Iterable[pathlib.Path], lazy: bool = False
) -> tuple[list[Sample], list[ReadError]]:
    """Samples for the image files in `paths`, each needing its `.gt.txt` sidecar.

    Args:
        paths: image files.
        lazy: check only image headers now and decode on access; otherwise decode now (which
            also finds truncated or corrupt files).
    """
    samples, errors = [], []
    for path in sorted(paths):
        gt = gt_path_for(path)
        if not gt.exists():
            errors.append(ReadError(str(path), f"missing transcription {gt.name}"))
            continue
        try:
            text = read_text_file(gt)
        except ValueError as e:
            errors.append(ReadError(str(gt), str(e)))
            continue
        try:
            image = line_image(path, lazy)
        except ImageError as e:
            errors.append(ReadError(str(path), error_reason(e, path)))
            continue
        samples.append(Sample(image, text, str(path)))
    return samples, errors


def orphan_transcriptions(root: pathlib.Path, image_paths: set) -> list[ReadError]:
    """`.gt.txt` files with no image next to them (reported, since their line is lost)."""
    expected = {gt_path_for(p) for p in image_paths}
    errors = []
    for gt in sorted(root.rglob("*" + GT_SUFFIX)):
        if gt not in expected:
            errors.append(ReadError(str(gt), "transcription without an image"))
    return errors


def line_image(path, lazy: bool):
    """The decoded image, or with `lazy` a loader for it after a cheap header check."""
    if lazy:
        probe_image(path)
        return functools.partial(load_image, path)
    return load_image(path)


def error_reason(error: Exception, path: os.PathLike) -> str:
    """The error message without the leading path (ReadError carries it)."""
    message = str(error)
    prefix = f"{os.fspath(path)}: "
    return message[len(prefix):] if message.startswith(prefix) else message
