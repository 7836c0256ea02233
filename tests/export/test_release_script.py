"""scripts/release_shipped_model.py: ships a model as package data and regenerates its exports."""

import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "scripts" / "release_shipped_model.py"


@pytest.fixture(scope="module")
def release():
    spec = importlib.util.spec_from_file_location("release_shipped_model", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_destination_is_the_shipped_model_constant(release, capsys):
    from keras_htr.transcriber import SHIPPED_MODEL

    with pytest.raises(SystemExit):
        release.main(["--help"])
    assert (
        release.REPO / "saved_models" == pathlib.Path(release.__file__).parents[1] / "saved_models"
    )
    assert SHIPPED_MODEL.parent.parent == pathlib.Path(__import__("keras_htr").__file__).parent
    assert release.main(["--model", "nowhere.keras"]) == 2
    assert "nowhere.keras" in capsys.readouterr().err


@pytest.mark.slow
def test_release_ships_the_model_and_writes_matching_exports(
    release, model, line_files, keras_texts, tmp_path, capsys
):
    from keras_htr.transcriber import load_transcriber

    trained = tmp_path / "run" / "best.keras"
    trained.parent.mkdir()
    model.save(trained)
    shipped = tmp_path / "package" / "htr_line.keras"
    out = tmp_path / "saved_models"
    check_dir = pathlib.Path(line_files[0]).parent
    argv = [
        "--model",
        str(trained),
        "--shipped",
        str(shipped),
        "--out-dir",
        str(out),
        "--version",
        "2",
    ]
    assert release.main(argv + ["--check", str(check_dir)]) == 0
    printed = capsys.readouterr().out
    assert "savedmodel   same text as keras on 20/20 lines" in printed
    assert "tflite_fp32  same text as keras on 20/20 lines" in printed
    assert [r.text for r in load_transcriber(shipped).transcribe(line_files)] == keras_texts
    assert (out / "htr_line" / "2" / "saved_model.pb").is_file()
    for name in ("htr_line.tflite", "htr_line_fp16.tflite", "htr_line_int8.tflite"):
        assert (out / name).is_file() and (out / (name + ".json")).is_file()
