"""Keras layers: MDLSTM2D, Collapse, Dropout (Keras' dropout, fast under XLA on CPU)."""

from keras_htr.layers.collapse import Collapse
from keras_htr.layers.dropout import Dropout
from keras_htr.layers.mdlstm import MDLSTM2D

__all__ = ["MDLSTM2D", "Collapse", "Dropout"]
