"""The installed package, not the checkout: a wheel carries the shipped model, and
`keras_htr.load_model()` finds it from any directory."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """A wheel built from a copy of the sources (the build leaves nothing in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(
        REPO / "keras_htr", src / "keras_htr", ignore=shutil.ignore_patterns("__pycache__")
    )
    dist = tmp_path_factory.mktemp("dist")
    # No build isolation: the installed setuptools builds it, so no download is needed.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (path,) = dist.glob("*.whl")
    return path


def test_wheel_holds_the_shipped_model_and_no_tests(wheel):
    from keras_htr.transcriber import SHIPPED_MODEL

    names = zipfile.ZipFile(wheel).namelist()
    assert "keras_htr/shipped/htr_line.keras" in names
    assert "keras_htr/shipped/lm/en.arpa.gz" in names  # `--lm en` works from a wheel too
    assert "keras_htr/shipped/lm/en.lexicon.txt.gz" in names  # so does `--lexicon en`
    assert SHIPPED_MODEL.relative_to(REPO).as_posix() == "keras_htr/shipped/htr_line.keras"
    assert not [n for n in names if n.startswith(("tests/", "scripts/", "saved_models/"))]
    assert wheel.name.startswith("htr_keras-")  # the distribution name (keras-htr is taken on PyPI)


@pytest.mark.slow
def test_installed_package_loads_the_shipped_model_from_another_directory(wheel, tmp_path):
    target, elsewhere = tmp_path / "site", tmp_path / "elsewhere"
    elsewhere.mkdir()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_HTR_MODEL", "PYTHONPATH")}
    env["PYTHONPATH"] = str(target)  # ahead of the editable install in site-packages
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    code = (
        "import keras_htr; model = keras_htr.load_model(); "
        "print(keras_htr.__file__); print(type(model).__name__, len(model.charset))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    where, loaded = out.stdout.strip().splitlines()[-2:]
    assert Path(where).resolve().is_relative_to(target.resolve())
    assert loaded.startswith("LineModel ")
