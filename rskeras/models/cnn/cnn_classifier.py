"""The lecture's convolutional neural network for image patches (e.g. EuroSAT 64x64)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.heads import output_head
from rskeras.layers.batch_normalization import FusedBatchNormalization
from rskeras.models.contract import (
    BandStatsArgument,
    Weights,
    builder_contract,
    default_outputs,
    image_input,
    load_model_weights,
)


@builder_contract(renamed={"filters": "widths", "dense_units": "hidden"})
def cnn(
    input_shape: Sequence[int],
    *,
    task: str = "multiclass",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    weights: Weights = None,
    name: str | None = None,
    widths: Sequence[int] = (32, 64, 128),
    kernel_size: int = 3,
    convs_per_block: int = 1,
    batch_norm: bool = True,
    hidden: Sequence[int] = (128,),
    dropout: float = 0.5,
) -> keras.Model:
    """Convolution -> pooling blocks, then fully connected layers: the lecture's CNN classifier.

    Block ``i`` holds ``convs_per_block`` convolutions of ``widths[i]`` filters
    (``kernel_size``, same padding, each followed by batch normalisation when
    ``batch_norm``, then ReLU) and a 2x2 max pooling; the last feature map is
    flattened and goes through ``Dense(units, relu)`` + ``Dropout(dropout)`` for each
    of ``hidden``, then the task's output (:func:`rskeras.heads.output_head`).
    The convolutions learn local patterns (edges, textures, field boundaries), the
    poolings make them tolerant to small shifts and halve the resolution, the
    fully connected layers combine them into a class.

    Args:
        input_shape: ``(H, W, bands)``, any band count; H and W must be known
            (flattening fixes the size) and divisible by ``2 ** len(widths)``.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes (or values for regression); default from ``class_names`` and ``task``.
        class_names, band_names, band_stats: stored in the model (see :func:`rskeras.models.image_input`).
        weights: None or a weights file of the same architecture (any band count).
        name: the model's name (default ``"cnn"``).
        widths: filters of each block; its length is the depth (was ``filters``).
        kernel_size: side of the convolution kernels.
        convs_per_block: convolutions before each pooling.
        batch_norm: batch normalisation after each convolution.
        hidden: units of the fully connected layers (was ``dense_units``).
        dropout: dropout rate after each fully connected layer (0 for none).

    Returns:
        An uncompiled model: ``(batch, H, W, bands)`` raw values -> ``(batch, n_outputs)`` float32.
        With the defaults at 64x64x3 and 10 classes it has 1,143,914 parameters
        (1,143,466 trainable).
    """
    if input_shape[0] is None or input_shape[1] is None:
        raise ValueError(f"cnn flattens its features, so height and width must be known; got {input_shape}")
    if not widths or convs_per_block < 1:
        raise ValueError(f"cnn needs at least one block and one convolution per block, got widths={widths}, "
                         f"convs_per_block={convs_per_block}")
    n_outputs = default_outputs(task, n_outputs, class_names)
    inputs, x = image_input(input_shape, band_names=band_names, band_stats=band_stats)
    for block, width in enumerate(widths, start=1):
        for conv in range(1, convs_per_block + 1):
            x = keras.layers.Conv2D(width, kernel_size, padding="same", use_bias=not batch_norm,
                                    name=f"block{block}_conv{conv}")(x)
            if batch_norm:
                x = FusedBatchNormalization(name=f"block{block}_bn{conv}")(x)
            x = keras.layers.Activation("relu", name=f"block{block}_relu{conv}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{i}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = output_head(x, task, n_outputs, class_names=class_names)
    return load_model_weights(keras.Model(inputs, outputs, name=name or "cnn"), weights)
