"""A tiny (untrained) saved model and a small line folder for the command-line tests."""

import pytest
from tiny_lines import TINY_CRNN, write_lines

from keras_htr.charset import Charset

TEXTS = ["abc", "cab", "bca a", "ab ba"]


@pytest.fixture(scope="session")
def texts():
    return list(TEXTS)


@pytest.fixture(scope="session")
def make_line_folder():
    """`make_line_folder(folder, texts)` writes line images with their .gt.txt."""
    return write_lines


@pytest.fixture(scope="session")
def line_folder(tmp_path_factory):
    return write_lines(tmp_path_factory.mktemp("lines"), TEXTS)


@pytest.fixture(scope="session")
def model_path(tmp_path_factory):
    import keras

    from keras_htr.models import build_model

    keras.utils.set_random_seed(1)
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_model(TINY_CRNN, Charset.from_texts(TEXTS)).save(path)
    return path
