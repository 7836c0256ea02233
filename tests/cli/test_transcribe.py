import json
import os
import re
import shutil
import subprocess
import sys

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
        assert set(o) == {"path", "text", "score", "chars"} and 0.0 <= o["score"] <= 1.0
        assert [c["char"] for c in o["chars"]] == list(o["text"])


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


# What TensorFlow's native libraries print on a machine without a GPU: glog-style lines
# ("I0000 00:00:1795396950.147814 7398 port.cc:153] oneDNN ..."), absl's pre-init warning,
# CUDA probing and the CPU-instructions notice (its second line has no prefix).
TF_NATIVE_LOG = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d|absl::InitializeLog|cuda|cuInit|oneDNN|cpu_feature_guard"
    r"|rebuild TensorFlow", re.IGNORECASE | re.MULTILINE,
)


def _command_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return {**env, **extra}


@pytest.mark.slow
def test_command_stderr_holds_no_tensorflow_log_lines(model_path, line_folder):
    command = [sys.executable, "-m", "keras_htr.cli.main", "transcribe", "--model", str(model_path),
               str(line_folder), str(line_folder / "missing.png")]
    run = subprocess.run(command, env=_command_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 1  # the missing file; the others are transcribed
    assert len(run.stdout.splitlines()) == len(list(line_folder.glob("*.png"))) + 1
    assert not TF_NATIVE_LOG.search(run.stderr), run.stderr
    assert "missing.png" in run.stderr  # our own errors still reach stderr


@pytest.mark.slow
def test_a_user_set_tensorflow_log_level_is_respected():
    code = (
        "import os; from keras_htr.cli.main import quiet_tensorflow; quiet_tensorflow(); "
        "import tensorflow as tf; tf.constant(1.0) + 1.0; print(os.environ['TF_CPP_MIN_LOG_LEVEL'])"
    )
    run = subprocess.run([sys.executable, "-c", code], env=_command_env(TF_CPP_MIN_LOG_LEVEL="0"),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["0"]
    assert TF_NATIVE_LOG.search(run.stderr)  # TensorFlow's own logging is still reachable
