"""Bilinear upsampling that also works when height and width are unknown until run time."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="rskeras")
class BilinearUpsampling2D(keras.layers.Layer):
    """Upsample ``(batch, H, W, C)`` to ``(batch, H * factor, W * factor, C)`` bilinearly.

    Same values as ``keras.layers.UpSampling2D(factor, interpolation="bilinear")``
    (half-pixel centres), but the output size is computed from the tensor's run-time
    shape, so a fully convolutional model with ``(None, None, C)`` inputs can be traced
    once for any tile size (``tf.function`` with a free-size signature, SavedModel
    export); Keras' layer needs static sizes there.
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        if int(factor) < 1:
            raise ValueError(f"factor must be a positive integer, got {factor}")
        self.factor = int(factor)

    def call(self, inputs):
        size = tf.shape(inputs)[1:3] * self.factor
        return tf.cast(tf.image.resize(inputs, size, method="bilinear"), inputs.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.factor, None if w is None else w * self.factor, c)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(factor=self.factor)
        return config
