"""The lecture's multi-layer network over band vectors.

band selection -> one vector of raw band values per pixel -> per-band
normalisation (inside the model) -> hidden layers -> task output.

Band selection happens where the vectors are made (``rskeras.data.sample_raster(...,
bands=...)``); the chosen band names travel with the model, so ``predict_raster``
reads the same bands from a scene.
"""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np

from rskeras.activations import get as get_activation
from rskeras.heads import get_task, output_head
from rskeras.layers.normalization import BandNormalization


def ann(
    n_bands: int,
    task: str = "multiclass",
    n_outputs: int | None = None,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    training_vectors: np.ndarray | None = None,
    band_stats: tuple[Sequence[float], Sequence[float]] | None = None,
    band_names: Sequence[str] | None = None,
    class_names: Sequence[str] | None = None,
    name: str = "ann",
) -> keras.Model:
    """A pixel-wise multi-layer perceptron.

    Args:
        n_bands: bands per pixel vector.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes or target values; defaults to ``len(class_names)``, or 1
            for regression and binary.
        hidden: units of each hidden layer, input side first.
        activation: hidden activation, any name of :mod:`rskeras.activations` or Keras.
        dropout: dropout rate after each hidden layer (0 for none).
        batch_norm: batch normalisation after each hidden Dense layer.
        training_vectors: ``(n, n_bands)`` raw training vectors to adapt the
            normalisation to (mean and std per band).
        band_stats: ``(mean, std)`` per band instead of ``training_vectors``.
        band_names: names of the ``n_bands`` bands, stored in the model.
        class_names: names of the classes, stored in the model.
        name: the model's name.

    Returns:
        An uncompiled model: ``(batch, n_bands)`` raw values -> ``(batch, n_outputs)``
        float32. Without statistics the normalisation is the identity and its layer
        is named ``band_normalization_UNADAPTED_identity``.

        With 10 bands, ``hidden=(64, 64)`` and 4 classes it has 5,124 parameters
        (704 + 4,160 + 260 in its Dense layers; the normalisation has none).
    """
    spec = get_task(task)
    if n_outputs is None:
        n_outputs = len(class_names) if class_names is not None else 1
    if training_vectors is not None and band_stats is not None:
        raise ValueError("give training_vectors or band_stats, not both")
    vectors = keras.Input((n_bands,), name="pixels")
    if training_vectors is not None:
        tv = np.asarray(training_vectors)
        if tv.ndim != 2 or tv.shape[1] != n_bands:
            raise ValueError(f"training_vectors must be (n, {n_bands}), got {tv.shape}")
        norm = BandNormalization.from_data(tv, band_names=band_names, name="band_normalization")
    elif band_stats is not None:
        norm = BandNormalization(band_stats[0], band_stats[1], band_names=band_names, name="band_normalization")
    else:
        norm = BandNormalization(band_names=band_names, name="band_normalization_UNADAPTED_identity")
    x = norm(vectors)
    act = get_activation(activation)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, use_bias=not batch_norm, name=f"hidden_{i}")(x)
        if batch_norm:
            x = keras.layers.BatchNormalization(name=f"hidden_{i}_bn")(x)
        x = keras.layers.Activation(act, name=f"hidden_{i}_activation")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"hidden_{i}_dropout")(x)
    outputs = output_head(x, spec, n_outputs, class_names=class_names)
    return keras.Model(vectors, outputs, name=name)
