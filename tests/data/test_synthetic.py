import numpy as np
import pytest

from keras_htr.data import read_dataset
from keras_htr.data import synthetic
from keras_htr.data.synthetic import ALPHABET, LineSynthesizer, list_fonts, mnist_digits, write_dataset


def test_fonts_installed_and_selection():
    fonts = list_fonts()
    assert {"caveat", "kalam", "zeyada"} <= set(fonts)
    assert synthetic.select_fonts(exclude=["kalam"]) == [f for f in fonts if f != "kalam"]
    assert synthetic.select_fonts(["delius", "caveat"], ["caveat"]) == ["delius"]
    with pytest.raises(ValueError, match="unknown"):
        synthetic.select_fonts(["comic-sans"])
    with pytest.raises(ValueError, match="No fonts"):
        synthetic.select_fonts(["caveat"], ["caveat"])


def test_lines_are_deterministic_and_depend_on_seed_and_index():
    a, b = LineSynthesizer(kind="mixed", seed=5), LineSynthesizer(kind="mixed", seed=5)
    for i in (0, 7):
        la, lb = a.line(i), b.line(i)
        assert la.text == lb.text and la.font == lb.font
        np.testing.assert_array_equal(la.image, lb.image)
    assert [a.line(i).text for i in range(5)] != [LineSynthesizer(kind="mixed", seed=6).line(i).text for i in range(5)]
    assert len({a.line(i).text for i in range(10)}) == 10


def test_text_lines_alphabet_fonts_and_ink_on_paper():
    synth = LineSynthesizer(kind="text", fonts=["caveat", "kalam"], seed=0)
    for i in range(15):
        line = synth.line(i)
        assert line.font in ("caveat", "kalam")
        assert set(line.text) <= set(ALPHABET) and line.text == line.text.strip()
        assert 1 <= len(line.text.split(" ")) <= 12
        img = line.image
        assert img.dtype == np.uint8 and img.ndim == 2 and img.shape[1] > img.shape[0] // 2
        assert np.median(img) > 150 and img.min() < 110  # light paper, dark ink


def test_caps_only_font_gets_capital_labels():
    synth = LineSynthesizer(kind="text", fonts=["permanent-marker"], seed=0)
    texts = [synth.line(i).text for i in range(5)]
    assert all(t == t.upper() for t in texts) and any(c.isalpha() for c in "".join(texts))


def test_digit_lines_use_only_their_split():
    train, test = mnist_digits("train"), mnist_digits("test")
    for d in range(10):
        assert len(train[d]) == 400 and len(test[d]) == 100
        # No test digit image is also a training one.
        train_set = {t.tobytes() for t in train[d]}
        assert not any(t.tobytes() in train_set for t in test[d])
    synth = LineSynthesizer(kind="digits", split="test", seed=1)
    for i in range(10):
        line = synth.line(i)
        assert line.font == "mnist-test"
        assert set(line.text) <= set("0123456789 /.,-:") and any(c.isdigit() for c in line.text)
        assert np.median(line.image) > 150 and line.image.min() < 110


def test_write_dataset_reads_back(tmp_path):
    counts = write_dataset(tmp_path, 6, kind="mixed", seed=2, fonts=["delius"], progress=False)
    assert sum(counts.values()) == 6 and set(counts) <= {"delius", "mnist-train"}
    ds = read_dataset(tmp_path)
    assert len(ds) == 6 and not ds.errors
    synth = LineSynthesizer(kind="mixed", seed=2, fonts=["delius"])
    assert sorted(s.text for s in ds) == sorted(synth.line(i).text for i in range(6))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="`kind`"):
        LineSynthesizer(kind="poetry")
    with pytest.raises(ValueError, match="`split`"):
        LineSynthesizer(split="val")
    with pytest.raises(ValueError, match="`lines`"):
        write_dataset("/nonexistent", 0)
