"""The adaptive average pooling of files saved before rskeras used Keras' own layer.

PSPNet's pyramid pooling is ``keras.layers.AdaptiveAveragePooling2D`` (Keras >= 3.11), whose
windows are PyTorch's ``AdaptiveAvgPool2d`` windows (``floor(i * size / bins)`` up to
``ceil((i + 1) * size / bins)``), also when ``bins`` exceeds the size. Models saved before hold
the layer as ``rskeras>AdaptiveAveragePooling2D`` with a ``bins`` argument; the subclass below
keeps that name loadable and computes the same values (checked by ``tests/models/test_pspnet.py``).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="rskeras")
class AdaptiveAveragePooling2D(keras.layers.AdaptiveAveragePooling2D):
    """``keras.layers.AdaptiveAveragePooling2D`` under the registered name of earlier rskeras files.

    Args:
        bins: the output grid, an int or ``(rows, cols)`` (the old files' argument).
        output_size: the same, under Keras' name.
    """

    def __init__(self, bins: int | tuple[int, int] | None = None, *, output_size=None, **kwargs):
        if (bins is None) == (output_size is None):
            raise ValueError("give bins (or output_size), not both")
        size = output_size if output_size is not None else bins
        super().__init__(tuple(size) if isinstance(size, list) else size, **kwargs)
