"""What every backbone builder shares: its spec, its output, layer recording and the stride plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import keras

STRIDES: tuple[int, ...] = (2, 4, 8, 16, 32)
OUTPUT_STRIDES: tuple[int, ...] = (8, 16, 32)


@dataclass(frozen=True)
class ImagenetWeights:
    """Where Keras publishes a backbone's ImageNet weights (no classifier top, HDF5 keyed by layer name).

    Attributes:
        filename: the file name in the Keras cache (``$KERAS_HOME/models`` or ``~/.keras/models``).
        origin: the URL Keras downloads it from.
        file_hash: its MD5 hash, as keras.applications checks it.
        layer_prefix: what to put before the file's layer names to get rskeras' names.
    """

    filename: str
    origin: str
    file_hash: str
    layer_prefix: str


@dataclass
class BackboneOutput:
    """What a backbone builder returns.

    Attributes:
        features: stride (2, 4, 8, 16, 32) -> the feature tensor tapped there.
        layers: every layer the builder created, in creation order (the first
            convolution first); weights are loaded into these.
        endpoints: further named tensors a classifier may need (e.g. the inputs
            of GoogLeNet's auxiliary classifiers).
    """

    features: dict[int, keras.KerasTensor]
    layers: list[keras.layers.Layer]
    endpoints: dict[str, keras.KerasTensor] = field(default_factory=dict)


@dataclass(frozen=True)
class BackboneSpec:
    """One registered backbone.

    Attributes:
        name: the registry name, also the prefix (``f"{name}_"``) of every layer it creates.
        builder: ``builder(inputs, output_stride) -> BackboneOutput``.
        taps: stride -> the name of the layer whose output is the feature map at that stride.
        channels: stride -> channels of that feature map.
        first_conv: the name of the convolution that reads the image bands.
        reference: the paper it follows.
        imagenet: where its ImageNet weights come from, or None when Keras publishes none.
    """

    name: str
    builder: Callable[[keras.KerasTensor, int], BackboneOutput]
    taps: Mapping[int, str]
    channels: Mapping[int, int]
    first_conv: str
    reference: str
    imagenet: ImagenetWeights | None = None

    @property
    def prefix(self) -> str:
        return f"{self.name}_"


class LayerRecorder:
    """Names layers with the backbone prefix and remembers them.

    ``rec(keras.layers.Conv2D(64, 7), "conv1_conv")`` returns the layer named
    ``f"{prefix}conv1_conv"`` and adds it to ``rec.layers``.
    """

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.layers: list[keras.layers.Layer] = []

    def __call__(self, layer_class: type, name: str, *args, **kwargs) -> keras.layers.Layer:
        layer = layer_class(*args, name=f"{self.prefix}{name}", **kwargs)
        self.layers.append(layer)
        return layer


class StridePlan:
    """Turns downsampling steps into dilation once ``output_stride`` is reached.

    Each call to :meth:`step` stands for one downsampling (stride 2). Up to
    ``output_stride`` it returns ``(2, dilation)``; past it the step keeps the
    resolution and doubles the dilation of the convolutions that follow (atrous
    convolution, as DeepLab and PSPNet use), returning ``(1, dilation)``.
    """

    def __init__(self, output_stride: int):
        if output_stride not in OUTPUT_STRIDES:
            raise ValueError(f"output_stride must be one of {OUTPUT_STRIDES}, got {output_stride!r}")
        self.output_stride = output_stride
        self.stride = 1
        self.dilation = 1

    def step(self) -> tuple[int, int]:
        """``(stride, dilation)`` for the next downsampling and the layers after it."""
        if self.stride * 2 <= self.output_stride:
            self.stride *= 2
            return 2, self.dilation
        self.dilation *= 2
        return 1, self.dilation
