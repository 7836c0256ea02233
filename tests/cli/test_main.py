"""`keras-htr` entry point: TensorFlow's native noise is kept off stderr, failures are not."""

import os
import subprocess
import sys


def test_a_failing_tensorflow_import_still_shows_what_it_printed(tmp_path):
    fake = tmp_path / "tensorflow"
    fake.mkdir()
    (fake / "__init__.py").write_text(
        "import os\nos.write(2, b'native loader message\\n')\nraise ImportError('broken install')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(tmp_path)
    code = "from keras_htr.cli.main import quiet_tensorflow; quiet_tensorflow()"
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 1
    assert "native loader message" in run.stderr and "ImportError: broken install" in run.stderr


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\nfrom keras_htr.cli.main import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\nprint('tensorflow' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.split()[-1] == "False", run.stderr
