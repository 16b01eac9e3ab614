"""Layer blocks the builders share: convolution blocks and the heads that end in the task's output.

Every head ends in :class:`rskeras.heads.TaskOutput` (the task's final activation in float32).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.heads import Task, TaskOutput, get_task, output_head
from rskeras.layers.batch_normalization import FusedBatchNormalization


def conv_bn_relu(x, filters: int, kernel_size: int = 3, dilation_rate: int = 1, name: str = "conv"):
    """Conv2D ("same", no bias) -> BatchNormalization -> ReLU, layers ``{name}_conv/_bn/_relu``."""
    x = keras.layers.Conv2D(
        filters, kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False, name=f"{name}_conv"
    )(x)
    x = FusedBatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def conv_relu(x, filters: int, kernel_size: int = 3, name: str = "conv"):
    """Conv2D ("same", with bias) -> ReLU, as in the original U-Net; layers ``{name}_conv/_relu``."""
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", name=f"{name}_conv")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def double_conv(x, filters: int, batch_norm: bool, name: str):
    """Two 3x3 convolutions with ReLU (Conv-BN-ReLU when ``batch_norm``), ``{name}_1`` and ``{name}_2``."""
    block = conv_bn_relu if batch_norm else conv_relu
    x = block(x, filters, name=f"{name}_1")
    return block(x, filters, name=f"{name}_2")


def pooled_head(
    features: keras.KerasTensor,
    task: str,
    n_outputs: int,
    class_names: Sequence[str] | None = None,
    dropout: float = 0.0,
    name: str = "output",
) -> keras.KerasTensor:
    """Global average pooling, dropout (when > 0), then the task's output (see :func:`rskeras.heads.output_head`).

    ``features`` ``(batch, h, w, channels)`` -> ``(batch, n_outputs)`` float32.
    """
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return output_head(x, task, n_outputs, class_names=class_names, name=name)


def upsampled_output(
    x,
    size: tuple[int, int],
    task: str,
    n_outputs: int,
    class_names: Sequence[str] | None = None,
    name: str = "output",
):
    """1x1 classifier -> bilinear resize of the logits to ``size`` -> :class:`TaskOutput`.

    The dense counterpart of :func:`rskeras.heads.output_head` for decoders that
    predict at a coarser stride (PSPNet, DeepLabV3): the logits are upsampled
    before the task's activation, as in the papers, and the activation runs in
    float32.

    Args:
        x: ``(batch, h, w, channels)`` features.
        size: ``(height, width)`` of the model input.
        task, n_outputs, class_names: as for :func:`rskeras.heads.output_head`.
        name: the final layer's name; the layers before are ``{name}_logits`` and
            ``{name}_upsampling``.

    Returns:
        ``(batch, height, width, n_outputs)`` float32.
    """
    spec = checked_task(task, n_outputs, class_names)
    logits = keras.layers.Conv2D(n_outputs, 1, name=f"{name}_logits")(x)
    logits = keras.layers.Resizing(size[0], size[1], interpolation="bilinear", name=f"{name}_upsampling")(logits)
    return TaskOutput(spec.name, class_names=class_names, name=name)(logits)


def checked_task(task: str, n_outputs: int, class_names: Sequence[str] | None = None) -> Task:
    """The task ``task``, after checking that ``n_outputs`` and ``class_names`` fit it.

    For heads that put :class:`TaskOutput` on logits they make themselves (resized logits in
    :func:`upsampled_output`, M3Net's fused building logits); other heads use
    :func:`rskeras.heads.output_head`, which checks the same. A binary output takes one class
    name or two (the negative and the positive class).
    """
    spec = get_task(task)
    spec.check_outputs(n_outputs)
    if class_names is not None and len(class_names) != n_outputs and not (spec.name == "binary"
                                                                          and len(class_names) == 2):
        raise ValueError(f"{len(class_names)} class names for n_outputs={n_outputs}: {list(class_names)}")
    return spec
