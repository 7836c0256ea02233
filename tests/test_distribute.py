"""Multi-device training: 2 replicas give the loss and the SGD step of 1 device on the same batch.

TensorFlow's logical devices must be set before it initialises, so each check runs in a fresh
Python process with two logical CPU devices.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from keras_htr.distribute import is_chief, make_strategy

pytestmark = pytest.mark.slow

# One SGD step of `model.fit` on one global batch of 4 lines, on one device and on a
# MirroredStrategy over two logical CPUs: the loss fit reports and the weights after the step.
# The encoder (conv + batch norm) is frozen: batch norm's batch statistics are per replica (not
# synchronised), so only a frozen encoder computes the same features on 2 replicas as on 1;
# what is compared is the CTC loss and its gradients through the BLSTM and output layers.
_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    from keras_htr.charset import Charset
    from keras_htr.ctc import required_frames
    from keras_htr.data.pipeline import pad_batch
    from keras_htr.data.preprocess import PreprocessConfig, preprocess_line
    from keras_htr.distribute import is_chief, make_strategy
    from keras_htr.models.line_model import LineModel
    from tiny_lines import TEXTS, TINY_CRNN, render_line

    charset = Charset.from_texts(TEXTS)
    pre = PreprocessConfig(height=32)
    strategy = make_strategy("mirrored")


    def compare(texts):
        # "image:label" renders one text and labels the line with another.
        pairs = [t.split(":") if ":" in t else (t, t) for t in texts]
        lines = [preprocess_line(render_line(image), pre).numpy() for image, _ in pairs]
        inputs = pad_batch(lines)
        labels = np.full((len(texts), 40), -1, np.int32)
        for i, (_, label) in enumerate(pairs):
            labels[i, : len(label)] = charset.encode(label)

        def one_step(strategy):
            keras.utils.set_random_seed(7)
            with strategy.scope():
                model = LineModel(TINY_CRNN, charset, pre, freeze="encoder")
                model.compile(optimizer=keras.optimizers.SGD(0.5))
            ds = tf.data.Dataset.from_tensors(
                ({"image": inputs["image"], "width": inputs["width"]}, labels))
            history = model.fit(ds, epochs=1, verbose=0)
            weights = [w.numpy() for w in model.trainable_weights]
            return history.history["loss"][0], weights

        lengths = LineModel(TINY_CRNN, charset, pre).output_lengths(inputs["width"]).numpy()
        loss1, w1 = one_step(tf.distribute.get_strategy())
        loss2, w2 = one_step(strategy)
        keras.utils.set_random_seed(7)
        w0 = [w.numpy() for w in LineModel(TINY_CRNN, charset, pre, freeze="encoder").trainable_weights]
        step1 = sum(float(np.abs(a - b).sum()) for a, b in zip(w1, w0))
        diff = max(float(np.abs(a - b).max()) for a, b in zip(w1, w2))
        scale = max(float(np.abs(a - b).max()) for a, b in zip(w1, w0))
        return {"replicas": strategy.num_replicas_in_sync, "loss1": loss1, "loss2": loss2,
                "step": step1, "max_weight_diff": diff, "max_step": scale,
                "infeasible": int(required_frames(labels).numpy()[-1] > lengths[-1])}


    print(json.dumps([compare(texts.split("|")) for texts in sys.argv[1:]]))
    """
)


# The same for the paragraph model: one SGD step on 4 two-line paragraphs (the same line count
# on both replicas, so each runs the same attention steps as one device), encoder frozen as above.
_PARAGRAPH_SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import keras
    from keras_htr.distribute import make_strategy
    from models.test_paragraph import batch, tiny

    x, y = batch([["abc", "cab"], ["bca a", "c"], ["ab ba", "cc"], ["cab ab", "c a"]])
    y["line_centres"] = np.tile(np.array([[12.0, 32.0]], np.float32), (4, 1))

    def one_step(strategy):
        keras.utils.set_random_seed(7)
        with strategy.scope():
            model = tiny(max_lines=4)
            for _, conv, bn, *_ in model.conv_blocks:
                conv.trainable = bn.trainable = False
            model.compile(optimizer=keras.optimizers.SGD(0.1))
        before = [w.numpy() for w in model.trainable_weights]
        history = model.fit(tf.data.Dataset.from_tensors((x, y)), epochs=1, verbose=0)
        after = [w.numpy() for w in model.trainable_weights]
        return history.history["loss"][0], before, after

    strategy = make_strategy("mirrored")
    loss1, w0, w1 = one_step(tf.distribute.get_strategy())
    loss2, _, w2 = one_step(strategy)
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync, "loss1": loss1, "loss2": loss2,
        "max_step": max(float(np.abs(a - b).max()) for a, b in zip(w1, w0)),
        "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(w1, w2)),
    }))
    """
)

def _env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "", **extra}
    tests_dir = os.path.dirname(__file__)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (tests_dir, env.get("PYTHONPATH")) if p)
    return env


@pytest.fixture(scope="module")
def steps():
    """One fresh process, two cases: 4 feasible lines, and 3 feasible + 1 infeasible."""
    cases = [["abc", "cab", "bca a", "ab ba"], ["abc", "cab", "bca a", "a:aaaaaaaa"]]
    out = subprocess.run(  # noqa: PLW1510 (the return code is checked below, with stderr)
        [sys.executable, "-c", _SCRIPT, *("|".join(c) for c in cases)], capture_output=True,
        text=True, env=_env(), timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_two_replicas_match_one_device(steps):
    result = steps[0]
    assert result["replicas"] == 2
    assert result["step"] > 0  # the step moved the weights: the comparison means something
    assert result["loss2"] == pytest.approx(result["loss1"], rel=1e-4)
    # A 2x gradient would differ by a whole step; float noise is far below 1% of one.
    assert result["max_weight_diff"] < 0.01 * result["max_step"]


def test_infeasible_line_on_one_replica_counts_once(steps):
    # Eight a's cannot fit the frames of a one-letter line: the mean is over the 3 feasible
    # lines of the global batch, not a mean of the two replicas' means (over 2 and 1 lines).
    result = steps[1]
    assert result["infeasible"] == 1
    assert result["loss2"] == pytest.approx(result["loss1"], rel=1e-4)
    assert result["max_weight_diff"] < 0.01 * result["max_step"]


def test_unknown_strategy_and_multiworker_without_tf_config_are_refused(monkeypatch):
    with pytest.raises(ValueError, match="one of"):
        make_strategy("tpu")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multiworker")


def test_train_command_multiworker_single_worker_cluster(tmp_path):
    """`keras-htr train --strategy multiworker` with a one-worker TF_CONFIG (a true 2-worker
    cluster would start two trainings): it trains, and the chief writes the run directory."""
    from tiny_lines import TEXTS, TINY_CRNN, write_lines

    data = write_lines(tmp_path / "lines", TEXTS * 2)
    (tmp_path / "model.json").write_text(json.dumps(TINY_CRNN.get_config()), encoding="utf-8")
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    tf_config = {"cluster": {"worker": [f"localhost:{port}"]}, "task": {"type": "worker", "index": 0}}
    out = subprocess.run(  # noqa: PLW1510 (the return code is checked below, with stderr)
        [sys.executable, "-m", "keras_htr.cli.main", "train", "--train", str(data),
         "--val", str(data), "--model-config", str(tmp_path / "model.json"), "--out",
         str(tmp_path / "run"), "--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "4",
         "--strategy", "multiworker", "--quiet"],
        capture_output=True, text=True, env=_env(TF_CONFIG=json.dumps(tf_config)), timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "epochs done: 1" in out.stdout
    assert (tmp_path / "run" / "best.keras").is_file()
    config = json.loads((tmp_path / "run" / "train_config.json").read_text(encoding="utf-8"))
    assert config["strategy"] == "multiworker"
    assert not list((tmp_path / "run").glob("worker-*"))  # the chief writes to --out itself


def test_train_command_refuses_multiworker_without_tf_config(tmp_path, monkeypatch, capsys):
    from tiny_lines import TEXTS, write_lines

    from keras_htr.cli.main import main

    monkeypatch.delenv("TF_CONFIG", raising=False)
    data = write_lines(tmp_path / "lines", TEXTS)
    code = main(["train", "--train", str(data), "--out", str(tmp_path / "run"), "--strategy", "multiworker"])
    assert code == 2
    assert "TF_CONFIG" in capsys.readouterr().err


@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 0}, True),
        ({"worker": ["a:1", "b:1"]}, {"type": "worker", "index": 1}, False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "worker", "index": 0}, False),
        ({"chief": ["c:1"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, True),
    ],
)
def test_only_the_chief_writes_the_run(monkeypatch, cluster, task, chief):
    """Which worker of a TF_CONFIG cluster writes to --out (the others to out/worker-<i>)."""
    import types

    import tensorflow as tf

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    assert is_chief(types.SimpleNamespace(cluster_resolver=resolver)) is chief
    assert is_chief(tf.distribute.get_strategy()) is True  # no strategy: one process, it writes


def test_paragraph_model_two_replicas_match_one_device():
    out = subprocess.run(  # noqa: PLW1510 (the return code is checked below, with stderr)
        [sys.executable, "-c", _PARAGRAPH_SCRIPT], capture_output=True, text=True, env=_env(),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["max_step"] > 0
    assert result["loss2"] == pytest.approx(result["loss1"], rel=1e-4)
    assert result["max_weight_diff"] < 0.01 * result["max_step"]
