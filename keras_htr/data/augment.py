"""Training-time augmentation of preprocessed lines (ink = 1 on 0), from Keras 3 layers.

Affine changes come from Keras' own random layers (`RandomRotation`, `RandomShear`,
`RandomZoom`), all filling with 0 (blank paper). Added here: an elastic distortion, stroke width
changes (dilation/erosion as max/min pooling), ink fading and noise. Keras'
`RandomElasticTransform` is not used: it needs static image sizes (lines vary in width) and
scales its displacement with the larger side, i.e. with the line's length. The image keeps its
shape, so a line's true width stays valid for the model's mask.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

_ELASTIC = 0.3  # default probabilities at strength 1
_STROKE = 0.4
#: The largest `strength` the default distortions allow: their probabilities times it stay <= 1.
MAX_STRENGTH = 1 / max(_ELASTIC, _STROKE)


def _bilinear_sample(images, ys, xs):
    """images (B, H, W, 1) sampled at float coordinates ys, xs (B, H, W); outside reads 0."""
    shape = tf.shape(images)
    b, h, w = shape[0], shape[1], shape[2]
    y0, x0 = tf.floor(ys), tf.floor(xs)
    wy, wx = ys - y0, xs - x0
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    batch = tf.broadcast_to(tf.range(b)[:, None, None], tf.shape(y0))

    def at(y, x):
        valid = (y >= 0) & (y < h) & (x >= 0) & (x < w)
        index = tf.stack([batch, tf.clip_by_value(y, 0, h - 1), tf.clip_by_value(x, 0, w - 1)], axis=-1)
        return tf.where(valid, tf.gather_nd(images[..., 0], index), 0.0)

    out = (
        (1 - wy) * (1 - wx) * at(y0, x0)
        + (1 - wy) * wx * at(y0, x0 + 1)
        + wy * (1 - wx) * at(y0 + 1, x0)
        + wy * wx * at(y0 + 1, x0 + 1)
    )
    return out[..., None]


@keras.saving.register_keras_serializable(package="keras_htr")
class LineAugmentation(keras.layers.Layer):
    """Random distortions of one line image (H, W, 1) or a batch (B, H, W, 1).

    Args:
        strength: scales every distortion; 0 turns augmentation off. Defaults to 1.0.
        rotation: largest rotation, in degrees, at strength 1. Defaults to 0.7 (the ends of a
            long line move by W/2 * tan(angle) and leave the image beyond that).
        shear: largest horizontal shear (Keras `RandomShear` x_factor) at strength 1.
            Defaults to 0.05.
        zoom: largest relative zoom at strength 1 (width: zoom out only). Defaults to 0.08.
        elastic: probability of an elastic distortion at strength 1. Defaults to 0.3.
        elastic_alpha: largest displacement of the elastic distortion, as a fraction of the
            image height, at strength 1. Defaults to 0.06 (2 pixels at height 32).
        stroke: probability of thickening or thinning the strokes at strength 1. Defaults to 0.4.
        noise: standard deviation of the added Gaussian noise at strength 1. Defaults to 0.04.
        seed: makes the sequence of distortions reproducible.

    Call arguments:
        images: float32 (H, W, 1) or (B, H, W, 1), values in [0, 1].
        training: apply the distortions only when True (the default, since this layer is
            used inside the training pipeline).

    Returns:
        Images of the same shape, values in [0, 1].
    """

    def __init__(
        self,
        strength: float = 1.0,
        rotation: float = 0.7,
        shear: float = 0.05,
        zoom: float = 0.08,
        elastic: float = _ELASTIC,
        elastic_alpha: float = 0.06,
        stroke: float = _STROKE,
        noise: float = 0.04,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("strength", strength), ("rotation", rotation), ("shear", shear), ("zoom", zoom),
                            ("elastic", elastic), ("elastic_alpha", elastic_alpha), ("stroke", stroke), ("noise", noise)):
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a number >= 0, got {value!r}"
                )
        if elastic * strength > 1 or stroke * strength > 1:
            raise ValueError(
                "Received an invalid value for argument `strength`, expected `elastic * strength` and "
                f"`stroke * strength` <= 1 (they are probabilities), got strength={strength}"
            )
        self.strength = float(strength)
        self.rotation = float(rotation)
        self.shear = float(shear)
        self.zoom = float(zoom)
        self.elastic = float(elastic)
        self.elastic_alpha = float(elastic_alpha)
        self.stroke = float(stroke)
        self.noise = float(noise)
        self.seed = seed
        s = self.strength

        def sub_seed(i):
            return None if seed is None else seed + i

        fill = {"fill_mode": "constant", "fill_value": 0.0}
        self.layers = []
        if s * rotation:
            self.layers.append(keras.layers.RandomRotation(s * rotation / 360.0, seed=sub_seed(1), **fill))
        if s * shear:
            self.layers.append(keras.layers.RandomShear(x_factor=s * shear, seed=sub_seed(2), **fill))
        if s * zoom:
            # Width: zoom out only; zooming in would cut the ends of the line (and its label).
            self.layers.append(
                keras.layers.RandomZoom((-s * zoom / 2, s * zoom), (0.0, s * zoom), seed=sub_seed(3), **fill)
            )
        self.seed_generator = keras.random.SeedGenerator(sub_seed(4))

    def build(self, input_shape):
        # The Keras sublayers hold no weights; they build on their first call.
        self.built = True

    def _elastic(self, images):
        """Smooth random displacements (one random vector every ~height/2 pixels, bicubic
        upsampled), applied with probability `strength * elastic` per image."""
        shape = tf.shape(images)
        b, h, w = shape[0], shape[1], shape[2]
        on = keras.random.uniform(tf.stack([b, 1, 1, 1]), seed=self.seed_generator) < self.strength * self.elastic

        def warp():
            step = tf.maximum(h // 2, 1)
            grid = tf.stack([b, h // step + 2, w // step + 2, 2])
            alpha = self.strength * self.elastic_alpha * tf.cast(h, tf.float32)
            coarse = keras.random.uniform(grid, -1.0, 1.0, seed=self.seed_generator)
            field = tf.image.resize(coarse, tf.stack([h, w]), method="bicubic") * alpha
            field = tf.where(on, field, 0.0)
            ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32), indexing="ij")
            return _bilinear_sample(images, ys[None] + field[..., 0], xs[None] + field[..., 1])

        # Skip the work when no image of the batch is picked (most single lines).
        return tf.cond(tf.reduce_any(on), warp, lambda: images)

    def _stroke_width(self, images):
        """Dilate (max pool), erode (min pool, blended so thin strokes survive) or keep."""
        u = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), seed=self.seed_generator)
        p = self.strength * self.stroke / 2

        def change():
            dilated = ops.max_pool(images, 3, strides=1, padding="same")
            eroded = 0.5 * (images - ops.max_pool(-images, 2, strides=1, padding="same"))
            return ops.where(u < p, dilated, ops.where(u < 2 * p, eroded, images))

        return tf.cond(tf.reduce_any(u < 2 * p), change, lambda: images)

    def call(self, images, training=True):
        if not training or self.strength == 0:
            return images
        unbatched = len(images.shape) == 3
        x = ops.expand_dims(images, 0) if unbatched else images
        for layer in self.layers:
            x = layer(x, training=True)
        if self.elastic and self.elastic_alpha:
            x = self._elastic(x)
        if self.stroke:
            x = self._stroke_width(x)
        batch = ops.shape(x)[0]
        fade = keras.random.uniform((batch, 1, 1, 1), 0.6, 1.0, seed=self.seed_generator)
        x = x * fade
        if self.noise:
            sigma = keras.random.uniform((batch, 1, 1, 1), 0.0, self.strength * self.noise, seed=self.seed_generator)
            x = x + sigma * keras.random.normal(ops.shape(x), seed=self.seed_generator)
        x = ops.clip(x, 0.0, 1.0)
        return x[0] if unbatched else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = {
            "strength": self.strength,
            "rotation": self.rotation,
            "shear": self.shear,
            "zoom": self.zoom,
            "elastic": self.elastic,
            "elastic_alpha": self.elastic_alpha,
            "stroke": self.stroke,
            "noise": self.noise,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
