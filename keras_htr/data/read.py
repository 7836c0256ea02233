"""Reading what a user points at: a dataset of any format, or image files and folders.

- `read_dataset(path)`: detects the format of a dataset path and reads its lines.
- `summarize_dataset(dataset)`: line, character and size counts, and every unreadable file.
- `list_images(paths)`: image files as given, folders replaced by the images inside.
"""

from __future__ import annotations

import collections
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


def summarize_dataset(dataset: LineDataset, progress: bool = False) -> dict:
    """Counts and image size statistics of a dataset, decoding each image once.

    Lazily read datasets only checked image headers; decoding here finds the corrupt images
    too, so they are reported with the read errors instead of failing a training run later.

    Args:
        dataset: a `LineDataset`, e.g. from `read_dataset(path, lazy=True)`.
        progress: show a tqdm progress bar on stderr.

    Returns:
        A dict: `format`, `lines` (decoded), `flagged`, `characters`, `alphabet` (symbol ->
        count, most frequent first), `height` and `width` (`min`, `median`, `mean`, `max`, or
        None without lines) and `errors` (`ReadError`s: the dataset's, then undecodable images).
    """
    import numpy as np

    from keras_htr.data.preprocess import ImageError

    chars = collections.Counter()
    heights, widths, errors = [], [], list(dataset.errors)
    flagged = 0
    samples = dataset
    if progress:
        from tqdm.auto import tqdm

        samples = tqdm(dataset, desc="reading", unit="line")
    for sample in samples:
        try:
            image = sample.image
        except ImageError as e:
            errors.append(ReadError(sample.source, str(e)))
            continue
        heights.append(image.shape[0])
        widths.append(image.shape[1])
        chars.update(sample.text)
        flagged += sample.flagged

    def stats(values):
        if not values:
            return None
        v = np.asarray(values)
        return {
            "min": int(v.min()),
            "median": float(np.median(v)),
            "mean": float(v.mean()),
            "max": int(v.max()),
        }

    return {
        "format": dataset.format,
        "lines": len(heights),
        "flagged": flagged,
        "characters": sum(chars.values()),
        "alphabet": dict(sorted(chars.items(), key=lambda kv: (-kv[1], kv[0]))),
        "height": stats(heights),
        "width": stats(widths),
        "errors": errors,
    }


def list_images(paths) -> list[str]:
    """Files as given, folders replaced by their image files (recursively, sorted by path).

    A file is kept even if it is not an image (or does not exist), so that whoever reads it
    reports it instead of it silently disappearing.

    Args:
        paths: file and folder paths.

    Returns:
        A list of file paths, in the order given.
    """
    found = []
    for item in paths:
        path = pathlib.Path(os.fspath(item))
        if path.is_dir():
            images = sorted(p for p in path.rglob("*") if p.is_file() and folder.is_image_file(p))
            found.extend(os.fspath(p) for p in images)
        else:
            found.append(os.fspath(path))
    return found
