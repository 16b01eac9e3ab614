"""The lecture's multi-layer network over band vectors.

band selection -> one vector of raw band values per pixel -> per-band
normalisation (inside the model) -> hidden layers -> task output.

Band selection happens where the vectors are made (``rskeras.data.sample_raster(...,
bands=...)``); the chosen band names travel with the model, so ``predict_raster``
reads the same bands from a scene.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

from rskeras.activations import get as get_activation
from rskeras.heads import output_head
from rskeras.layers.normalization import band_statistics
from rskeras.models.contract import (
    BandStatsArgument,
    Weights,
    builder_contract,
    default_outputs,
    image_input,
    load_model_weights,
)


def pixel_shape(input_shape: int | Sequence[int]) -> tuple[int]:
    """``(bands,)`` from ``input_shape`` given as ``(bands,)`` or as a band count."""
    shape = (input_shape,) if isinstance(input_shape, (int, np.integer)) else tuple(input_shape)
    if len(shape) != 1 or not isinstance(shape[0], (int, np.integer)) or shape[0] < 1:
        raise ValueError(f"ann: input_shape must be (bands,) or a band count, got {input_shape!r}")
    return (int(shape[0]),)


@builder_contract(renamed={"n_bands": "input_shape"})
def ann(
    input_shape: int | Sequence[int],
    *,
    task: str = "multiclass",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    weights: Weights = None,
    name: str | None = None,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    training_vectors: np.ndarray | None = None,
) -> keras.Model:
    """A pixel-wise multi-layer perceptron.

    Args:
        input_shape: ``(bands,)``, the length of a pixel's band vector (a band count works too).
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes or target values (default: see :func:`rskeras.models.default_outputs`).
        class_names: names of the classes, stored in the model.
        band_names: names of the bands, stored in the model.
        band_stats: ``(mean, std)`` per band (or a :class:`rskeras.data.BandStats`), raw units.
        weights: None or a weights file of the same architecture.
        name: the model's name (default ``"ann"``).
        hidden: units of each hidden layer, input side first.
        activation: hidden activation, any name of :mod:`rskeras.activations` or Keras.
        dropout: dropout rate after each hidden layer (0 for none).
        batch_norm: batch normalisation after each hidden Dense layer.
        training_vectors: ``(n, bands)`` raw training vectors to compute ``band_stats`` from
            (:func:`rskeras.layers.band_statistics`: mean, std and the value ranges that
            prediction checks scenes against), instead of ``band_stats``.

    Returns:
        An uncompiled model: ``"pixels"`` ``(batch, bands)`` raw values -> ``(batch, n_outputs)``
        float32. Without statistics the normalisation is the identity and its layer is named
        ``band_normalization_UNADAPTED_identity``.

        With 10 bands, ``hidden=(64, 64)`` and 4 classes it has 5,124 parameters
        (704 + 4,160 + 260 in its Dense layers; the normalisation has none).
    """
    shape = pixel_shape(input_shape)
    n_outputs = default_outputs(task, n_outputs, class_names)
    if training_vectors is not None:
        if band_stats is not None:
            raise ValueError("ann: give training_vectors or band_stats, not both")
        vectors = np.asarray(training_vectors)
        if vectors.ndim != 2 or vectors.shape[1] != shape[0]:
            raise ValueError(f"ann: training_vectors must be (n, {shape[0]}), got {vectors.shape}")
        band_stats = band_statistics(vectors)
    inputs, x = image_input(shape, band_names=band_names, band_stats=band_stats, name="pixels")
    act = get_activation(activation)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, use_bias=not batch_norm, name=f"hidden_{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"hidden_{i}_bn")(x)
        x = keras.layers.Activation(act, name=f"hidden_{i}_activation")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"hidden_{i}_dropout")(x)
    outputs = output_head(x, task, n_outputs, class_names=class_names)
    return load_model_weights(keras.Model(inputs, outputs, name=name or "ann"), weights)
