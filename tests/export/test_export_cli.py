"""`keras-htr export`: the command line over the export functions."""

import os

import pytest

from keras_htr.cli.main import main


@pytest.fixture(scope="module")
def keras_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "m.keras"
    model.save(path)
    return str(path)


@pytest.mark.slow
def test_export_tflite(keras_file, tmp_path, capsys):
    from keras_htr.export import TFLiteTranscriber

    out = str(tmp_path / "m_int8.tflite")
    args = ["--model", keras_file, "--format", "tflite", "--out", out, "--quantize", "int8"]
    assert main(["export", *args]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert TFLiteTranscriber(out).quantize == "int8"


def test_savedmodel_version_exists(keras_file, tmp_path, capsys):
    (tmp_path / "htr" / "2").mkdir(parents=True)
    out = str(tmp_path / "htr")
    args = ["--model", keras_file, "--format", "savedmodel", "--out", out, "--version", "2"]
    code = main(["export", *args])
    assert code == 1
    assert "--overwrite" in capsys.readouterr().err


def test_bad_arguments(keras_file, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", "--format", "onnx", "--out", "x"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["export", "--format", "tflite"])  # --out is required
    bin_out = str(tmp_path / "m.bin")
    assert main(["export", "--model", keras_file, "--format", "tflite", "--out", bin_out]) == 2
    assert ".tflite" in capsys.readouterr().err
    assert main(["export", "--format", "savedmodel", "--out", "x", "--quantize", "int8"]) == 2
    assert "tflite only" in capsys.readouterr().err
    missing, out = str(tmp_path / "nope.keras"), str(tmp_path / "m.tflite")
    assert main(["export", "--model", missing, "--format", "tflite", "--out", out]) == 2
    assert "nope.keras" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "m.tflite")


def test_savedmodel_base_path_not_a_folder(keras_file, tmp_path, capsys):
    # --out inside a regular file: a one-line error (exit 2), as for a paragraph model.
    (tmp_path / "file.txt").write_text("x")
    out = str(tmp_path / "file.txt" / "htr")
    assert main(["export", "--model", keras_file, "--format", "savedmodel", "--out", out]) == 2
    assert "file.txt" in capsys.readouterr().err
