"""VGG-16 (Simonyan and Zisserman, 2015) as a plain convolutional encoder, with keras.applications' layer names.

Thirteen 3x3 convolutions with ReLU in five blocks, each closed by 2x2 max pooling;
no batch normalisation. Layer names are those of ``keras.applications.VGG16``
(``block1_conv1`` ... ``block5_pool``) behind the prefix ``vgg16_``, so Keras'
ImageNet weights load by name. Past ``output_stride`` a pooling keeps the
resolution (3x3, stride 1, as DeepLab's VGG) and the later convolutions are dilated.
"""

from __future__ import annotations

import keras

from rskeras.models.backbones.construction import (
    BackboneOutput,
    BackboneSpec,
    ImagenetWeights,
    LayerRecorder,
    StridePlan,
)

NAME = "vgg16"
REFERENCE = ("Simonyan and Zisserman (2015), Very Deep Convolutional Networks for Large-Scale Image "
             "Recognition, ICLR, Table 1 configuration D")
# (filters, convolutions) of blocks 1..5
BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))


def build(inputs: keras.KerasTensor, output_stride: int = 32) -> BackboneOutput:
    """VGG-16 convolutions on ``inputs`` ``(batch, H, W, bands)``; taps at strides 2..32 (128..512 channels).

    The tap at stride ``s`` is the last convolution before the pooling to ``2s``
    (``block2_conv2``, ``block3_conv3``, ``block4_conv3``, ``block5_conv3``) and,
    at 32, ``block5_pool``.
    """
    plan = StridePlan(output_stride)
    rec = LayerRecorder(f"{NAME}_")
    x = inputs
    dilation = 1
    features = {}
    for block, (filters, convs) in enumerate(BLOCKS, start=1):
        for conv in range(1, convs + 1):
            x = rec(keras.layers.Conv2D, f"block{block}_conv{conv}", filters, 3, padding="same",
                    activation="relu", dilation_rate=dilation)(x)
        if block > 1:
            features[2 ** (block - 1)] = x
        stride, dilation = plan.step()
        if stride == 2:
            x = rec(keras.layers.MaxPooling2D, f"block{block}_pool", 2, strides=2)(x)
        else:
            x = rec(keras.layers.MaxPooling2D, f"block{block}_pool", 3, strides=1, padding="same")(x)
    features[32] = x
    return BackboneOutput(features=dict(sorted(features.items())), layers=rec.layers)


SPEC = BackboneSpec(
    name=NAME,
    builder=build,
    taps={2: "vgg16_block2_conv2", 4: "vgg16_block3_conv3", 8: "vgg16_block4_conv3",
          16: "vgg16_block5_conv3", 32: "vgg16_block5_pool"},
    channels={2: 128, 4: 256, 8: 512, 16: 512, 32: 512},
    first_conv="vgg16_block1_conv1",
    reference=REFERENCE,
    imagenet=ImagenetWeights(
        filename="vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin="https://storage.googleapis.com/tensorflow/keras-applications/vgg16/"
               "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
        file_hash="6d6bbae143d832006294945121d1f1fc",
        layer_prefix=f"{NAME}_",
    ),
)
