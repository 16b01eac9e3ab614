"""A model no export format can hold: a layer computing singular values (an SVD), which neither tf2onnx's
ONNX opsets that onnxruntime runs nor LiteRT's built-in operations have."""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="rskeras_tests")
class SingularValues(keras.layers.Layer):
    """``(batch, 16)`` -> the 4 singular values of each item read as a 4x4 matrix, ``(batch, 4)``."""

    def call(self, x):
        values = keras.ops.svd(keras.ops.reshape(x, (-1, 4, 4)), compute_uv=False)
        return keras.ops.reshape(values, (-1, 4))


def unconvertible_model() -> keras.Model:
    """A pixel classifier with the :class:`SingularValues` layer named ``singular_values``."""
    inputs = keras.Input((16,), name="pixels")
    x = SingularValues(name="singular_values")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="output")(x), name="svd_model")
