import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest

from keras_htr.cli.main import main
from keras_htr.training import read_state

STEPS = 2


@pytest.fixture
def tiny_model_config(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({
        "arch": "crnn",
        "crnn": {"conv_filters": [8, 16, 16], "pool_sizes": [[2, 2], [2, 2], [2, 1]],
                 "lstm_units": 16, "lstm_layers": 1, "dropout": 0.0},
    }))
    return path


def test_help_and_bad_arguments(line_folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "-h"])
    assert e.value.code == 0 and "--resume" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["train", "--out", str(tmp_path), "--arch", "rnn"])
    assert e.value.code == 2
    assert main(["train", "--out", str(tmp_path / "a")]) == 2  # no --train/--val
    assert main(["train", "--out", str(tmp_path / "b"), "--resume"]) == 2  # nothing to resume
    bad = tmp_path / "bad.json"
    bad.write_text('{"arch": "crnn", "crnn": {"lstm_unit": 3}}')
    assert main(["train", "--train", str(line_folder), "--val", str(line_folder),
                 "--out", str(tmp_path / "c"), "--model-config", str(bad)]) == 2
    assert "lstm_unit" in capsys.readouterr().err


def test_resume_after_sigkill_continues_from_saved_epoch(line_folder, tiny_model_config, tmp_path):
    run_dir = tmp_path / "run"
    command = [
        sys.executable, "-m", "keras_htr.cli.main", "train", "--train", str(line_folder),
        "--val", str(line_folder), "--out", str(run_dir), "--model-config", str(tiny_model_config),
        "--epochs", "100", "--steps-per-epoch", str(STEPS), "--batch-size", "4",
        "--no-augment", "--quiet",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 600
        while read_state(run_dir) is None:
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "no epoch finished in time"
            time.sleep(0.2)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    saved = read_state(run_dir)["epoch"]
    assert saved >= 1

    # A new run in the same directory is refused; --resume continues it.
    assert main(["train", "--train", str(line_folder), "--val", str(line_folder),
                 "--out", str(run_dir)]) == 2
    target = saved + 2
    assert main(["train", "--out", str(run_dir), "--resume", "--epochs", str(target), "--quiet"]) == 0

    state = read_state(run_dir)
    assert state["epoch"] == target
    assert len(state["history"]["loss"]) == target and len(state["history"]["val_cer"]) == target
    # The optimizer state came back too: its step counter went on from the saved epoch.
    last = keras.models.load_model(run_dir / "last.keras")
    assert int(last.optimizer.iterations.numpy()) == target * STEPS
    assert (run_dir / "best.keras").is_file()
    assert any((run_dir / "logs" / "validation").iterdir())
