import json
import shutil

import pytest

from keras_htr.cli.main import main


@pytest.fixture
def folder_with_corrupt_file(line_folder, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("line0.png", "line1.png"):
        shutil.copy(line_folder / name, folder / name)
    (folder / "line0b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return folder


def test_folder_with_corrupt_file_jsonl(model_path, folder_with_corrupt_file, capsys):
    code = main(["transcribe", "--quiet", "--model", str(model_path), "--format", "jsonl",
                 str(folder_with_corrupt_file)])
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1
    assert [o["path"].rsplit("/", 1)[-1] for o in out] == ["line0.png", "line0b.png", "line1.png"]
    assert "line0b.png" in out[1]["error"] and "text" not in out[1]
    for o in (out[0], out[2]):
        assert set(o) == {"path", "text", "score"} and 0.0 <= o["score"] <= 1.0


def test_files_keep_input_order_in_tsv_and_text(model_path, line_folder, capsys):
    files = [str(line_folder / "line1.png"), str(line_folder / "line0.png")]
    assert main(["transcribe", "--quiet", "--model", str(model_path), "--format", "tsv", *files]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert [r[0] for r in rows] == files and all(len(r) == 2 for r in rows)
    assert main(["transcribe", "--quiet", "--beam", "3", "--model", str(model_path), *files]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_missing_file_text_format_reports_on_stderr(model_path, line_folder, tmp_path, capsys):
    code = main(["transcribe", "--quiet", "--model", str(model_path),
                 str(tmp_path / "nope.png"), str(line_folder / "line0.png")])
    captured = capsys.readouterr()
    assert code == 1
    assert "nope.png" in captured.err and "Traceback" not in captured.err
    assert len(captured.out.splitlines()) == 2  # line i of the output is still input i


def test_help_and_bad_arguments(model_path, line_folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["transcribe", "-h"])
    assert e.value.code == 0 and "--format" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["transcribe", "--format", "xml", "x.png"])
    assert e.value.code == 2
    assert main(["transcribe", "--beam", "0", "x.png"]) == 2
    assert main(["transcribe", "--model", str(tmp_path / "none.keras"), str(line_folder)]) == 2
    assert "none.keras" in capsys.readouterr().err
