"""keras-htr: handwritten text recognition with TensorFlow/Keras."""

__version__ = "0.1.0"

from keras_htr.charset import Charset  # noqa: E402


def load_model(path=None):
    """A recognizer ready to `.transcribe(images_or_paths)`; `path=None` is the shipped model."""
    from keras_htr.models.recognizer import load_recognizer

    return load_recognizer(path)
