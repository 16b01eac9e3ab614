"""U-Net: the original (Ronneberger et al. 2015), the SEN12TP variant, and a U-Net decoder on any backbone.

* ``variant="original"``: Ronneberger, Fischer & Brox, "U-Net: Convolutional
  Networks for Biomedical Image Segmentation", MICCAI 2015. Each level has two
  3x3 convolutions with ReLU; 2x2 max pooling goes down; a 2x2 transposed
  convolution that halves the channels goes up; the encoder's feature map of the
  same level is concatenated (skip connection); a 1x1 convolution gives the
  output. Here the convolutions use "same" padding, so the output has the
  input's height and width (the paper crops "valid" convolutions instead).
* ``variant="sen12tp"``: the U-Net used for NDVI regression from Sentinel-1 in
  SEN12TP (Roßberg & Schmitt, PFG 2023): Conv-BN-ReLU blocks, and bilinear
  upsampling followed by a 3x3 Conv-BN-ReLU instead of transposed convolutions.
* ``backbone="resnet50"`` (any name of :data:`rskeras.models.backbones.BACKBONES`):
  the registry's taps at strides 2..32 are the encoder, and the decoder (of the
  chosen variant) goes up through strides 16, 8, 4, 2 and 1, in the manner of
  segmentation_models' ``Unet``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.heads import output_head
from rskeras.layers.resize import BilinearUpsampling2D
from rskeras.models.backbones import build_backbone
from rskeras.models.blocks import conv_bn_relu, double_conv
from rskeras.models.contract import (
    BandStatsArgument,
    Weights,
    builder_contract,
    default_outputs,
    image_input,
    load_model_weights,
    static_size,
)

VARIANTS = ("original", "sen12tp")


def _up(x, filters: int, variant: str, name: str):
    """Double the resolution and set the channels to ``filters``."""
    if variant == "original":
        return keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_transpose")(x)
    x = BilinearUpsampling2D(2, name=f"{name}_bilinear")(x)
    return conv_bn_relu(x, filters, name=f"{name}_upconv")


def _decoder_step(x, skip, filters: int, variant: str, name: str):
    """Up one level, concatenate the skip (when given), two 3x3 convolutions."""
    x = _up(x, filters, variant, name=f"{name}_up")
    if skip is not None:
        x = keras.layers.Concatenate(name=f"{name}_concat")([skip, x])
    return double_conv(x, filters, batch_norm=variant == "sen12tp", name=f"{name}_conv")


def _own_encoder_decoder(x, depth: int, filters: int, variant: str, dropout: float):
    """The paper's contracting path (``depth`` poolings), bottleneck and expanding path, at full resolution."""
    batch_norm = variant == "sen12tp"
    skips = []
    for level in range(depth):
        x = double_conv(x, filters * 2**level, batch_norm, name=f"encoder_{level + 1}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"encoder_{level + 1}_pool")(x)
    x = double_conv(x, filters * 2**depth, batch_norm, name="bottleneck")
    if dropout:
        x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for level in reversed(range(depth)):
        x = _decoder_step(x, skips[level], filters * 2**level, variant, name=f"decoder_{level + 1}")
    return x


def _backbone_encoder_decoder(x, backbone: str, weights, filters: int, variant: str, dropout: float):
    """A registered backbone's taps as the encoder; the decoder goes up through strides 16, 8, 4, 2 and 1."""
    taps = build_backbone(backbone, x, weights=weights)
    x = taps[32]
    if dropout:
        x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)
    for stride in (16, 8, 4, 2, 1):
        x = _decoder_step(x, taps.get(stride), max(1, filters * stride // 2), variant, name=f"decoder_stride{stride}")
    return x


@builder_contract(renamed={"backbone_weights": "weights"})
def unet(
    input_shape: Sequence[int | None],
    *,
    task: str = "multiclass",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    weights: Weights = None,
    name: str | None = None,
    depth: int = 4,
    filters: int = 64,
    variant: str = "original",
    backbone: str | None = None,
    dropout: float = 0.0,
) -> keras.Model:
    """A U-Net for dense prediction (segmentation or per-pixel regression).

    Args:
        input_shape: ``(height, width, bands)``, any number of bands. With its own
            encoder height and width may be None (then any multiple of
            ``2**depth`` works at prediction time), else they must be multiples
            of ``2**depth``; with a backbone they must be fixed multiples of 32.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes or target values; defaults to ``len(class_names)``,
            or 1 for regression and binary.
        class_names, band_names, band_stats: stored in the model (see :func:`rskeras.models.image_input`).
        weights: with a backbone, its pretrained weights (None, ``"imagenet"`` or a file, see
            :func:`rskeras.models.backbones.build_backbone`; was ``backbone_weights``); without
            one, None or a weights file of the same architecture.
        name: the model's name; defaults to ``"unet"`` or ``"unet_<backbone>"``.
        depth: number of max-pooling steps of the own encoder (the paper: 4).
        filters: channels of the first level; level ``i`` has ``filters * 2**i``
            (the paper: 64 -> 1024 at the bottom). With a backbone the decoder
            block that outputs stride ``s`` has ``filters * s // 2`` channels
            (``filters=32`` gives segmentation_models' 256, 128, 64, 32, 16).
        variant: ``"original"`` or ``"sen12tp"`` (see the module docstring).
        backbone: a registered backbone name for the encoder, or None for the
            U-Net's own encoder.
        dropout: dropout rate at the end of the contracting path (the paper
            uses dropout there; 0 for none).

    Returns:
        An uncompiled model ``"image"`` ``(batch, height, width, bands)`` raw
        values -> ``(batch, height, width, n_outputs)`` float32 (logits through
        :class:`rskeras.heads.TaskOutput`).

        Parameter count at 64x64 with 4 bands and 3 classes (any input size gives
        the same count): ``variant="original"``, ``depth=4``, ``filters=64`` has
        31,032,451 parameters (the paper's architecture); ``variant="sen12tp"``
        has 34,534,595 (34,520,899 trainable; its 3x3 up-convolutions and batch
        normalisation add the rest).
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown U-Net variant {variant!r}; choose one of {', '.join(map(repr, VARIANTS))}")
    if depth < 1 or filters < 1:
        raise ValueError(f"depth and filters must be positive, got depth={depth}, filters={filters}")
    n_outputs = default_outputs(task, n_outputs, class_names)
    if backbone is not None:
        static_size(input_shape, f"unet on backbone {backbone!r}", multiple=32)
    elif input_shape[0] is not None and input_shape[1] is not None:
        static_size(input_shape, "unet", multiple=2**depth)
    inputs, x = image_input(input_shape, band_names=band_names, band_stats=band_stats)
    if backbone is None:
        x = _own_encoder_decoder(x, depth, filters, variant, dropout)
    else:
        x = _backbone_encoder_decoder(x, backbone, weights, filters, variant, dropout)
    outputs = output_head(x, task, n_outputs, class_names=class_names, kind="conv")
    if backbone is not None:
        return keras.Model(inputs, outputs, name=name or f"unet_{backbone}")
    return load_model_weights(keras.Model(inputs, outputs, name=name or "unet"), weights)
