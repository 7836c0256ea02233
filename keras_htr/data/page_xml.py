"""PAGE XML (2013 and 2019 schemas, PRImA): one sample per `TextLine` with a transcription.

Each line is cut from the page image along its `Coords` polygon (outside whitened, rotated to
horizontal if written at an angle) and its text is the line's own `TextEquiv/Unicode`, or its
words' texts joined by spaces if the line has none.
"""

from __future__ import annotations

import os
import pathlib
import xml.etree.ElementTree as ET

from keras_htr.charset import normalize_text
from keras_htr.data.folder import IMAGE_SUFFIXES, error_reason
from keras_htr.data.line_crop import check_inside, crop_line, lazy_line, parse_points
from keras_htr.data.preprocess import ImageError, load_image, probe_image
from keras_htr.data.sample import ReadError, Sample
from keras_htr.data.xml_format import namespace, parse_xml, xml_kind


def find_page_image(xml_path: pathlib.Path, filename: str) -> pathlib.Path | None:
    """The page image named in the XML, next to it or one folder up (Transkribus `page/`)."""
    if not filename:
        candidates = [xml_path.with_suffix(s) for s in IMAGE_SUFFIXES]
    else:
        name = pathlib.PurePath(filename.replace("\\", "/"))
        candidates = [xml_path.parent / name, xml_path.parent / name.name, xml_path.parent.parent / name.name]
        candidates += [xml_path.with_suffix(name.suffix or ".png")]
    for c in candidates:
        if c.is_file():
            return c
    return None


_FORMAT_NAMES = {"page": "a PAGE XML", "alto": "an ALTO"}


def parse_layout(path: pathlib.Path, kind: str, root: ET.Element | None = None) -> ET.Element:
    """The root element of the PAGE (`kind="page"`) or ALTO (`"alto"`) file at `path`.

    `root`, if given, is used instead of parsing again (`read_dataset` parsed the file to tell
    its format). Raises ValueError with the reason when the file is unusable or another format.
    """
    root = parse_xml(path) if root is None else root
    if xml_kind(root) != kind:
        raise ValueError(f"not {_FORMAT_NAMES[kind]} file")
    return root


def _text_of(element: ET.Element, ns: str) -> str | None:
    """The `TextEquiv/Unicode` of `element` (lowest `index` first), or None if absent."""
    best = None
    for eq in element.findall(f"{{{ns}}}TextEquiv"):
        uni = eq.find(f"{{{ns}}}Unicode")
        if uni is None or uni.text is None:
            continue
        index = int(eq.get("index", "0") or 0)
        if best is None or index < best[0]:
            best = (index, uni.text)
    return None if best is None else best[1]


def _polygon(element: ET.Element, ns: str) -> list | None:
    coords = element.find(f"{{{ns}}}Coords")
    if coords is None:
        return None
    if coords.get("points"):
        return parse_points(coords.get("points"))
    points = [(float(p.get("x")), float(p.get("y"))) for p in coords.findall(f"{{{ns}}}Point")]
    return points or None


def read_page(path, lazy: bool = False, root: ET.Element | None = None):
    """Samples of one PAGE XML file.

    Returns:
        (samples, errors, page image path or None).
    """
    path = pathlib.Path(os.fspath(path))
    try:
        root = parse_layout(path, "page", root)
    except ValueError as e:
        return [], [ReadError(str(path), str(e))], None
    ns = namespace(root)
    page_el = root.find(f"{{{ns}}}Page")
    if page_el is None:
        return [], [ReadError(str(path), "no Page element")], None
    image_path = find_page_image(path, page_el.get("imageFilename", ""))
    if image_path is None:
        reason = f"page image {page_el.get('imageFilename', '')!r} not found"
        return [], [ReadError(str(path), reason)], None
    try:
        if lazy:
            probe_image(image_path)
            page = None
        else:
            page = load_image(image_path)
    except ImageError as e:
        return [], [ReadError(str(image_path), error_reason(e, image_path))], image_path

    samples, errors = [], []
    for n, line in enumerate(page_el.iter(f"{{{ns}}}TextLine")):
        line_id = line.get("id") or f"line{n}"
        source = f"{path}#{line_id}"
        text = _text_of(line, ns)
        if text is None:
            words = [_text_of(w, ns) for w in line.findall(f"{{{ns}}}Word")]
            words = [w for w in words if w]
            text = " ".join(words) if words else None
        text = normalize_text(text.strip()) if text else ""
        if not text:
            errors.append(ReadError(source, "no transcription (TextEquiv/Unicode)"))
            continue
        try:
            polygon = _polygon(line, ns)
            if polygon is None:
                errors.append(ReadError(source, "no Coords"))
                continue
            base_el = line.find(f"{{{ns}}}Baseline")
            baseline = parse_points(base_el.get("points", "")) if base_el is not None else None
        except (ValueError, TypeError) as e:
            errors.append(ReadError(source, f"malformed coordinates ({e})"))
            continue
        try:
            if lazy:
                check_inside(polygon, probe_image(image_path))
                image = lazy_line(str(image_path), polygon, baseline)
            else:
                image = crop_line(page, polygon, baseline)
        except (ValueError, ImageError) as e:
            errors.append(ReadError(source, str(e)))
            continue
        samples.append(Sample(image, text, source))
    return samples, errors, image_path

