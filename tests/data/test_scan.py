import importlib

import numpy as np
import pytest
from PIL import Image

from keras_htr.data.synthetic.scan import scan

# The package exports the function `scan`, which hides the module of the same name.
scan_module = importlib.import_module("keras_htr.data.synthetic.scan")


def _ink(h=48, w=400, seed=0):
    """Strokes in a middle band (x-height 0.3-0.7 h), like a cropped text line."""
    rng = np.random.default_rng(seed)
    ink = np.zeros((h, w), np.float32)
    for x in range(10, w - 20, 14):
        ink[int(0.3 * h) : int(0.7 * h), x : x + 3] = 1.0
        ink[int(0.3 * h) : int(0.3 * h) + 3, x : x + int(rng.integers(6, 12))] = 1.0
    return ink


def _only(monkeypatch, *names):
    """Fire exactly the named effects (probability 1) and no others."""
    for name in dir(scan_module):
        if name.startswith("P_"):
            monkeypatch.setattr(scan_module, name, 1.0 if name in names else 0.0)


def test_strength_zero_is_clean_paper_and_ink():
    ink = _ink()
    out = scan(ink, np.random.default_rng(0), ink_tone=0.1, strength=0.0)
    assert out.dtype == np.uint8 and out.shape == ink.shape
    assert np.all(out[ink == 0] == 255) and np.all(out[ink == 1] == 26)


def test_scan_is_deterministic_and_a_mix_of_clean_and_harsh():
    ink = _ink()
    a = scan(ink, np.random.default_rng(3), intruders=(ink, ink))
    b = scan(ink, np.random.default_rng(3), intruders=(ink, ink))
    np.testing.assert_array_equal(a, b)
    outs = [scan(ink, np.random.default_rng(s), intruders=(ink, ink)) for s in range(150)]
    binary = [o for o in outs if set(np.unique(o)) <= {0, 255}]
    resized = [o for o in outs if o.shape != ink.shape]
    noisy = [o for o in outs if o.shape == ink.shape and o[ink == 0].std() > 8]
    assert 5 <= len(binary) <= 40 and 20 <= len(resized) <= 100 and len(noisy) > 20


def test_ink_stays_readable_on_every_scan():
    """Readability bound: ink pixels are well darker than paper pixels on every line."""
    ink = _ink()
    for seed in range(200):
        out = scan(ink, np.random.default_rng(seed), ink_tone=0.3)
        mask = (
            np.asarray(
                Image.fromarray((ink * 255).astype(np.uint8)).resize(out.shape[::-1], Image.NEAREST)
            )
            > 127
        )
        core = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize(out.shape[::-1])) > 0
        paper, stroke = np.median(out[~mask]), np.median(out[core])
        assert paper - stroke > 50, (seed, paper, stroke)
        assert paper > 120, seed


def test_intruders_enter_only_the_margins(monkeypatch):
    _only(monkeypatch, "P_INTRUDER")
    ink = _ink(h=60)
    neighbour = np.ones((30, 500), np.float32)  # a solid neighbour shows where it was pasted
    out = scan(ink, np.random.default_rng(0), intruders=(neighbour, neighbour), strength=1.0)
    dark_rows = (out < 128).mean(axis=1)
    assert dark_rows[0] > 0.9 and dark_rows[-1] > 0.9  # cut by both edges
    # The x-height band (rows 18-42) holds only the line's own strokes.
    np.testing.assert_array_equal(
        out[20:40], scan(ink, np.random.default_rng(0), strength=1.0)[20:40]
    )
    only_above = scan(ink, np.random.default_rng(0), intruders=(neighbour, None), strength=1.0)
    assert (only_above[-1] < 128).mean() == 0


def test_bleed_through_is_faint_and_mirrored(monkeypatch):
    _only(monkeypatch, "P_BLEED")
    ink = np.zeros((48, 400), np.float32)
    ink[10:38, 20:26] = 1.0  # an "L": tall bar on the left, low base to the right
    ink[32:38, 20:80] = 1.0
    out = scan(ink, np.random.default_rng(1), strength=1.0).astype(int)
    _only(monkeypatch)
    clean = scan(ink, np.random.default_rng(1), strength=1.0).astype(int)
    diff = clean - out
    assert diff.min() >= 0 and 5 < diff.max() < 0.25 * 255  # darker, but far lighter than ink
    columns = diff.sum(axis=0)
    blob = np.nonzero(columns > 0.2 * columns.max())[0]
    assert blob.min() > 100  # shows away from the original strokes
    assert columns.argmax() > (blob.min() + blob.max()) / 2  # mirrored: the bar is on the right


def test_binarised_scans_are_black_and_white(monkeypatch):
    _only(monkeypatch, "P_BINARISE", "P_NOISE", "P_TEXTURE")
    ink = _ink()
    out = scan(ink, np.random.default_rng(2))
    assert set(np.unique(out)) == {0, 255}
    assert (out[ink == 1] == 0).mean() > 0.9 and (out[ink == 0] == 255).mean() > 0.9


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strength": 1.5}, "`strength`"),
        ({"ink_tone": 1.0}, "`ink_tone`"),
        ({"intruders": (None,)}, "`intruders`"),
        ({"intruders": (np.zeros((2, 3, 4)), None), "strength": 1.0}, "`intruders`"),
    ],
)
def test_bad_arguments(monkeypatch, kwargs, match):
    _only(monkeypatch, "P_INTRUDER")
    with pytest.raises(ValueError, match=match):
        scan(_ink(), np.random.default_rng(0), **kwargs)
    with pytest.raises(ValueError, match="`ink`"):
        scan(np.zeros(10, np.float32), np.random.default_rng(0))


def test_any_crop_size_and_strength_scans():
    """Tiny, empty and huge-intruder crops (a segmenter's odd output) still give an image."""
    rng = np.random.default_rng(0)
    for _ in range(60):
        h, w = int(rng.integers(2, 30)), int(rng.integers(2, 300))
        ink = (rng.random((h, w)) < rng.random()).astype(np.float32)
        above = rng.random((int(rng.integers(1, 40)), int(rng.integers(1, 600)))).astype(np.float32)
        out = scan(ink, rng, intruders=(above, None), strength=float(rng.random()))
        assert out.dtype == np.uint8 and out.ndim == 2 and min(out.shape) >= 2
