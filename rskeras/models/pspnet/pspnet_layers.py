"""Adaptive average pooling for PSPNet's pyramid: a feature map of any static size -> a fixed grid.

Why not ``keras.layers.AdaptiveAveragePooling2D`` (Keras 3.15.1, TensorFlow 2.21)? It computes the
same windows, but its TensorFlow implementation also builds a pooling of ``window + 1`` cells that
exceeds the feature map when the bins divide it evenly (4 cells to 1 bin: windows of 4 and 5), which
eager calls tolerate and a ``tf.function`` trace rejects ("Negative dimension size caused by
subtracting 5 from 4"): ``predict_raster``, serving signatures and ``model.fit`` without
``run_eagerly`` all trace. ``tests/models/test_pspnet.py`` checks that this is still so, so that
rskeras can move to Keras' layer once it traces.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def adaptive_pooling_matrix(size: int, bins: int) -> np.ndarray:
    """``(bins, size)`` averaging weights along one axis.

    Bin ``i`` averages the input cells ``floor(i * size / bins)`` up to
    ``ceil((i + 1) * size / bins)`` (exclusive), the windows of PyTorch's
    ``AdaptiveAvgPool2d`` and Keras' ``AdaptiveAveragePooling2D``: equal non-overlapping
    windows when ``size`` is a multiple of ``bins``, slightly overlapping ones otherwise,
    and repeated cells when ``bins > size``. Every row sums to 1.
    """
    if size < 1 or bins < 1:
        raise ValueError(f"size and bins must be positive, got size={size}, bins={bins}")
    weights = np.zeros((bins, size), dtype="float32")
    for i in range(bins):
        start = (i * size) // bins
        stop = -((-(i + 1) * size) // bins)
        weights[i, start:stop] = 1.0 / (stop - start)
    return weights


@keras.saving.register_keras_serializable(package="rskeras")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average-pool ``(batch, H, W, C)`` to ``(batch, rows, cols, C)`` for any static ``H``, ``W``.

    The windows are fixed by the static input size at build time (:func:`adaptive_pooling_matrix`)
    and applied as two small matrix products, so the layer traces in a ``tf.function``, handles
    sizes that are not multiples of the bins, and runs in the layer's compute dtype (float16 or
    bfloat16 under mixed precision).

    Args:
        bins: the output grid, an int or ``(rows, cols)``.
    """

    def __init__(self, bins: int | tuple[int, int], **kwargs):
        super().__init__(**kwargs)
        rows, cols = (bins, bins) if isinstance(bins, int) else tuple(bins)
        if rows < 1 or cols < 1:
            raise ValueError(f"bins must be positive, got {bins!r}")
        self.bins = (int(rows), int(cols))

    def build(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        if height is None or width is None:
            raise ValueError(
                f"{self.name}: adaptive pooling needs a static height and width, got input shape {input_shape}"
            )
        self._rows = adaptive_pooling_matrix(height, self.bins[0])
        self._cols = adaptive_pooling_matrix(width, self.bins[1])
        super().build(input_shape)

    def call(self, inputs):
        rows = ops.convert_to_tensor(self._rows, dtype=inputs.dtype)
        cols = ops.convert_to_tensor(self._cols, dtype=inputs.dtype)
        return ops.einsum("ih,bhwc,jw->bijc", rows, inputs, cols)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.bins[0], self.bins[1], input_shape[3])

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(bins=list(self.bins))
        return config
