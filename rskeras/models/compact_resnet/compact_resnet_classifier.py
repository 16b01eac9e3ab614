"""Compact ResNet for image patches: a 3x3 stem and stages of basic residual blocks.

Sized for 64x64 patches and CPU training from scratch (the EuroSAT recipe of
``benchmarks/eurosat.py``): about 1.2 M parameters and 67 M multiply-accumulates per 64x64x3 image
with the defaults, against 23.6 M parameters and 0.33 GMAC for ResNet-50.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.layers.batch_normalization import FusedBatchNormalization
from rskeras.models.blocks import pooled_head
from rskeras.models.contract import (
    BandStatsArgument,
    Weights,
    builder_contract,
    default_outputs,
    image_input,
    load_model_weights,
)


def _conv_bn(x, filters: int, stride: int, name: str, relu: bool = True, kernel_size: int = 3):
    if kernel_size == 1 and stride > 1:  # the same values and weights as a strided 1x1 convolution, whose
        # weight gradient in TensorFlow 2.21's oneDNN kernels corrupts memory with few channels (_subsample)
        x, stride = _subsample(x, stride, name), 1
    x = keras.layers.Conv2D(filters, kernel_size, strides=stride, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = FusedBatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _subsample(x, stride: int, name: str):
    """Every ``stride``-th pixel from the first: ``(b, h, w, c)`` -> ``(b, ceil(h / stride), ceil(w / stride), c)``,
    the pixels a 1x1 convolution with ``strides=stride, padding="same"`` reads.

    A 1x1 convolution of stride 2 trained with oneDNN (``TF_ENABLE_ONEDNN_OPTS=1``, rskeras' default) crashed
    the process (SIGSEGV or "corrupted double-linked list") in ``Conv2DBackpropFilter`` for 8 or fewer input
    channels on 48 px and larger inputs (TensorFlow 2.21; ``stem_filters=8``); subsampling first and convolving
    with stride 1 computes the same and avoids that kernel (``tests/models/test_compact_resnet.py``).
    """
    return keras.layers.MaxPooling2D(pool_size=1, strides=stride, name=f"{name}_subsample")(x)


def _basic_block(x, filters: int, stride: int, name: str):
    """Two 3x3 convolutions with an identity (or strided 1x1) shortcut, He et al. (2016) Fig. 2 left."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, stride, f"{name}_shortcut", relu=False, kernel_size=1)
    y = _conv_bn(x, filters, stride, f"{name}_1")
    y = _conv_bn(y, filters, 1, f"{name}_2", relu=False)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


@builder_contract()
def compact_resnet(
    input_shape: Sequence[int | None],
    *,
    task: str = "multiclass",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    weights: Weights = None,
    name: str | None = None,
    widths: Sequence[int] = (32, 64, 128, 256),
    blocks: Sequence[int] = (1, 1, 1, 1),
    stem_filters: int = 32,
    dropout: float = 0.1,
) -> keras.Model:
    """A small ResNet: 3x3 stem (stride 1), then one stage per width, each halving the resolution.

    Stage ``i`` holds ``blocks[i]`` basic residual blocks of ``widths[i]`` filters; its
    first block has stride 2. The features are averaged over space, dropped out and fed
    to the task's output (:func:`rskeras.heads.output_head`).

    Args:
        input_shape: ``(H, W, bands)``, any band count; H and W may be None.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes (or values for regression); default from ``class_names`` and ``task``.
        class_names, band_names, band_stats: stored in the model (see :func:`rskeras.models.image_input`).
        weights: None or a weights file of the same architecture (any band count).
        name: the model's name (default ``"compact_resnet"``).
        widths: filters per stage; a 64x64 input ends at ``64 / 2 ** len(widths)``.
        blocks: residual blocks per stage (same length as ``widths``).
        stem_filters: filters of the stem convolution at full resolution.
        dropout: dropout rate before the output layer (0 for none).

    Returns:
        An uncompiled model: ``(batch, H, W, bands)`` raw values -> ``(batch, n_outputs)``
        float32. With the defaults at 64x64x3 and 10 classes it has 1,233,002 parameters.
    """
    if len(widths) != len(blocks) or not widths or min(blocks) < 1:
        raise ValueError(f"compact_resnet: widths and blocks need one entry per stage and blocks >= 1, "
                         f"got widths={widths}, blocks={blocks}")
    n_outputs = default_outputs(task, n_outputs, class_names)
    inputs, x = image_input(input_shape, band_names=band_names, band_stats=band_stats)
    x = _conv_bn(x, stem_filters, 1, "stem")
    for stage, (width, n_blocks) in enumerate(zip(widths, blocks), start=1):
        for block in range(1, n_blocks + 1):
            x = _basic_block(x, width, 2 if block == 1 else 1, f"stage{stage}_block{block}")
    outputs = pooled_head(x, task, n_outputs, class_names=class_names, dropout=dropout)
    return load_model_weights(keras.Model(inputs, outputs, name=name or "compact_resnet"), weights)
