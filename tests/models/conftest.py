"""Tiny synthetic lines (PIL's built-in font) and tiny models for fast model tests."""

import pytest
from tiny_lines import TEXTS, TINY_CRNN, TINY_MDLSTM, render_line

from keras_htr.charset import Charset


@pytest.fixture(scope="session")
def lines():
    return [render_line(t) for t in TEXTS]


@pytest.fixture(scope="session")
def charset():
    return Charset.from_texts(TEXTS)


@pytest.fixture(scope="session")
def texts():
    return list(TEXTS)


@pytest.fixture(scope="session")
def tiny_crnn():
    return TINY_CRNN


@pytest.fixture(scope="session")
def tiny_mdlstm():
    return TINY_MDLSTM
