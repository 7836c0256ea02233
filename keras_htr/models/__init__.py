"""Recognition models: CRNN and MDLSTM line networks (CTC), and the paragraph model (vertical
attention over a line model)."""

from keras_htr.models.config import CRNNConfig, MDLSTMConfig, ModelConfig
from keras_htr.models.line_model import LineModel, build_model
from keras_htr.models.paragraph import ParagraphModel

__all__ = [
    "CRNNConfig",
    "LineModel",
    "MDLSTMConfig",
    "ModelConfig",
    "ParagraphModel",
    "build_model",
]
