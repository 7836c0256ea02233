"""`ParagraphModel`: a paragraph image in, one CTC line per attended text line out.

A Vertical Attention Network (Coquenet, Chatelain, Paquet, "End-to-end Handwritten Paragraph Text
Recognition Using a Vertical Attention Network", TPAMI 2022) built around the CRNN line model:

- **encoder**: the line model's convolution blocks over the whole block, giving a feature map of
  H/16 x W/4 x 128 (shipped CRNN);
- **vertical attention**, once per line: scores over feature rows from the row features (max over
  width, a dense layer), the previous line's attention and the coverage (sum of past attentions,
  through a 1D convolution over rows) and a decoder state (an LSTM cell fed with what the last
  line read); softmax over the image's rows;
- the attention reads a window of `k` rows (k = line height / vertical stride = 2): the attended line
  `sum_i a_i concat(f_i, ..., f_{i+k-1})` has exactly the frame layout (row-major h*C+c) the line
  model's BLSTMs were trained on, so the **whole line model** (encoder, BLSTMs, output layer) is
  reused and only the attention and the end-of-paragraph head are new;
- **end of paragraph**: a learned head gives P(line t exists) at each step (target 1 while a line
  remains); at most `max_lines` steps are ever run, so inference cannot run away.

Scale: the model reads blocks whose lines are ~40 px apart (`keras_htr.data.paragraph`).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from keras_htr.charset import Charset
from keras_htr.ctc import ctc_loss
from keras_htr.distribute import replica_mean
from keras_htr.layers import Dropout
from keras_htr.models.config import ModelConfig
from keras_htr.models.width_mask import downsampled_width

#: The registered name a saved `ParagraphModel` carries in its `.keras` file.
PARAGRAPH_MODEL_NAME = "keras_htr>ParagraphModel"
#: Default most lines read from one image.
MAX_LINES = 20
_POOL_FILL = -1e9  # stands in for a max-pool's -inf padding on masked rows and columns
_NEG = -1e9  # score of rows outside the image


def _mask(x, height, width, stride_h, stride_w, fill):
    """x (B, H, W, C) with rows/columns beyond each image's (downsampled) size set to `fill`."""
    rows = downsampled_width(height, stride_h)
    cols = downsampled_width(width, stride_w)
    r = tf.range(tf.shape(x)[1])[None, :, None] < rows[:, None, None]
    c = tf.range(tf.shape(x)[2])[None, None, :] < cols[:, None, None]
    return tf.where((r & c)[..., None], x, tf.cast(fill, x.dtype))


@keras.saving.register_keras_serializable(package="keras_htr")
class ParagraphModel(keras.Model):
    """Paragraph recognizer: `{"image", "height", "width"}` -> per-line CTC logits.

    Args:
        model_config: `ModelConfig` (or its dict) of a CRNN line model whose layers this model
            holds (conv blocks, BLSTMs, output layer; see `from_line_model`).
        charset: the `Charset` (or its dict); blank 0.
        line_height: the line model's input height (pixels): the attention reads
            `line_height / vertical stride` feature rows per line. Defaults to 32.
        attention_units: size of the attention and decoder state. Defaults to 128.
        max_lines: most lines read from one image (the hard cap). Defaults to 20.
        stop_weight: weight of the end-of-paragraph loss beside the CTC loss. Defaults to 1.
        attention_weight: weight of the line-position loss, used where the data gives each
            line's vertical centre (`y["line_centres"]`, from line boxes): cross-entropy between
            the attention and the rows whose window is centred on the line. It teaches the
            attention where lines are in a few hundred steps instead of leaving it to the CTC
            gradient alone, which matters on a CPU budget. 0 turns it off. Defaults to 1.

    Call arguments:
        inputs: {"image": float32 (B, H, W, 1) ink (paper 0, ink 1), "height": int (B,),
            "width": int (B,), optionally "n_lines": int (B,)}. With "n_lines" (training), the
            attention runs max(n_lines) + 1 steps and decodes max(n_lines) lines; without it,
            `max_lines` steps, decoding as many lines as the end head allows.

    Returns:
        {"logits": (B, T, frames, classes), "lengths": int32 (B,) frames of each image,
         "stop": (B, steps) P(line t exists), "attention": (B, steps, rows),
         "n_lines": int32 (B,) lines read (the leading steps with P > 0.5)}.

    Example:

    >>> model = ParagraphModel(ModelConfig(), Charset("ab"))
    >>> import numpy as np
    >>> out = model.read_paragraph({"image": np.zeros((1, 80, 40, 1), "float32"),
    ...                             "height": [80], "width": [40]})
    >>> out["logits"].shape[-1]
    3
    """

    def __init__(self, model_config, charset, line_height=32, attention_units=128,
                 max_lines=MAX_LINES, stop_weight=1.0, attention_weight=1.0, **kwargs):
        if isinstance(model_config, dict):
            model_config = ModelConfig.from_config(model_config)
        if isinstance(charset, dict):
            charset = Charset.from_config(charset)
        if not isinstance(model_config, ModelConfig) or model_config.arch != "crnn":
            raise ValueError(
                f"Received an invalid value for argument `model_config`, expected a CRNN "
                f"ModelConfig, got {model_config!r}"
            )
        if not isinstance(charset, Charset):
            raise ValueError(
                f"Received an invalid value for argument `charset`, expected a Charset, got {charset!r}"
            )
        for name, value in (("attention_units", attention_units), ("max_lines", max_lines),
                            ("line_height", line_height)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a positive int, got {value!r}"
                )
        kwargs.setdefault("name", "paragraph_van")
        super().__init__(**kwargs)
        self.model_config = model_config
        self.charset = charset
        self.line_height = line_height
        self.attention_units = attention_units
        self.max_lines = max_lines
        self.stop_weight = float(stop_weight)
        self.attention_weight = float(attention_weight)
        crnn = model_config.crnn
        self.stride_h, self.stride_w = model_config.strides
        self.window = max(1, line_height // self.stride_h)

        # Line model layers (same names, so weights copy over by name).
        self.conv_blocks = []
        for i, (filters, pool) in enumerate(zip(crnn.conv_filters, crnn.pool_sizes)):
            drop = Dropout(crnn.conv_dropout, name=f"conv{i}_dropout") if i >= 2 and crnn.conv_dropout else None
            conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")
            bn = keras.layers.BatchNormalization(momentum=0.9, name=f"conv{i}_bn")
            act = keras.layers.LeakyReLU(negative_slope=0.01, name=f"conv{i}_act")
            pooling = keras.layers.MaxPooling2D(pool, padding="same", name=f"conv{i}_pool") if pool != (1, 1) else None
            self.conv_blocks.append((drop, conv, bn, act, pooling, tuple(pool)))
        # Bidirectional copies the LSTM it wraps by serialising it; inside `load_model`'s
        # object-sharing scope (keyed by `id()`) a collected LSTM's address reused by the next
        # one made loads fail or share a layer. Keep every wrapped LSTM alive while building
        # (see `keras_htr.models.crnn`).
        wrapped = [keras.layers.LSTM(crnn.lstm_units, return_sequences=True)
                   for _ in range(crnn.lstm_layers)]
        self.blstms = [
            (Dropout(crnn.dropout, name=f"blstm{i}_dropout") if crnn.dropout else None,
             keras.layers.Bidirectional(lstm, name=f"blstm{i}"))
            for i, lstm in enumerate(wrapped)
        ]
        self.logits_dropout = Dropout(crnn.dropout, name="logits_dropout") if crnn.dropout else None
        self.logits_layer = keras.layers.Dense(charset.num_classes, name="logits")

        # New: the vertical attention and the end-of-paragraph head.
        units = attention_units
        self.row_dense = keras.layers.Dense(units, name="row_dense")
        self.row_context = keras.layers.Conv1D(units, 5, padding="same", name="row_context")
        self.location = keras.layers.Conv1D(units, 9, padding="same", name="location")
        self.state_proj = keras.layers.Dense(units, use_bias=False, name="state_proj")
        self.score = keras.layers.Dense(1, name="score")
        self.decoder = keras.layers.LSTMCell(units, name="decoder")
        self.stop_head = keras.layers.Dense(1, name="stop")

        self.ctc_tracker = keras.metrics.Mean(name="ctc")
        self.stop_tracker = keras.metrics.Mean(name="stop_loss")
        self.attention_tracker = keras.metrics.Mean(name="attention_loss")
        # Build every weight now (eagerly), so loading a saved file finds them all.
        self(
            {"image": tf.zeros((1, 2 * line_height, 2 * self.stride_w, 1)),
             "height": tf.constant([2 * line_height]), "width": tf.constant([2 * self.stride_w])},
            steps=1,
        )

    # -- encoder -------------------------------------------------------------------------------

    def encode(self, image, height, width, training=False):
        """Feature map (B, H/sh, W/sw, C), zero outside each image."""
        x = tf.cast(image, self.compute_dtype)
        sh = sw = 1
        for drop, conv, bn, act, pooling, (ph, pw) in self.conv_blocks:
            if drop is not None:
                x = drop(x, training=training)
            x = act(bn(conv(x), training=training))
            if pooling is not None:
                x = _mask(x, height, width, sh, sw, _POOL_FILL)
                x = pooling(x)
            sh, sw = sh * ph, sw * pw
            x = _mask(x, height, width, sh, sw, 0.0)
        return x

    def _windows(self, features):
        """(B, R, W, C) -> (B, R, W, k*C): rows i..i+k-1 side by side, row-major like the line
        model's frames (rows below the image are zeros)."""
        k = self.window
        padded = tf.pad(features, [[0, 0], [0, k - 1], [0, 0], [0, 0]])
        rows = tf.shape(features)[1]
        return tf.concat([padded[:, j : j + rows] for j in range(k)], axis=-1)

    # -- attention -----------------------------------------------------------------------------

    def attend(self, windows, height, width, steps, training=False):
        """Runs the vertical attention for `steps` lines.

        Returns:
            (attention (B, steps, R), stop probabilities (B, steps)).
        """
        rows_valid = downsampled_width(height, self.stride_h)
        cols_valid = downsampled_width(width, self.stride_w)
        n_rows = tf.shape(windows)[1]
        row_ok = tf.range(n_rows)[None, :] < rows_valid[:, None]  # (B, R)
        col_ok = tf.range(tf.shape(windows)[2])[None, :] < cols_valid[:, None]  # (B, W)
        row_max = tf.reduce_max(tf.where(col_ok[:, None, :, None], windows, _POOL_FILL), axis=2)
        row_max = tf.where(row_ok[..., None], row_max, 0.0)
        col_f = tf.cast(col_ok, windows.dtype)[:, None, :, None]
        row_mean = tf.reduce_sum(windows * col_f, axis=2) / tf.maximum(
            tf.reduce_sum(col_f, axis=2), 1.0
        )  # (B, R, kC): what a line read, summarised for the decoder
        row_feat = self.row_dense(row_max)
        row_feat = tf.where(row_ok[..., None], row_feat, 0.0)
        row_feat = tf.nn.tanh(self.row_context(row_feat))
        row_f = tf.cast(row_ok, windows.dtype)
        position = tf.cast(tf.range(n_rows), windows.dtype)[None, :] / 32.0 * row_f
        batch = tf.shape(windows)[0]
        units = self.attention_units

        def step(t, previous, coverage, h, c, attentions, stops):
            loc = self.location(tf.stack([previous, coverage, row_f, position], axis=-1))
            energy = tf.nn.tanh(row_feat + loc + self.state_proj(h)[:, None, :])
            scores = tf.squeeze(self.score(energy), -1)
            scores = tf.where(row_ok, scores, _NEG)
            attention = tf.nn.softmax(scores, axis=-1)
            context = tf.einsum("br,bru->bu", attention, row_feat)
            stop = tf.sigmoid(tf.squeeze(self.stop_head(tf.concat([h, context], -1)), -1))
            read = tf.einsum("br,brc->bc", attention, row_mean)
            _, (h, c) = self.decoder(tf.concat([read, context], -1), [h, c], training=training)
            return (t + 1, attention, coverage + attention, h, c,
                    attentions.write(t, attention), stops.write(t, stop))

        zeros_r = tf.zeros((batch, n_rows), windows.dtype)
        zeros_u = tf.zeros((batch, units), windows.dtype)
        state = (tf.constant(0), zeros_r, zeros_r, zeros_u, zeros_u,
                 tf.TensorArray(windows.dtype, size=steps), tf.TensorArray(windows.dtype, size=steps))
        state = tf.while_loop(lambda t, *_: t < steps, step, state, maximum_iterations=self.max_lines + 1)
        attention = tf.transpose(state[5].stack(), [1, 0, 2])
        stops = tf.transpose(state[6].stack(), [1, 0])
        return attention, stops

    # -- lines ---------------------------------------------------------------------------------

    def read_lines(self, windows, attention, width, training=False):
        """Per-line logits (B, T, frames, classes) of the lines attended by `attention` (B, T, R)."""
        lines = tf.einsum("btr,brwc->btwc", attention, windows)
        b, t = tf.shape(lines)[0], tf.shape(lines)[1]
        frames = tf.shape(lines)[2]
        x = tf.reshape(lines, [b * t, frames, lines.shape[-1]])
        lengths = tf.repeat(downsampled_width(width, self.stride_w), t)
        mask = tf.range(frames)[None, :] < lengths[:, None]
        for drop, blstm in self.blstms:
            if drop is not None:
                x = drop(x, training=training)
            x = blstm(x, mask=mask, training=training)
        if self.logits_dropout is not None:
            x = self.logits_dropout(x, training=training)
        logits = self.logits_layer(x)
        return tf.reshape(logits, [b, t, frames, self.charset.num_classes])

    def call(self, inputs, training=False, steps=None):
        image = inputs["image"]
        height = tf.cast(tf.reshape(inputs["height"], [-1]), tf.int32)
        width = tf.cast(tf.reshape(inputs["width"], [-1]), tf.int32)
        windows = self._windows(self.encode(image, height, width, training=training))
        if steps is not None:
            lines = steps
        elif "n_lines" in inputs:
            lines = tf.reduce_max(tf.cast(inputs["n_lines"], tf.int32))
            steps = tf.minimum(lines + 1, self.max_lines)
        else:
            steps = self.max_lines
            lines = None
        attention, stop = self.attend(windows, height, width, steps, training=training)
        n_lines = tf.reduce_sum(tf.cast(tf.math.cumprod(tf.cast(stop > 0.5, tf.int32), axis=1), tf.int32), 1)
        if lines is None:  # inference: decode only the lines some image has
            lines = tf.maximum(tf.reduce_max(n_lines), 1)
        lines = tf.minimum(lines, tf.shape(attention)[1])
        logits = self.read_lines(windows, attention[:, :lines], width, training=training)
        return {
            "logits": logits,
            "lengths": downsampled_width(width, self.stride_w),
            "stop": stop,
            "attention": attention,
            "n_lines": n_lines,
        }

    def read_paragraph(self, inputs):
        """Inference: the dict of `call` without "n_lines" (capped at `max_lines` steps)."""
        inputs = {k: tf.convert_to_tensor(inputs[k]) for k in ("image", "height", "width")}
        return self(inputs, training=False)

    # -- training ------------------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss over the paragraphs' real lines + `stop_weight` x the end-of-paragraph
        binary cross-entropy over every step run (+ `attention_weight` x the line-position loss).

        The CTC term is averaged per line (not summed per paragraph) so its scale, and so a good
        learning rate, stays that of line training whatever the lines per paragraph. Each mean is
        over the global batch (`replica_mean`), so under tf.distribute the replicas' summed
        gradients are one device's."""
        if y_pred is None:
            y_pred = self(x, training=training)
        labels = tf.cast(y["labels"], tf.int32)
        n_lines = tf.cast(tf.reshape(y["n_lines"], [-1]), tf.int32)
        logits = y_pred["logits"]
        b, t = tf.shape(labels)[0], tf.shape(labels)[1]
        t = tf.minimum(t, tf.shape(logits)[1])
        labels = labels[:, :t]
        flat_logits = tf.reshape(logits[:, :t], [b * t, tf.shape(logits)[2], logits.shape[-1]])
        flat_labels = tf.reshape(labels, [b * t, tf.shape(labels)[2]])
        lengths = tf.repeat(y_pred["lengths"], t)
        loss, feasible = ctc_loss(flat_labels, flat_logits, lengths)
        real = tf.reshape(tf.range(t)[None, :] < n_lines[:, None], [-1])
        used = tf.cast(real & feasible, tf.float32)
        ctc_sum, ctc_count = tf.reduce_sum(loss * used), tf.reduce_sum(used)
        stop = y_pred["stop"]
        steps = tf.shape(stop)[1]
        target = tf.cast(tf.range(steps)[None, :] < n_lines[:, None], tf.float32)
        stop_bce = keras.losses.binary_crossentropy(target[..., None], stop[..., None])
        stop_sum, stop_count = tf.reduce_sum(stop_bce), tf.cast(tf.size(stop_bce), tf.float32)
        self.ctc_tracker.update_state(ctc_sum / tf.maximum(ctc_count, 1.0))
        self.stop_tracker.update_state(stop_sum / tf.maximum(stop_count, 1.0))
        total = replica_mean(ctc_sum, ctc_count) + self.stop_weight * replica_mean(stop_sum, stop_count)
        if self.attention_weight and "line_centres" in y:
            nll_sum, known = self._position_nll(y["line_centres"][:, :t], y_pred["attention"][:, :t])
            self.attention_tracker.update_state(nll_sum / tf.maximum(known, 1.0))
            total += self.attention_weight * replica_mean(nll_sum, known)
        return total

    def _position_nll(self, centres, attention):
        """(sum, count) over lines with a known centre of -log(attention on the rows whose window
        is centred there), the target split linearly between the two nearest rows."""
        centres = tf.cast(centres, tf.float32)
        target_row = centres / self.stride_h - self.window / 2.0  # window i is centred at sh*(i + k/2)
        rows = tf.cast(tf.range(tf.shape(attention)[2]), tf.float32)
        target = tf.nn.relu(1.0 - tf.abs(rows[None, None, :] - target_row[..., None]))
        target = target / tf.maximum(tf.reduce_sum(target, -1, keepdims=True), 1e-6)
        known = tf.cast(centres >= 0, tf.float32)
        nll = -tf.reduce_sum(target * tf.math.log(tf.cast(attention, tf.float32) + 1e-6), -1)
        return tf.reduce_sum(nll * known), tf.reduce_sum(known)

    @property
    def metrics(self):
        return [*super().metrics, self.ctc_tracker, self.stop_tracker, self.attention_tracker]

    def get_config(self):
        return {
            "model_config": self.model_config.get_config(),
            "charset": self.charset.get_config(),
            "line_height": self.line_height,
            "attention_units": self.attention_units,
            "max_lines": self.max_lines,
            "stop_weight": self.stop_weight,
            "attention_weight": self.attention_weight,
            "name": self.name,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(**config)

    # -- from a line model ---------------------------------------------------------------------

    @classmethod
    def from_line_model(cls, line_model, **kwargs):
        """A paragraph model holding `line_model`'s encoder, BLSTMs and output layer (its weights
        copied), with a new attention and end head; same alphabet.

        Args:
            line_model: a CRNN `LineModel`.
            **kwargs: `attention_units`, `max_lines`, `stop_weight`, `attention_weight`, `name`.
        """
        if getattr(getattr(line_model, "model_config", None), "arch", None) != "crnn":
            raise ValueError(
                f"Received an invalid value for argument `line_model`, expected a CRNN LineModel, "
                f"got {type(line_model).__name__}"
            )
        model = cls(line_model.model_config, line_model.charset,
                    line_height=line_model.preprocess_config.height, **kwargs)
        source = {layer.name: layer for layer in line_model.layers if layer.weights}
        for layer in model.line_layers():
            layer.set_weights(source[layer.name].get_weights())
        return model

    def line_layers(self) -> list:
        """The layers shared with the line model (conv blocks, BLSTMs, output), in order."""
        layers = []
        for _, conv, bn, *_ in self.conv_blocks:
            layers += [conv, bn]
        return layers + [blstm for _, blstm in self.blstms] + [self.logits_layer]
