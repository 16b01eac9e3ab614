"""ResNet-50 patch classifier (He et al., 2016) for any number of bands."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.models.backbones import build_backbone
from rskeras.models.blocks import pooled_head
from rskeras.models.contract import BandStatsArgument, Weights, builder_contract, default_outputs, image_input


@builder_contract()
def resnet50(
    input_shape: Sequence[int | None],
    *,
    task: str = "multiclass",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    weights: Weights = None,
    name: str | None = None,
    dropout: float = 0.0,
) -> keras.Model:
    """ResNet-50: the ``"resnet50"`` backbone, global average pooling, the task's output.

    Reference: He, Zhang, Ren and Sun (2016), "Deep Residual Learning for Image
    Recognition", CVPR, Table 1 (50-layer; the stride sits in the first 1x1
    convolution of a stage, as in keras.applications.ResNet50, whose layer names
    rskeras uses behind the prefix ``resnet50_``).

    Args:
        input_shape: ``(H, W, bands)``, any band count; H and W may be None.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes (or values for regression); default from ``class_names`` and ``task``.
        class_names, band_names, band_stats: stored in the model (see :func:`rskeras.models.image_input`).
        weights: None (random), ``"imagenet"`` (keras.applications' weights,
            downloaded into the Keras cache; they expect the caffe preprocessing of
            ``keras.applications.resnet.preprocess_input``) or the path of a weights
            file, e.g. one :func:`rskeras.models.backbones.save_weights` wrote from a
            model with another band count: the first convolution is adapted with
            :func:`rskeras.models.backbones.adapt_first_conv_kernel`.
        name: the model's name (default ``"resnet50_classifier"``).
        dropout: dropout rate before the output layer (0 for none).

    Returns:
        An uncompiled model: ``(batch, H, W, bands)`` raw values -> ``(batch, n_outputs)``
        float32. At 64x64x3 with 10 classes it has 23,608,202 parameters
        (23,555,082 trainable); each extra band adds 3,136 (7x7x64).
    """
    n_outputs = default_outputs(task, n_outputs, class_names)
    inputs, x = image_input(input_shape, band_names=band_names, band_stats=band_stats)
    features = build_backbone("resnet50", x, weights=weights)
    outputs = pooled_head(features[32], task, n_outputs, class_names=class_names, dropout=dropout)
    return keras.Model(inputs, outputs, name=name or "resnet50_classifier")
