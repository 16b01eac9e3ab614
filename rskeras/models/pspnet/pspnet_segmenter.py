"""PSPNet: Zhao, Shi, Qi, Wang & Jia, "Pyramid Scene Parsing Network", CVPR 2017.

A dilated backbone (ResNet-50 at output stride 8 in the paper) gives a deep
feature map; the pyramid pooling module average-pools it to 1x1, 2x2, 3x3 and
6x6 bins, reduces each pooled map to ``1/len(bins)`` of the channels with a 1x1
Conv-BN-ReLU, upsamples each bilinearly back to the feature map's size and
concatenates them with the feature map. A 3x3 Conv-BN-ReLU, dropout and a 1x1
classifier follow; the logits are upsampled bilinearly to the input size. The
paper's auxiliary loss on stage 4 is not included.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.models.backbones import build_backbone
from rskeras.models.blocks import conv_bn_relu, upsampled_output
from rskeras.models.pspnet.pspnet_layers import AdaptiveAveragePooling2D
from rskeras.models.contract import (
    BandStatsArgument,
    Weights,
    builder_contract,
    default_outputs,
    image_input,
    static_size,
)


def pyramid_pooling(x, bins: Sequence[int], filters: int | None = None, name: str = "ppm"):
    """The pyramid pooling module on ``(batch, h, w, C)`` features (static ``h``, ``w``).

    Each bin size ``b`` gives adaptive average pooling to ``b x b`` (PyTorch's windows;
    :class:`~rskeras.models.pspnet.pspnet_layers.AdaptiveAveragePooling2D`) -> 1x1
    Conv-BN-ReLU with ``filters`` (default ``C // len(bins)``) -> bilinear resize
    to ``h x w``; the result is ``concat([x, branch_1, ...])``, ``(batch, h, w,
    C + len(bins) * filters)``.
    """
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    filters = filters or max(1, channels // len(bins))
    branches = [x]
    for b in bins:
        y = AdaptiveAveragePooling2D(b, name=f"{name}_pool{b}")(x)
        y = conv_bn_relu(y, filters, kernel_size=1, name=f"{name}_bin{b}")
        y = keras.layers.Resizing(height, width, interpolation="bilinear", name=f"{name}_bin{b}_upsampling")(y)
        branches.append(y)
    return keras.layers.Concatenate(name=f"{name}_concat")(branches)


@builder_contract(renamed={"backbone_weights": "weights"})
def pspnet(
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
    output_stride: int = 8,
    bins: Sequence[int] = (1, 2, 3, 6),
    pyramid_filters: int | None = None,
    head_filters: int = 512,
    dropout: float = 0.1,
) -> keras.Model:
    """PSPNet (Zhao et al. 2017) on a registered backbone, any number of bands.

    Args:
        input_shape: ``(height, width, bands)`` with fixed height and width (the
            pooling windows are computed from them); sizes that are not
            multiples of the output stride work too.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes or target values; defaults to ``len(class_names)``,
            or 1 for regression and binary.
        class_names, band_names, band_stats: stored in the model (see :func:`rskeras.models.image_input`).
        weights: the backbone's pretrained weights: None, ``"imagenet"`` or a weights file
            (see :func:`rskeras.models.backbones.build_backbone`; was ``backbone_weights``).
        name: the model's name; defaults to ``"pspnet_<backbone>"``.
        backbone: a name of :data:`rskeras.models.backbones.BACKBONES`.
        output_stride: 8 (the paper), 16 or 32; the deepest tap is at this stride.
        bins: the pyramid's bin sizes (the paper: 1, 2, 3, 6).
        pyramid_filters: channels of each pyramid branch (default: the deepest
            tap's channels divided by ``len(bins)``; 512 for ResNet-50).
        head_filters: channels of the 3x3 Conv-BN-ReLU after the pyramid (the paper: 512).
        dropout: dropout before the classifier (the paper: 0.1).

    Returns:
        An uncompiled model ``"image"`` ``(batch, height, width, bands)`` raw
        values -> ``(batch, height, width, n_outputs)`` float32.

        With ResNet-50 at output stride 8, 4 bands, 3 classes and the paper's
        widths it has 46,671,299 parameters (46,613,059 trainable) at any input
        size (e.g. 64x64).
    """
    n_outputs = default_outputs(task, n_outputs, class_names)
    size = static_size(input_shape, "pspnet")
    if not bins or min(bins) < 1:
        raise ValueError(f"bins must be positive bin sizes, got {tuple(bins)}")
    inputs, x = image_input(input_shape, band_names=band_names, band_stats=band_stats)
    features = build_backbone(backbone, x, weights=weights, output_stride=output_stride)
    x = pyramid_pooling(features[32], bins, pyramid_filters, name="ppm")
    x = conv_bn_relu(x, head_filters, kernel_size=3, name="head")
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = upsampled_output(x, size, task, n_outputs, class_names=class_names)
    return keras.Model(inputs, outputs, name=name or f"pspnet_{backbone}")
