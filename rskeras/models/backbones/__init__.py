"""The backbone registry: encoders with feature taps at strides 2, 4, 8, 16 and 32.

Decoders (U-Net, PSPNet, DeepLabV3) and classifiers sit on any registered backbone::

    from rskeras.models.backbones import build_backbone
    features = build_backbone("resnet50", x, weights=None, output_stride=16)
    features[4], features[16]   # (batch, H/4, W/4, 256), (batch, H/16, W/16, 1024)

Every layer a backbone creates is named ``f"{name}_..."``, so two backbones, or a
backbone and a decoder, live in one model, and :func:`rskeras.models.freeze_backbone`
finds them. Registered: ``"resnet50"``, ``"googlenet"``, ``"vgg16"``.
"""

from __future__ import annotations

import os

import keras

from rskeras.models.backbones import googlenet, resnet50, vgg
from rskeras.models.backbones.adaptation import (
    PretrainedWeightsError,
    adapt_first_conv_kernel,
    imagenet_weights_file,
    keras_cache_path,
    load_weights,
    save_weights,
)
from rskeras.models.backbones.construction import (
    OUTPUT_STRIDES,
    STRIDES,
    BackboneOutput,
    BackboneSpec,
    ImagenetWeights,
)

BACKBONES: dict[str, BackboneSpec] = {spec.name: spec for spec in (resnet50.SPEC, googlenet.SPEC, vgg.SPEC)}


def get_backbone_spec(name: str) -> BackboneSpec:
    """The registered backbone ``name``; the error lists the names that exist."""
    try:
        return BACKBONES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(map(repr, BACKBONES))}") from None


def backbone_of(layer_name: str) -> str | None:
    """The registered backbone a layer belongs to, by its name prefix, or None."""
    return next((name for name, spec in BACKBONES.items() if layer_name.startswith(spec.prefix)), None)


def load_backbone_weights(spec: BackboneSpec, layers: list[keras.layers.Layer],
                          weights: str | os.PathLike) -> list[str]:
    """Load ``weights`` (``"imagenet"`` or a file) into a backbone's layers, adapting its first convolution."""
    if weights == "imagenet":
        if spec.imagenet is None:
            raise ValueError(
                f"Keras publishes no ImageNet weights for backbone {spec.name!r}; pass weights=None or the path "
                f"of a weights file (backbones with ImageNet weights: "
                f"{', '.join(repr(n) for n, s in BACKBONES.items() if s.imagenet is not None)})"
            )
        path = imagenet_weights_file(spec.imagenet, spec.name)
        strip = spec.imagenet.layer_prefix
    else:
        path, strip = weights, spec.prefix
    return load_weights(layers, path, first_conv=spec.first_conv, strip_prefix=strip)


def build_backbone_layers(name: str, inputs: keras.KerasTensor, *, weights: str | os.PathLike | None = None,
                          output_stride: int = 32) -> BackboneOutput:
    """Like :func:`build_backbone`, returning the layers and extra endpoints as well."""
    spec = get_backbone_spec(name)
    output = spec.builder(inputs, output_stride)
    if weights is not None:
        load_backbone_weights(spec, output.layers, weights)
    return output


def build_backbone(name: str, inputs: keras.KerasTensor, *, weights: str | os.PathLike | None = None,
                   output_stride: int = 32) -> dict[int, keras.KerasTensor]:
    """Apply the backbone ``name`` to ``inputs`` and return its feature taps.

    Args:
        name: a key of :data:`BACKBONES`.
        inputs: ``(batch, H, W, bands)``, any number of bands (usually normalised).
        weights: None (random), ``"imagenet"`` (Keras' ImageNet weights, downloaded
            to the Keras cache; RGB kernels adapted to the band count) or the path
            of a weights file (see :func:`load_weights`).
        output_stride: 32, 16 or 8. Below 32 the later downsamplings keep the
            resolution and the convolutions after them are dilated.

    Returns:
        ``{s: tensor}`` for ``s`` in 2, 4, 8, 16, 32: the last feature map before
        the downsampling past stride ``s``, ``(batch, H/t, W/t, channels[s])`` with
        ``t = min(s, output_stride)``. Give H and W divisible by 32: otherwise
        sizes round up (ResNet-50, GoogLeNet) or down (VGG-16's poolings).
    """
    return build_backbone_layers(name, inputs, weights=weights, output_stride=output_stride).features


__all__ = [
    "BACKBONES",
    "OUTPUT_STRIDES",
    "STRIDES",
    "BackboneOutput",
    "BackboneSpec",
    "ImagenetWeights",
    "PretrainedWeightsError",
    "adapt_first_conv_kernel",
    "backbone_of",
    "build_backbone",
    "build_backbone_layers",
    "get_backbone_spec",
    "imagenet_weights_file",
    "keras_cache_path",
    "load_backbone_weights",
    "load_weights",
    "save_weights",
]
