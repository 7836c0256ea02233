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
    help_text = capsys.readouterr().out
    assert e.value.code == 0 and "--resume" in help_text and "--deterministic-augment" in help_text
    assert "global norm" in help_text
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

    # A resume may change the early-stopping patience; the stored config keeps the new one.
    def stored_patience():
        return json.loads((run_dir / "train_config.json").read_text())["patience"]

    assert stored_patience() == 8
    assert main(["train", "--out", str(run_dir), "--resume", "--epochs", str(target + 1),
                 "--patience", "40", "--quiet"]) == 0
    assert stored_patience() == 40 and read_state(run_dir)["epoch"] == target + 1


def _config(line_folder, out, **kwargs):
    from keras_htr.models.config import CRNNConfig, ModelConfig
    from keras_htr.training import TrainConfig

    model = ModelConfig(arch="crnn", crnn=CRNNConfig(
        conv_filters=(8, 16, 16), pool_sizes=((2, 2), (2, 2), (2, 1)), lstm_units=16,
        lstm_layers=1, dropout=0.0,
    ))
    options = {"train": str(line_folder), "val": str(line_folder), "out": str(out), "model": model,
               "batch_size": 4, "steps_per_epoch": STEPS, "augment": False, "verbose": 0}
    return TrainConfig(**{**options, **kwargs})


def _weights(path):
    return [w.numpy() for w in keras.models.load_model(path).weights]


def test_nan_epoch_is_never_saved_or_promoted(line_folder, tmp_path, monkeypatch):
    import numpy as np

    from keras_htr.models.line_model import LineModel
    from keras_htr.training import train

    run_dir = tmp_path / "run"
    train(_config(line_folder, run_dir, epochs=1))
    good = _weights(run_dir / "last.keras")
    assert all(np.isfinite(w).all() for w in good)

    real_loss = LineModel.compute_loss

    def nan_loss(self, *args, **kwargs):
        return real_loss(self, *args, **kwargs) * float("nan")

    monkeypatch.setattr(LineModel, "compute_loss", nan_loss)
    result = train(_config(line_folder, run_dir, epochs=3), resume=True)

    # TerminateOnNaN stopped epoch 2; nothing of it was saved, the good epoch stays current.
    state = read_state(run_dir)
    assert state["epoch"] == 1 and result.epochs_done == 1
    assert (run_dir / state["checkpoint"]).is_file()
    for path in (run_dir / "last.keras", run_dir / state["checkpoint"]):
        for saved, expected in zip(_weights(path), good):
            np.testing.assert_array_equal(saved, expected)
    assert all(np.isfinite(w).all() for w in _weights(run_dir / "best.keras"))

    # NaN from the first epoch: no best model either (any CER beats the initial infinity).
    fresh = tmp_path / "fresh"
    train(_config(line_folder, fresh, epochs=2))
    assert read_state(fresh) is None
    assert not (fresh / "best.keras").exists() and not (fresh / "last.keras").exists()


def test_one_validation_pass_per_epoch_and_resume_continues_data_order(line_folder, tmp_path, monkeypatch):
    from keras_htr import evaluation
    from keras_htr.data import pipeline
    from keras_htr.training import train

    passes, epochs_asked = [], []
    real_evaluate, real_make_dataset = evaluation.evaluate, pipeline.make_dataset

    def counting_evaluate(model, samples, **kwargs):
        passes.append(len(samples))
        return real_evaluate(model, samples, **kwargs)

    def recording_make_dataset(*args, **kwargs):
        epochs_asked.append(kwargs.get("epoch", 0))
        return real_make_dataset(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", counting_evaluate)
    monkeypatch.setattr(pipeline, "make_dataset", recording_make_dataset)
    run_dir = tmp_path / "run"
    train(_config(line_folder, run_dir, epochs=2))
    state = read_state(run_dir)
    # The validation lines go through the model once per epoch: the error-rate callback's
    # pass. A Keras validation pass as well would log val_loss.
    assert passes == [4, 4] and "val_loss" not in state["history"]
    assert len(state["history"]["val_cer"]) == 2
    train(_config(line_folder, run_dir, epochs=3), resume=True)
    # The resumed run's data starts at epoch 2's order, not epoch 0's.
    assert epochs_asked == [0, 2]


@pytest.mark.parametrize("keep", ["best", "last"])
def test_keep_picks_the_epoch_best_keras_holds(line_folder, tmp_path, monkeypatch, keep):
    import types

    import numpy as np

    from keras_htr import evaluation
    from keras_htr.training import train

    # Validation CER best at epoch 1, then worse: with patience 1, "best" stops after epoch 2
    # and keeps epoch 1 in best.keras; "last" trains all 4 epochs and keeps the 4th.
    cers = iter([0.2, 0.9, 0.9, 0.9])
    monkeypatch.setattr(evaluation, "evaluate", lambda *a, **k: types.SimpleNamespace(cer=next(cers), wer=1.0))
    run_dir = tmp_path / "run"
    result = train(_config(line_folder, run_dir, epochs=4, patience=1, keep=keep))
    assert result.epochs_done == (2 if keep == "best" else 4)
    same = [np.array_equal(a, b) for a, b in zip(_weights(run_dir / "best.keras"), _weights(run_dir / "last.keras"))]
    assert all(same) == (keep == "last")


def test_gradient_clipping_is_by_global_norm(line_folder, tmp_path):
    from keras_htr.training import _optimizer

    optimizer = _optimizer(_config(line_folder, tmp_path, clipnorm=1.0), steps_per_epoch=10)
    assert optimizer.global_clipnorm == 1.0 and optimizer.clipnorm is None
    # Two gradients of norm 3 and 4: clipped together to global norm 1, keeping their ratio.
    import numpy as np

    clipped = optimizer._clip_gradients([keras.ops.ones((1,)) * 3.0, keras.ops.ones((1,)) * 4.0])
    np.testing.assert_allclose([float(g[0]) for g in clipped], [0.6, 0.8], rtol=1e-5)


def test_options_reach_the_train_config(line_folder, tmp_path, monkeypatch):
    from keras_htr import training

    seen = []

    def fake_train(config, resume=False, patience=None):
        seen.append(config)
        return training.TrainResult(tmp_path, tmp_path / "best.keras", tmp_path / "last.keras", 0, None, {})

    monkeypatch.setattr(training, "train", fake_train)
    base = ["train", "--train", str(line_folder), "--val", str(line_folder), "--out", str(tmp_path / "r")]
    assert main(base) == 0
    assert main(base + ["--deterministic-augment", "--clipnorm", "2.5", "--seed", "7", "--augment-strength", "2"]) == 0
    assert [c.deterministic_augment for c in seen] == [False, True]
    assert seen[1].clipnorm == 2.5 and seen[1].seed == 7
    assert [c.augment_strength for c in seen] == [1.0, 2.0]
    assert main(base + ["--augment-strength", "3"]) == 2  # beyond what the augmentation can draw


def test_progress_bar_only_on_a_terminal(line_folder, tmp_path, monkeypatch):
    # Redirected to a log file, a progress bar is thousands of redraws on one line.
    from keras_htr import training

    seen = []

    def fake_train(config, resume=False, patience=None):
        seen.append(config.verbose)
        return training.TrainResult(tmp_path, tmp_path / "best.keras", tmp_path / "last.keras", 0, None, {})

    class Terminal:
        def isatty(self):
            return True

        def write(self, text):
            return len(text)

        def flush(self):
            pass

    monkeypatch.setattr(training, "train", fake_train)
    base = ["train", "--train", str(line_folder), "--val", str(line_folder), "--out", str(tmp_path / "r")]
    assert main(base) == 0  # pytest's captured stdout is not a terminal
    monkeypatch.setattr(sys, "stdout", Terminal())
    assert main(base) == 0
    assert main(base + ["--quiet"]) == 0
    assert seen == [2, 1, 2]


def test_init_from_takes_the_fine_tuning_defaults(line_folder, tmp_path, monkeypatch):
    from keras_htr import training
    from keras_htr.finetune import FINETUNE_DEFAULTS

    seen = []

    def fake_train(config, resume=False, patience=None):
        seen.append(config)
        return training.TrainResult(tmp_path, tmp_path / "best.keras", tmp_path / "last.keras", 0, None, {})

    monkeypatch.setattr(training, "train", fake_train)
    base = ["train", "--train", str(line_folder), "--out", str(tmp_path / "r"), "--init-from", "shipped"]
    assert main(base) == 0
    assert main(base + ["--lr", "1e-2", "--alphabet", "keep", "--freeze", "encoder", "--no-augment"]) == 0
    assert main(["train", "--train", str(line_folder), "--out", str(tmp_path / "s")]) == 0  # no --val
    tuned, custom, scratch = seen
    assert tuned.init_from == "shipped" and tuned.val is None and tuned.alphabet == "union"
    for key, value in FINETUNE_DEFAULTS.items():
        assert getattr(tuned, key) == value, key
    assert custom.learning_rate == 1e-2 and custom.alphabet == "keep" and custom.freeze == "encoder"
    assert custom.augment is False and custom.epochs == FINETUNE_DEFAULTS["epochs"]
    assert scratch.init_from is None and scratch.learning_rate == 1e-3 and scratch.epochs == 30
    assert scratch.min_steps_per_epoch == 1
    assert main(["train", "--train", str(line_folder), "--out", str(tmp_path / "t"), "--alphabet", "new"]) == 2


def test_fine_tune_from_the_command_line(model_path, make_line_folder, tmp_path, capsys):
    hand = make_line_folder(tmp_path / "hand", ["abd", "dab", "ba d", "cab", "abc"])
    out = tmp_path / "run"
    fast = ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "2", "--no-augment", "--quiet"]
    # keep: 'd' is not in the model's alphabet; refused before training, naming it and its files.
    code = main(["train", "--init-from", str(model_path), "--train", str(hand), "--out", str(out),
                 "--alphabet", "keep", *fast])
    err = capsys.readouterr().err
    assert code == 2 and "['d']" in err and "line0.png" in err and "line3.png" not in err
    assert read_state(out) is None
    # A file that is not a keras-htr line model is named.
    (tmp_path / "page.keras").write_bytes(b"PK not really")
    assert main(["train", "--init-from", str(tmp_path / "page.keras"), "--train", str(hand),
                 "--out", str(out), *fast]) == 2
    assert "page.keras is not a Keras .keras model file" in capsys.readouterr().err

    assert main(["train", "--init-from", str(model_path), "--train", str(hand), "--out", str(out), *fast]) == 0
    assert read_state(out)["epoch"] == 1
    assert keras.models.load_model(out / "best.keras").charset.chars[-1] == "d"  # union
    assert main(["train", "--out", str(out), "--resume", "--epochs", "2", "--quiet"]) == 0
    assert read_state(out)["epoch"] == 2
