"""GoogLeNet / Inception v1 (Szegedy et al., 2015) as a backbone, written from the paper's Table 1.

Stem: 7x7/2 convolution (64), 3x3/2 max pooling, 1x1 (64) and 3x3 (192) convolutions,
3x3/2 max pooling; then inception 3a, 3b, max pooling, 4a..4e, max pooling, 5a, 5b
with the filter counts of Table 1 (:data:`INCEPTION`). Each convolution is followed
by batch normalisation and ReLU; the paper's local response normalisation is
replaced by batch normalisation, as in torchvision's GoogLeNet. Max poolings use
``"same"`` padding, so a 224x224 input gives Table 1's sizes (112, 56, 28, 14, 7).
Keras publishes no ImageNet weights for GoogLeNet: ``weights`` takes a file path.
"""

from __future__ import annotations

import keras

from rskeras.layers.batch_normalization import FusedBatchNormalization
from rskeras.models.backbones.construction import BackboneOutput, BackboneSpec, LayerRecorder, StridePlan

NAME = "googlenet"
REFERENCE = "Szegedy et al. (2015), Going Deeper with Convolutions, CVPR, Table 1 and Section 5"
# Table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
INCEPTION: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


def _conv_bn_relu(rec: LayerRecorder, x, filters: int, kernel: int, name: str, stride: int = 1, dilation: int = 1):
    x = rec(keras.layers.Conv2D, f"{name}_conv", filters, kernel, strides=stride, padding="same",
            dilation_rate=dilation, use_bias=False)(x)
    x = rec(FusedBatchNormalization, f"{name}_bn")(x)
    return rec(keras.layers.Activation, f"{name}_relu", "relu")(x)


def _max_pool(rec: LayerRecorder, x, stride: int, name: str):
    return rec(keras.layers.MaxPooling2D, name, 3, strides=stride, padding="same")(x)


def _inception(rec: LayerRecorder, x, block: str, dilation: int):
    """One inception module: 1x1 | 1x1 -> 3x3 | 1x1 -> 5x5 | 3x3 max pool -> 1x1, concatenated."""
    n1, n3r, n3, n5r, n5, pool_proj = INCEPTION[block]
    name = f"inception_{block}"
    b1 = _conv_bn_relu(rec, x, n1, 1, f"{name}_1x1")
    b3 = _conv_bn_relu(rec, x, n3r, 1, f"{name}_3x3_reduce")
    b3 = _conv_bn_relu(rec, b3, n3, 3, f"{name}_3x3", dilation=dilation)
    b5 = _conv_bn_relu(rec, x, n5r, 1, f"{name}_5x5_reduce")
    b5 = _conv_bn_relu(rec, b5, n5, 5, f"{name}_5x5", dilation=dilation)
    bp = _max_pool(rec, x, 1, f"{name}_pool")
    bp = _conv_bn_relu(rec, bp, pool_proj, 1, f"{name}_pool_proj")
    return rec(keras.layers.Concatenate, f"{name}_concat")([b1, b3, b5, bp])


def build(inputs: keras.KerasTensor, output_stride: int = 32) -> BackboneOutput:
    """GoogLeNet on ``inputs`` ``(batch, H, W, bands)``; taps at strides 2..32 (64, 192, 480, 832, 1024 channels).

    ``endpoints`` holds ``"inception_4a"`` and ``"inception_4d"``, where the
    auxiliary classifiers of the paper attach.
    """
    plan = StridePlan(output_stride)
    rec = LayerRecorder(f"{NAME}_")
    stride, _ = plan.step()
    x = _conv_bn_relu(rec, inputs, 64, 7, "conv1", stride=stride)
    features = {2: x}
    stride, _ = plan.step()
    x = _max_pool(rec, x, stride, "pool1")
    x = _conv_bn_relu(rec, x, 64, 1, "conv2_reduce")
    x = _conv_bn_relu(rec, x, 192, 3, "conv2")
    features[4] = x
    stride, _ = plan.step()
    x = _max_pool(rec, x, stride, "pool2")
    endpoints = {}
    dilation = 1
    for stage, blocks, pool in (("3", "ab", "pool3"), ("4", "abcde", "pool4"), ("5", "ab", None)):
        for letter in blocks:
            x = _inception(rec, x, stage + letter, dilation)
            if stage == "4" and letter in "ad":
                endpoints[f"inception_4{letter}"] = x
        features[2 ** (int(stage))] = x
        if pool is not None:
            stride, dilation = plan.step()
            x = _max_pool(rec, x, stride, pool)
    return BackboneOutput(features=features, layers=rec.layers, endpoints=endpoints)


SPEC = BackboneSpec(
    name=NAME,
    builder=build,
    taps={2: "googlenet_conv1_relu", 4: "googlenet_conv2_relu", 8: "googlenet_inception_3b_concat",
          16: "googlenet_inception_4e_concat", 32: "googlenet_inception_5b_concat"},
    channels={2: 64, 4: 192, 8: 480, 16: 832, 32: 1024},
    first_conv="googlenet_conv1_conv",
    reference=REFERENCE,
    imagenet=None,
)
