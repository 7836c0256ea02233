"""Line recognition models: CRNN and MDLSTM line networks, trained with CTC."""

from keras_htr.models.config import CRNNConfig, MDLSTMConfig, ModelConfig
from keras_htr.models.line_model import LineModel, build_model

__all__ = [
    "CRNNConfig",
    "LineModel",
    "MDLSTMConfig",
    "ModelConfig",
    "build_model",
]
