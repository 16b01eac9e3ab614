"""The two ends every rskeras model shares: the image input with its band normalisation, and a pooled head."""

from __future__ import annotations

from typing import Sequence

import keras

from rskeras.heads import output_head
from rskeras.layers.normalization import BandNormalization

BandStats = tuple[Sequence[float], Sequence[float]]


def image_input(
    input_shape: Sequence[int | None],
    band_names: Sequence[str] | None = None,
    band_stats: BandStats | None = None,
    name: str = "image",
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """``keras.Input(input_shape, name=name)`` followed by :class:`BandNormalization`.

    Args:
        input_shape: ``(H, W, bands)``; H and W may be None.
        band_names: names of the bands, stored in the model (``len == bands``).
        band_stats: ``(mean, std)`` per band in the raw units of the input; None
            gives the identity (the layer is then named ``..._UNADAPTED_identity``).
        name: the input's name.

    Returns:
        ``(inputs, normalised)``: the model input and the float32 normalised tensor.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] is None or shape[-1] < 1:
        raise ValueError(f"input_shape must be (height, width, bands) with a known band count, got {input_shape}")
    mean, std = band_stats if band_stats is not None else (None, None)
    inputs = keras.Input(shape, name=name)
    normalised = BandNormalization(mean, std, band_names=band_names)(inputs)
    return inputs, normalised


def pooled_head(
    features: keras.KerasTensor,
    task: str,
    n_outputs: int,
    class_names: Sequence[str] | None = None,
    dropout: float = 0.0,
    name: str = "output",
) -> keras.KerasTensor:
    """Global average pooling, dropout (when > 0), then the task's output (see :func:`rskeras.heads.output_head`).

    ``features`` ``(batch, h, w, channels)`` -> ``(batch, n_outputs)`` float32.
    """
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return output_head(x, task, n_outputs, class_names=class_names, name=name)
