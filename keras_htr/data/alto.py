"""ALTO (v4, also v2/v3): one sample per `TextLine`, text from its `String CONTENT`s.

The line is cut from its `Shape/Polygon` if present, else from its HPOS/VPOS/WIDTH/HEIGHT box;
positions in `mm10` or `inch1200` units are converted to pixels from the page size.
"""

from __future__ import annotations

import os
import pathlib
import xml.etree.ElementTree as ET

from keras_htr.charset import normalize_text
from keras_htr.data.folder import error_reason
from keras_htr.data.line_crop import check_inside, crop_line, lazy_line
from keras_htr.data.page_xml import find_page_image, parse_layout
from keras_htr.data.preprocess import ImageError, load_image, probe_image
from keras_htr.data.sample import ReadError, Sample
from keras_htr.data.xml_format import namespace


def _points(text: str) -> list:
    """ALTO POINTS: 'x,y x,y ...' or 'x y x y ...'."""
    numbers = [float(v) for v in text.replace(",", " ").split()]
    if len(numbers) < 4 or len(numbers) % 2:
        raise ValueError(f"malformed POINTS {text!r}")
    return list(zip(numbers[0::2], numbers[1::2]))


def _line_text(line: ET.Element, ns: str) -> str:
    parts = []
    for child in line:
        local = child.tag.rsplit("}", 1)[-1]
        if local == "String" and child.get("CONTENT"):
            parts.append(child.get("CONTENT"))
        elif local == "HYP" and parts:
            parts[-1] += child.get("CONTENT", "-")
    return " ".join(parts)


def read_alto(path, lazy: bool = False, root: ET.Element | None = None):
    """Samples of one ALTO file.

    Returns:
        (samples, errors, page image path or None).
    """
    path = pathlib.Path(os.fspath(path))
    try:
        root = parse_layout(path, "alto", root)
    except ValueError as e:
        return [], [ReadError(str(path), str(e))], None
    ns = namespace(root)
    q = (lambda name: f"{{{ns}}}{name}") if ns else (lambda name: name)
    file_el = root.find(f"{q('Description')}/{q('sourceImageInformation')}/{q('fileName')}")
    image_path = find_page_image(path, (file_el.text or "").strip() if file_el is not None else "")
    if image_path is None:
        return [], [ReadError(str(path), "page image not found (sourceImageInformation/fileName)")], None
    try:
        size = probe_image(image_path)
        page = None if lazy else load_image(image_path)
    except ImageError as e:
        return [], [ReadError(str(image_path), error_reason(e, image_path))], image_path

    unit_el = root.find(f"{q('Description')}/{q('MeasurementUnit')}")
    unit = (unit_el.text or "pixel").strip() if unit_el is not None else "pixel"
    page_el = root.find(f"{q('Layout')}/{q('Page')}")
    sx = sy = 1.0
    if unit != "pixel" and page_el is not None:
        try:
            sx = size[0] / float(page_el.get("WIDTH"))
            sy = size[1] / float(page_el.get("HEIGHT"))
        except (TypeError, ValueError, ZeroDivisionError):
            return [], [ReadError(str(path), f"unit {unit!r} without a usable Page WIDTH/HEIGHT")], image_path

    samples, errors = [], []
    for n, line in enumerate(root.iter(q("TextLine"))):
        source = f"{path}#{line.get('ID') or f'line{n}'}"
        text = normalize_text(_line_text(line, ns).strip())
        if not text:
            errors.append(ReadError(source, "no transcription (String CONTENT)"))
            continue
        try:
            poly_el = line.find(f"{q('Shape')}/{q('Polygon')}")
            if poly_el is not None and poly_el.get("POINTS"):
                polygon = _points(poly_el.get("POINTS"))
            else:
                x, y = float(line.get("HPOS")), float(line.get("VPOS"))
                w, h = float(line.get("WIDTH")), float(line.get("HEIGHT"))
                polygon = [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]
            polygon = [(px * sx, py * sy) for px, py in polygon]
        except (TypeError, ValueError) as e:
            errors.append(ReadError(source, f"malformed coordinates ({e})"))
            continue
        try:
            if lazy:
                check_inside(polygon, size)
                image = lazy_line(str(image_path), polygon)
            else:
                image = crop_line(page, polygon)
        except ValueError as e:
            errors.append(ReadError(source, str(e)))
            continue
        samples.append(Sample(image, text, source))
    return samples, errors, image_path
