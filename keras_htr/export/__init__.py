"""Export to SavedModel (TF Serving) and TFLite."""
