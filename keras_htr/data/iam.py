"""The IAM Handwriting Database layout: `ascii/lines.txt` + `lines/<a01>/<a01-000u>/<id>.png`.

A lines.txt record is `a01-000u-00 ok 154 19 408 746 1663 91 A|MOVE|to|stop|Mr.|Gaitskell`:
id, segmentation result (`ok` or `err`), graylevel, components, bounding box, then the text
with `|` between words. Lines marked `err` are kept but flagged (`Sample.flagged`).
"""

from __future__ import annotations

import os
import pathlib

from keras_htr.charset import normalize_text
from keras_htr.data.folder import error_reason, line_image
from keras_htr.data.preprocess import ImageError
from keras_htr.data.sample import ReadError, Sample


def iam_image_path(root: pathlib.Path, line_id: str) -> pathlib.Path:
    """`a01-000u-00` -> root/lines/a01/a01-000u/a01-000u-00.png"""
    parts = line_id.split("-")
    if len(parts) < 3:
        raise ValueError(f"malformed IAM line id {line_id!r}")
    return root / "lines" / parts[0] / f"{parts[0]}-{parts[1]}" / f"{line_id}.png"


def read_iam(root, lazy: bool = False) -> tuple[list[Sample], list[ReadError]]:
    """Samples of an IAM root folder (see module docstring); bad records go to the errors."""
    root = pathlib.Path(os.fspath(root))
    index = root / "ascii" / "lines.txt"
    samples, errors = [], []
    try:
        records = index.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as e:
        return [], [ReadError(str(index), f"cannot read ({e.strerror or e})")]
    for number, record in enumerate(records, 1):
        if not record.strip() or record.startswith("#"):
            continue
        fields = record.split(" ")
        where = f"{index}:{number}"
        if len(fields) < 9 or fields[1] not in ("ok", "err"):
            errors.append(ReadError(where, f"malformed record {record[:60]!r}"))
            continue
        line_id, status = fields[0], fields[1]
        text = normalize_text(" ".join(fields[8:]).replace("|", " ").strip())
        try:
            path = iam_image_path(root, line_id)
        except ValueError as e:
            errors.append(ReadError(where, str(e)))
            continue
        if not text:
            errors.append(ReadError(f"{path}", "empty transcription"))
            continue
        try:
            image = line_image(path, lazy)
        except ImageError as e:
            errors.append(ReadError(str(path), error_reason(e, path)))
            continue
        samples.append(Sample(image, text, f"{path}#{line_id}", flagged=status == "err"))
    return samples, errors
