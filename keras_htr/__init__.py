"""keras-htr: handwritten text recognition with TensorFlow/Keras.

- `load_model(path)`: the Keras model (a `LineModel`) saved at `path`, like
  `keras.models.load_model`, with keras-htr's classes registered; `path=None` is the shipped model.
- `load_transcriber(path)`: a `Transcriber` that turns images or files into `Transcription`s
  (for a paragraph model's file, a `ParagraphTranscriber` giving `ParagraphTranscription`s).
"""

__version__ = "0.1.0"

from keras_htr.charset import Charset  # noqa: E402


def load_model(path=None):
    """The Keras `LineModel` at `path` (a `.keras` file); `path=None` is the shipped model."""
    from keras_htr.transcriber import load_line_model

    return load_line_model(path)


def load_transcriber(path=None):
    """A `Transcriber` ready to `.transcribe(images_or_paths)`; `path=None` is the shipped model.

    The file says which kind of model it holds: a paragraph model gives a `ParagraphTranscriber`.
    """
    from keras_htr.transcriber import load_transcriber as _load

    return _load(path)


__all__ = ["Charset", "load_model", "load_transcriber"]
