"""DeepLabV3: Chen, Papandreou, Schroff & Adam, "Rethinking Atrous Convolution for Semantic Image Segmentation", 2017.

A dilated backbone (ResNet at output stride 16, or 8) feeds atrous spatial
pyramid pooling (ASPP, section 3.3 of the paper): a 1x1 convolution, three 3x3
atrous convolutions at rates 6, 12 and 18 (doubled for output stride 8) and an
image-level branch (global average pooling -> 1x1 convolution -> bilinear
upsampling), each with 256 filters and batch normalisation. The branches are
concatenated and pass through a 1x1 Conv-BN-ReLU (256) and the 1x1 classifier;
the logits are upsampled bilinearly to the input size.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.models.backbones import build_backbone
from rskeras.models.blocks import conv_bn_relu, upsampled_output
from rskeras.models.contract import (
    BandStatsArgument,
    Weights,
    builder_contract,
    default_outputs,
    image_input,
    static_size,
)

#: ASPP atrous rates per output stride (section 3.3 of the paper).
ATROUS_RATES: dict[int, tuple[int, int, int]] = {16: (6, 12, 18), 8: (12, 24, 36)}


def aspp(x, rates: Sequence[int], filters: int = 256, name: str = "aspp"):
    """Atrous spatial pyramid pooling on ``(batch, h, w, C)`` (static ``h``, ``w``) -> ``(batch, h, w, filters)``."""
    height, width = x.shape[1], x.shape[2]
    branches = [conv_bn_relu(x, filters, kernel_size=1, name=f"{name}_1x1")]
    for rate in rates:
        branches.append(conv_bn_relu(x, filters, kernel_size=3, dilation_rate=rate, name=f"{name}_rate{rate}"))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_image_pool")(x)
    pooled = conv_bn_relu(pooled, filters, kernel_size=1, name=f"{name}_image")
    pooled = keras.layers.Resizing(height, width, interpolation="bilinear", name=f"{name}_image_upsampling")(pooled)
    branches.append(pooled)
    y = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    return conv_bn_relu(y, filters, kernel_size=1, name=f"{name}_projection")


@builder_contract(renamed={"backbone_weights": "weights", "filters": "aspp_filters"})
def deeplabv3(
    input_shape: Sequence[int],
    *,
    task: str = "multiclass",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    weights: Weights = None,
    name: str | None = None,
    backbone: str = "resnet50",
    output_stride: int = 16,
    atrous_rates: Sequence[int] | None = None,
    aspp_filters: int = 256,
) -> keras.Model:
    """DeepLabV3 (Chen et al. 2017) on a registered backbone, any number of bands.

    Args:
        input_shape: ``(height, width, bands)`` with fixed height and width.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes or target values; defaults to ``len(class_names)``,
            or 1 for regression and binary.
        class_names, band_names, band_stats: stored in the model (see :func:`rskeras.models.image_input`).
        weights: the backbone's pretrained weights: None, ``"imagenet"`` or a weights file
            (see :func:`rskeras.models.backbones.build_backbone`; was ``backbone_weights``).
        name: the model's name; defaults to ``"deeplabv3_<backbone>"``.
        backbone: a name of :data:`rskeras.models.backbones.BACKBONES`.
        output_stride: 16 (rates 6, 12, 18) or 8 (rates 12, 24, 36).
        atrous_rates: the three atrous rates, instead of the defaults for ``output_stride``.
        aspp_filters: channels of every ASPP branch and of the projection (the paper: 256;
            was ``filters``).

    Returns:
        An uncompiled model ``"image"`` ``(batch, height, width, bands)`` raw
        values -> ``(batch, height, width, n_outputs)`` float32.

        With ResNet-50 at output stride 16, 4 bands and 3 classes it has
        39,129,795 parameters (39,073,603 trainable) at any input size (e.g. 64x64).
    """
    if output_stride not in ATROUS_RATES:
        raise ValueError(f"deeplabv3: output_stride must be one of {sorted(ATROUS_RATES)}, got {output_stride!r}")
    rates = tuple(atrous_rates) if atrous_rates is not None else ATROUS_RATES[output_stride]
    n_outputs = default_outputs(task, n_outputs, class_names)
    size = static_size(input_shape, "deeplabv3")
    inputs, x = image_input(input_shape, band_names=band_names, band_stats=band_stats)
    features = build_backbone(backbone, x, weights=weights, output_stride=output_stride)
    x = aspp(features[32], rates, aspp_filters, name="aspp")
    outputs = upsampled_output(x, size, task, n_outputs, class_names=class_names)
    return keras.Model(inputs, outputs, name=name or f"deeplabv3_{backbone}")
