"""Datasets, preprocessing, augmentation, tf.data pipeline, synthetic handwriting.

TensorFlow is imported only by the modules that need it (preprocess_line, pipeline, augment).
"""

from keras_htr.data.pipeline import make_dataset, pad_batch  # noqa: F401
from keras_htr.data.preprocess import ImageError, PreprocessConfig, load_image  # noqa: F401
from keras_htr.data.read import read_dataset  # noqa: F401
from keras_htr.data.sample import LineDataset, ReadError, Sample  # noqa: F401
