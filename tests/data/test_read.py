"""`summarize_dataset` and `list_images` (the library functions behind `keras-htr dataset` and
`keras-htr transcribe FOLDER`)."""

import os

import numpy as np
from PIL import Image

from keras_htr.data.read import list_images, read_dataset, summarize_dataset


def _line_image(path, width=60):
    img = np.full((20, width), 255, np.uint8)
    img[5:15, 10 : width - 10] = 0
    Image.fromarray(img).save(path)


def test_summarize_dataset_counts_and_reports_undecodable_images(tmp_path):
    _line_image(tmp_path / "a.png")
    (tmp_path / "a.gt.txt").write_text("abba")
    _line_image(tmp_path / "b.png", width=80)
    (tmp_path / "b.gt.txt").write_text("ba")
    # A valid header with broken data: a lazy read accepts it, decoding finds it.
    good = (tmp_path / "a.png").read_bytes()
    (tmp_path / "broken.png").write_bytes(good[:60])
    (tmp_path / "broken.gt.txt").write_text("x")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    (tmp_path / "bad.gt.txt").write_text("y")

    summary = summarize_dataset(read_dataset(tmp_path, lazy=True))
    assert summary["format"] == "folder"
    assert summary["lines"] == 2 and summary["characters"] == 6
    assert summary["alphabet"] == {"b": 3, "a": 3} and list(summary["alphabet"]) == ["a", "b"]
    assert summary["height"] == {"min": 20, "median": 20.0, "mean": 20.0, "max": 20}
    assert summary["width"]["min"] == 60 and summary["width"]["max"] == 80
    assert sorted(os.path.basename(e.path) for e in summary["errors"]) == ["bad.png", "broken.png"]


def test_summarize_empty_dataset(tmp_path):
    summary = summarize_dataset(read_dataset(tmp_path))
    assert summary["lines"] == 0 and summary["height"] is None and summary["errors"] == []


def test_list_images_expands_folders_sorted_and_keeps_files_as_given(tmp_path):
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for name in ("d/b.png", "d/sub/a.jpg", "d/a.png"):
        _line_image(tmp_path / name)
    (tmp_path / "d" / "a.gt.txt").write_text("not an image")
    given = [tmp_path / "missing.png", tmp_path / "d", str(tmp_path / "d" / "b.png")]
    assert [os.path.relpath(p, tmp_path) for p in list_images(given)] == [
        "missing.png",
        os.path.join("d", "a.png"),
        os.path.join("d", "b.png"),
        os.path.join("d", "sub", "a.jpg"),
        os.path.join("d", "b.png"),
    ]
    assert list_images([]) == []
