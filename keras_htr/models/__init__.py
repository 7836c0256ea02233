"""Line recognition models: CRNN and MDLSTM line networks, trained with CTC."""

from keras_htr.models.config import CRNNConfig, MDLSTMConfig, ModelConfig
from keras_htr.models.line_model import LineRecognizer, build_model
from keras_htr.models.recognizer import Recognizer, Transcription, load_recognizer

__all__ = [
    "CRNNConfig",
    "LineRecognizer",
    "MDLSTMConfig",
    "ModelConfig",
    "Recognizer",
    "Transcription",
    "build_model",
    "load_recognizer",
]
