"""ResNet-50 (He et al., 2016) as a backbone, with keras.applications' layer names.

The layer names are those of ``keras.applications.ResNet50`` (``conv1_conv``,
``conv2_block1_1_conv``, ...) behind the prefix ``resnet50_``, so Keras' ImageNet
weights load by name, and any number of input bands works (the first convolution
is adapted, see :mod:`rskeras.models.backbones.adaptation`).
"""

from __future__ import annotations

import keras

from rskeras.layers.batch_normalization import FusedBatchNormalization
from rskeras.models.backbones.construction import (
    BackboneOutput,
    BackboneSpec,
    ImagenetWeights,
    LayerRecorder,
    StridePlan,
)

NAME = "resnet50"
REFERENCE = "He, Zhang, Ren and Sun (2016), Deep Residual Learning for Image Recognition, CVPR, Table 1 (50-layer)"
# (filters of the bottleneck, blocks) of stages conv2..conv5
STAGES: tuple[tuple[int, int], ...] = ((64, 3), (128, 4), (256, 6), (512, 3))
_BN_EPSILON = 1.001e-5  # as keras.applications, so its statistics fit


def _conv_bn(rec: LayerRecorder, x, filters: int, kernel: int, name: str, stride: int = 1, dilation: int = 1):
    x = rec(keras.layers.Conv2D, f"{name}_conv", filters, kernel, strides=stride, padding="same",
            dilation_rate=dilation)(x)
    return rec(FusedBatchNormalization, f"{name}_bn", epsilon=_BN_EPSILON)(x)


def _bottleneck(rec: LayerRecorder, x, filters: int, name: str, stride: int, dilation: int, shortcut_conv: bool):
    """One bottleneck block: 1x1 (stride) -> 3x3 (dilation) -> 1x1 (4 x filters), plus the shortcut."""
    shortcut = _conv_bn(rec, x, 4 * filters, 1, f"{name}_0", stride=stride) if shortcut_conv else x
    y = _conv_bn(rec, x, filters, 1, f"{name}_1", stride=stride)
    y = rec(keras.layers.Activation, f"{name}_1_relu", "relu")(y)
    y = _conv_bn(rec, y, filters, 3, f"{name}_2", dilation=dilation)
    y = rec(keras.layers.Activation, f"{name}_2_relu", "relu")(y)
    y = _conv_bn(rec, y, 4 * filters, 1, f"{name}_3")
    y = rec(keras.layers.Add, f"{name}_add")([shortcut, y])
    return rec(keras.layers.Activation, f"{name}_out", "relu")(y)


def build(inputs: keras.KerasTensor, output_stride: int = 32) -> BackboneOutput:
    """ResNet-50 on ``inputs`` ``(batch, H, W, bands)``; taps at strides 2..32 (64..2048 channels)."""
    plan = StridePlan(output_stride)
    rec = LayerRecorder(f"{NAME}_")
    stride, _ = plan.step()
    x = rec(keras.layers.ZeroPadding2D, "conv1_pad", 3)(inputs)
    x = rec(keras.layers.Conv2D, "conv1_conv", 64, 7, strides=stride)(x)
    x = rec(FusedBatchNormalization, "conv1_bn", epsilon=_BN_EPSILON)(x)
    x = rec(keras.layers.Activation, "conv1_relu", "relu")(x)
    features = {2: x}
    stride, _ = plan.step()
    x = rec(keras.layers.ZeroPadding2D, "pool1_pad", 1)(x)
    x = rec(keras.layers.MaxPooling2D, "pool1_pool", 3, strides=stride)(x)
    for stage, (filters, blocks) in enumerate(STAGES, start=2):
        stride, dilation = plan.step() if stage > 2 else (1, 1)
        for block in range(1, blocks + 1):
            x = _bottleneck(rec, x, filters, f"conv{stage}_block{block}", stride if block == 1 else 1,
                            dilation, shortcut_conv=block == 1)
        features[2 ** stage] = x
    return BackboneOutput(features=features, layers=rec.layers)


SPEC = BackboneSpec(
    name=NAME,
    builder=build,
    taps={2: "resnet50_conv1_relu", 4: "resnet50_conv2_block3_out", 8: "resnet50_conv3_block4_out",
          16: "resnet50_conv4_block6_out", 32: "resnet50_conv5_block3_out"},
    channels={2: 64, 4: 256, 8: 512, 16: 1024, 32: 2048},
    first_conv="resnet50_conv1_conv",
    reference=REFERENCE,
    imagenet=ImagenetWeights(
        filename="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin="https://storage.googleapis.com/tensorflow/keras-applications/resnet/"
               "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
        file_hash="4d473c1dd8becc155b73f8504c6f6626",
        layer_prefix=f"{NAME}_",
    ),
)
