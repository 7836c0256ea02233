"""Keras layers: MDLSTM2D, Collapse."""

from keras_htr.layers.collapse import Collapse
from keras_htr.layers.mdlstm import MDLSTM2D

__all__ = ["Collapse", "MDLSTM2D"]
