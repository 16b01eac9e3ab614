"""The candidate networks and the on-device augmentation of the EuroSAT search, in plain Keras 3 (any backend).

:func:`compact_resnet` rebuilds rskeras' compact ResNet (a 3x3 stem, one stage of basic residual blocks per
width, each halving the resolution, global average pooling, dropout, softmax) with two options rskeras lacks:
a strided stem (``stem_stride=2``: the stem works at half resolution and the first stage keeps it) and
stochastic depth (``drop_path``: each residual branch is dropped per sample, the rate rising linearly to
``drop_path`` at the last block; Huang et al. 2016). :class:`Augment` draws one of the eight flips and
90-degree rotations per patch and, with ``crop_pad``, a random crop of the patch padded by reflection,
inside the model (training only), so the augmentation runs where the model runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import ops

ARCHITECTURES: dict[str, dict] = {
    # rskeras' compact_resnet as committed (recipes.EUROSAT_MODELS["compact_resnet"])
    "compact": {"widths": (32, 64, 128, 256), "blocks": (1, 1, 1, 1), "stem_filters": 32, "stem_stride": 1},
    # the same network with its stem at 32x32 instead of 64x64
    "compact_s2": {"widths": (32, 64, 128, 256), "blocks": (1, 1, 1, 1), "stem_filters": 32, "stem_stride": 2},
    # one more block in the two middle stages
    "compact_1221": {"widths": (32, 64, 128, 256), "blocks": (1, 2, 2, 1), "stem_filters": 32, "stem_stride": 1},
    # wider, stem at 32x32
    "compact_w48_s2": {"widths": (48, 96, 192, 384), "blocks": (1, 1, 1, 1), "stem_filters": 32, "stem_stride": 2},
}


@keras.saving.register_keras_serializable("eurosat_search")
class Augment(keras.layers.Layer):
    """Training-only augmentation of square patches: a random element of the dihedral group per patch
    (flips left-right, up-down and a transpose, each with probability 1/2) and, when ``crop_pad`` > 0,
    a random ``H x W`` crop of the patch padded by ``crop_pad * H // 64`` pixels of reflection."""

    def __init__(self, dihedral: bool = True, crop_pad: int = 0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.dihedral, self.crop_pad, self.seed = dihedral, crop_pad, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training:
            return x
        # static sizes where known (JAX always); TensorFlow may trace with unknown ones (then square assumed)
        n, h, w = (x.shape[i] if x.shape[i] is not None else ops.shape(x)[i] for i in range(3))
        if self.dihedral:
            flip = keras.random.uniform((n, 3), seed=self.generator) < 0.5
            x = ops.where(flip[:, 0, None, None, None], ops.flip(x, 2), x)
            x = ops.where(flip[:, 1, None, None, None], ops.flip(x, 1), x)
            if x.shape[1] is None or x.shape[1] == x.shape[2]:
                x = ops.where(flip[:, 2, None, None, None], ops.transpose(x, (0, 2, 1, 3)), x)
        pad = self.crop_pad * h // 64
        if self.crop_pad:
            x = ops.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="reflect")
            offset = keras.random.randint((n, 2), 0, 2 * pad + 1, seed=self.generator)
            rows = offset[:, :1] + ops.arange(h)[None, :]
            cols = offset[:, 1:] + ops.arange(w)[None, :]
            x = ops.take_along_axis(x, rows[:, :, None, None], axis=1)
            x = ops.take_along_axis(x, cols[:, None, :, None], axis=2)
        return x

    def get_config(self):
        return {**super().get_config(), "dihedral": self.dihedral, "crop_pad": self.crop_pad, "seed": self.seed}


@keras.saving.register_keras_serializable("eurosat_search")
class DropPath(keras.layers.Layer):
    """Stochastic depth: zero a residual branch for a random ``rate`` of the patches, scale the rest by
    ``1 / (1 - rate)`` (training only)."""

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = rate, seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate <= 0:
            return x
        keep = keras.random.uniform((ops.shape(x)[0], 1, 1, 1), seed=self.generator) >= self.rate
        return x * ops.cast(keep, x.dtype) / (1 - self.rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _conv_bn(x, filters: int, stride: int, name: str, relu: bool = True, kernel_size: int = 3):
    x = keras.layers.Conv2D(filters, kernel_size, strides=stride, padding="same", use_bias=False,
                            kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _basic_block(x, filters: int, stride: int, name: str, drop_path: float, seed: int | None):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv_bn(x, filters, stride, f"{name}_shortcut", relu=False, kernel_size=1)
    y = _conv_bn(x, filters, stride, f"{name}_1")
    y = _conv_bn(y, filters, 1, f"{name}_2", relu=False)
    if drop_path > 0:
        y = DropPath(drop_path, seed=seed, name=f"{name}_drop_path")(y)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def compact_resnet(
    mean: Sequence[float],
    std: Sequence[float],
    n_classes: int = 10,
    widths: Sequence[int] = (32, 64, 128, 256),
    blocks: Sequence[int] = (1, 1, 1, 1),
    stem_filters: int = 32,
    stem_stride: int = 1,
    dropout: float = 0.1,
    drop_path: float = 0.0,
    dihedral: bool = True,
    crop_pad: int = 0,
    seed: int | None = None,
) -> keras.Model:
    """Raw RGB ``(batch, H, W, 3)`` (any H = W) -> class probabilities; normalised by ``mean`` and ``std``
    per band, augmented in training by :class:`Augment`."""
    inputs = keras.Input((None, None, 3), name="image")
    x = Augment(dihedral, crop_pad, seed=seed, name="augment")(inputs)
    x = keras.layers.Normalization(mean=list(mean), variance=[s * s for s in std], name="normalise")(x)
    x = _conv_bn(x, stem_filters, stem_stride, "stem")
    total, index = sum(blocks), 0
    for stage, (width, n_blocks) in enumerate(zip(widths, blocks), start=1):
        for block in range(1, n_blocks + 1):
            stride = 2 if block == 1 and not (stage == 1 and stem_stride > 1) else 1
            rate = drop_path * index / max(1, total - 1)
            x = _basic_block(x, width, stride, f"stage{stage}_block{block}", rate,
                             None if seed is None else seed + index)
            index += 1
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name="compact_resnet")


def multiply_accumulates(model: keras.Model, size: int = 64) -> int:
    """Multiply-accumulates of one forward pass over a ``size x size`` patch (convolutions and dense layers)."""
    layers = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    outputs = keras.Model(model.inputs, [layer.output for layer in layers])(ops.zeros((1, size, size, 3)))
    return sum(math.prod(layer.kernel.shape) * math.prod(out.shape[1:-1]) for layer, out in zip(layers, outputs))
