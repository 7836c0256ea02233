"""`read_dataset`: one entry point that detects the format of a dataset path and reads it."""

from __future__ import annotations

import os
import pathlib

from keras_htr.data import folder
from keras_htr.data.sample import LineDataset, ReadError


def read_dataset(path, lazy: bool = False, skip_flagged: bool = False) -> LineDataset:
    """Read every line of a dataset; unusable items go to `.errors` and the rest loads.

    Formats, detected from `path`:

    - a folder (searched recursively) of line images with `<stem>.gt.txt` transcriptions;
    - the IAM layout: a root with `ascii/lines.txt` and `lines/<a01>/<a01-000u>/<id>.png`;
    - PAGE XML (2013 or 2019) and ALTO v4 files next to their page images: a single `.xml`
      file, or any `.xml` files found in the folder.

    Args:
        path: a dataset folder or a single PAGE/ALTO file or line image.
        lazy: only check image headers now and decode each image when its `.image` is read
            (for datasets that do not fit in memory). Corrupt image data is then found late.
        skip_flagged: drop lines the source marks as doubtful (IAM `err`).

    Returns:
        A `LineDataset` of `Sample(image, text, source)` with `.errors`.

    Example:

    >>> ds = read_dataset("examples/lines")  # doctest: +SKIP
    >>> ds[0].text, ds[0].image.shape, ds.errors  # doctest: +SKIP
    """
    root = pathlib.Path(os.fspath(path))
    if not root.exists():
        raise FileNotFoundError(f"Dataset path {str(root)!r} does not exist")

    if root.is_file():
        if root.suffix.lower() == ".xml":
            samples, errors, kind, _ = _read_xml_files([root], lazy)
        elif folder.is_image_file(root):
            samples, errors = folder.read_image_folder([root], lazy=lazy)
            kind = "folder"
        else:
            raise ValueError(
                f"Received an invalid value for argument `path`, expected a folder, an image or "
                f"a PAGE/ALTO .xml file, got {str(root)!r}"
            )
    elif (root / "ascii" / "lines.txt").is_file():
        from keras_htr.data.iam import read_iam

        samples, errors = read_iam(root, lazy=lazy)
        kind = "iam"
    else:
        xml_files = sorted(p for p in root.rglob("*.xml") if not p.name.startswith("."))
        samples, errors, kind, referenced = _read_xml_files(xml_files, lazy)
        images = {p for p in root.rglob("*") if p.is_file() and folder.is_image_file(p)}
        images -= referenced
        folder_samples, folder_errors = folder.read_image_folder(images, lazy=lazy)
        samples += folder_samples
        errors += folder_errors + folder.orphan_transcriptions(root, images)
        if folder_samples or not kind:
            kind = "folder" if not kind else "mixed"
    dataset = LineDataset(samples, errors, kind or "folder")
    return dataset.without_flagged() if skip_flagged else dataset


def _read_xml_files(paths, lazy):
    """PAGE and ALTO files among `paths` (other XML is ignored) and the page images they use."""
    if not paths:
        return [], [], None, set()
    from keras_htr.data.alto import read_alto
    from keras_htr.data.page_xml import read_page
    from keras_htr.data.xml_format import parse_xml, xml_kind

    samples, errors, kinds, images = [], [], set(), set()
    for path in paths:
        try:
            root = parse_xml(path)
        except ValueError as e:
            errors.append(ReadError(str(path), str(e)))
            continue
        kind = xml_kind(root)
        if kind is None:
            continue
        reader = read_page if kind == "page" else read_alto
        found, errs, image_path = reader(path, lazy=lazy, root=root)
        samples += found
        errors += errs
        kinds.add(kind)
        if image_path is not None:
            images.add(image_path)
    kind = None if not kinds else kinds.pop() if len(kinds) == 1 else "mixed"
    return samples, errors, kind, images
