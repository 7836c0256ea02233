"""`LineModel`: a line image in, CTC logits out; owns its alphabet and preprocessing.

The model is a functional `keras.Model` subclass (the KerasHub pattern): its graph is wired in
`__init__` from a `ModelConfig`, its `get_config` holds only that config, the `Charset` and the
`PreprocessConfig`, so `keras.models.load_model` rebuilds it in a fresh process without
`custom_objects`. Training is plain `model.fit`: `compute_loss` is CTC with each line's real
output length, and counts the labels too long for their line.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_htr.charset import Charset
from keras_htr.ctc import ctc_loss
from keras_htr.data.preprocess import PreprocessConfig
from keras_htr.distribute import replica_mean, replica_scale
from keras_htr.models.config import ModelConfig
from keras_htr.models.width_mask import downsampled_width

#: The registered name a saved `LineModel` carries in its `.keras` file.
LINE_MODEL_NAME = "keras_htr>LineModel"
#: What `LineModel(freeze=...)` accepts.
FREEZE_CHOICES = (None, "encoder")
#: Names of the layers holding the per-class output weights, per architecture.
_OUTPUT_LAYER = {"crnn": "logits", "mdlstm": "logits_per_pixel"}


def _wire(arch: str):
    if arch == "crnn":
        from keras_htr.models.crnn import crnn_logits

        return crnn_logits
    from keras_htr.models.mdlstm import mdlstm_logits

    return mdlstm_logits


@keras.saving.register_keras_serializable(package="keras_htr")
class LineModel(keras.Model):
    """Line recognizer: `{"image": (B, height, W, 1), "width": (B,)}` -> logits (B, T, classes).

    Args:
        model_config: `ModelConfig` (or its dict) choosing the architecture and sizes.
        charset: the `Charset` (or its dict); the output has `charset.num_classes` logits, blank 0.
        preprocess_config: `PreprocessConfig` (or its dict) that turns an image into the input.
        freeze: None, or `"encoder"` to keep the convolutional encoder's weights fixed during
            training (see `encoder_layers`); fine-tuning on a few lines then only moves the
            sequence layers and the output layer. Saved with the model, so a resumed run
            stays frozen. Defaults to None.

    Example:

    >>> model = LineModel(ModelConfig(), Charset("ab"), PreprocessConfig(height=32))
    >>> model.output_lengths([13, 16]).numpy().tolist()
    [4, 4]
    """

    def __init__(self, model_config, charset, preprocess_config, freeze=None, **kwargs):
        if isinstance(model_config, dict):
            model_config = ModelConfig.from_config(model_config)
        if isinstance(charset, dict):
            charset = Charset.from_config(charset)
        if isinstance(preprocess_config, dict):
            preprocess_config = PreprocessConfig.from_config(preprocess_config)
        if not isinstance(model_config, ModelConfig):
            raise ValueError(
                f"Received an invalid value for argument `model_config`, expected a "
                f"ModelConfig, got {model_config!r}"
            )
        if not isinstance(charset, Charset):
            raise ValueError(
                f"Received an invalid value for argument `charset`, expected a Charset, "
                f"got {charset!r}"
            )
        if not isinstance(preprocess_config, PreprocessConfig):
            raise ValueError(
                f"Received an invalid value for argument `preprocess_config`, expected a "
                f"PreprocessConfig, got {preprocess_config!r}"
            )
        if freeze not in FREEZE_CHOICES:
            raise ValueError(
                f"Received an invalid value for argument `freeze`, expected one of "
                f"{FREEZE_CHOICES}, got {freeze!r}"
            )
        vertical, horizontal = model_config.strides
        if vertical > preprocess_config.height:
            raise ValueError(
                f"Received an invalid value for argument `model_config`: its vertical stride "
                f"{vertical} exceeds the line height {preprocess_config.height}"
            )

        image = keras.Input((preprocess_config.height, None, 1), name="image")
        width = keras.Input((), dtype="int32", name="width")
        logits = _wire(model_config.arch)(
            image, width, getattr(model_config, model_config.arch), charset.num_classes
        )
        kwargs.setdefault("name", f"line_{model_config.arch}")
        super().__init__(inputs={"image": image, "width": width}, outputs=logits, **kwargs)

        self.model_config = model_config
        self.charset = charset
        self.preprocess_config = preprocess_config
        self.horizontal_stride = horizontal
        self.freeze = freeze
        if freeze == "encoder":
            for layer in encoder_layers(self):
                layer.trainable = False
        self.infeasible_labels = keras.metrics.Sum(name="infeasible_labels")

    def output_lengths(self, width):
        """Frames of each line in the logits: ceil(width / horizontal stride), int32 (B,)."""
        return downsampled_width(tf.convert_to_tensor(width), self.horizontal_stride)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss over the lines whose label fits their frames; the others are counted."""
        if y_pred is None:
            y_pred = self(x, training=training)
        loss, feasible = ctc_loss(y, y_pred, self.output_lengths(x["width"]))
        feasible_f = tf.cast(feasible, tf.float32)
        if sample_weight is not None:
            loss = loss * tf.cast(sample_weight, tf.float32)
        self.infeasible_labels.update_state(tf.reduce_sum(1.0 - feasible_f))
        # Under tf.distribute, Keras sums the replicas' gradients and expects a loss already
        # scaled per replica: each replica returns its share of the global batch's mean.
        total = replica_mean(tf.reduce_sum(loss), tf.reduce_sum(feasible_f))
        if not self.losses:
            return total
        return total + replica_scale(tf.cast(tf.add_n(self.losses), tf.float32))

    def get_config(self):
        return {
            "model_config": self.model_config.get_config(),
            "charset": self.charset.get_config(),
            "preprocess_config": self.preprocess_config.get_config(),
            "freeze": self.freeze,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)


def encoder_layers(model) -> list:
    """The layers `freeze="encoder"` fixes: the feature extractor below the sequence model.

    CRNN: the convolution blocks (every weighted layer before the first BLSTM). MDLSTM: every
    weighted layer before the last MDLSTM layer (the last MDLSTM and the output stay free).
    """
    layers = [layer for layer in model.layers if layer.weights]
    if model.model_config.arch == "crnn":
        top = next(i for i, layer in enumerate(layers) if layer.name.startswith("blstm"))
    else:
        top = max(i for i, layer in enumerate(layers) if layer.name.startswith("mdlstm")
                  and layer.name[len("mdlstm"):].isdigit())
    return layers[:top]


def resize_output(model, charset, freeze=None) -> LineModel:
    """A copy of `model` that writes `charset`: the alphabet-change step of fine-tuning.

    Every layer keeps its weights; in the output layer, each symbol of `charset` that `model`
    already writes keeps its weights (and the blank its own), and new symbols start from the
    layer's initializer. Model sizes and preprocessing are those of `model`.

    Args:
        model: a trained `LineModel`.
        charset: the `Charset` the new model writes (any order, any size).
        freeze: as for `LineModel`. Defaults to None.

    Returns:
        A new `LineModel`; `model` is not changed.

    Example:

    >>> old = LineModel(ModelConfig(), Charset("ab"), PreprocessConfig())
    >>> new = resize_output(old, Charset("abc"))
    >>> new.charset.num_classes
    4
    """
    import numpy as np

    check_line_model(model)
    if not isinstance(charset, Charset):
        raise ValueError(
            f"Received an invalid value for argument `charset`, expected a Charset, got {charset!r}"
        )
    new = LineModel(model.model_config, charset, model.preprocess_config, freeze=freeze)
    old_layers = {layer.name: layer for layer in model.layers}
    output_name = _OUTPUT_LAYER[model.model_config.arch]
    columns = np.asarray(charset.id_map(model.charset))
    kept = columns >= 0
    for layer in new.layers:
        if not layer.weights:
            continue
        old = old_layers[layer.name].get_weights()
        if layer.name != output_name:
            layer.set_weights(old)
            continue
        weights = layer.get_weights()  # fresh: new symbols keep these
        for fresh, trained in zip(weights, old):
            fresh[..., kept] = trained[..., columns[kept]]
        layer.set_weights(weights)
    return new


def saved_model_kind(path) -> str:
    """What a `.keras` file holds, read from its `config.json` without building anything:
    the registered class name (`"keras_htr>LineModel"` for a line model).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: not a Keras `.keras` archive.
    """
    import json
    import zipfile
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as e:
        raise ValueError(f"{path} is not a Keras .keras model file ({e})") from None
    return config.get("registered_name") or f"{config.get('module')}.{config.get('class_name')}"


def check_line_model_file(path) -> None:
    """Refuses, by name and before loading, a file that does not hold a keras-htr `LineModel`
    (a paragraph model, another package's model, a plain Keras model, not a `.keras` file).

    Raises:
        FileNotFoundError: no file at `path`.
        ValueError: naming the file and what it holds.
    """
    kind = saved_model_kind(path)
    if kind != LINE_MODEL_NAME:
        raise ValueError(
            f"{path} holds a {kind}, not a keras-htr line model ({LINE_MODEL_NAME}); a line "
            f"recognizer is needed here"
        )


def check_line_model(model) -> None:
    """Refuses, before any work, a model that lacks what export and decoding need."""
    for attribute in ("charset", "preprocess_config", "output_lengths"):
        if not hasattr(model, attribute):
            raise ValueError(
                f"Received an invalid value for argument `model`, expected a keras_htr "
                f"LineModel (with `{attribute}`), got {type(model).__name__}"
            )


def build_model(config=None, charset=None, preprocess_config=None) -> LineModel:
    """A new, untrained line transcriber.

    Args:
        config: a `ModelConfig`, its dict, or an architecture name ("crnn" or "mdlstm");
            None is `ModelConfig()`.
        charset: the `Charset` the model writes (required).
        preprocess_config: the `PreprocessConfig` of its inputs; None is `PreprocessConfig()`.
    """
    if config is None:
        config = ModelConfig()
    elif isinstance(config, str):
        config = ModelConfig(arch=config)
    if charset is None:
        raise ValueError("Received an invalid value for argument `charset`, expected a Charset, got None")
    return LineModel(config, charset, preprocess_config or PreprocessConfig())
