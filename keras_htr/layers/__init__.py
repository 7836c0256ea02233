"""Keras layers: MDLSTM2D, Collapse."""
