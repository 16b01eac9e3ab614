"""Building blocks shared by the dense-prediction builders (U-Net, PSPNet, DeepLabV3, M3Net).

Every dense model starts with :func:`image_input` (raw bands -> per-band
normalisation) and ends in a task output whose final activation runs in float32.
"""

from __future__ import annotations

from typing import Sequence

import keras

from rskeras.heads import TaskOutput, get_task
from rskeras.layers.normalization import BandNormalization

BandStats = tuple[Sequence[float], Sequence[float]]


def image_input(
    input_shape: Sequence[int | None],
    band_stats: BandStats | None = None,
    band_names: Sequence[str] | None = None,
    name: str = "image",
    prefix_normalization: bool = False,
):
    """The model input and its per-band normalisation.

    Args:
        input_shape: ``(height, width, bands)``; height and width may be None
            where the builder allows it.
        band_stats: ``(mean, std)`` per band, raw units; None for the identity.
        band_names: names of the bands, stored in the model.
        name: the input's name.
        prefix_normalization: prefix the normalisation layer's name with ``name``
            (for models with several inputs). Otherwise it is ``band_normalization``,
            or ``band_normalization_UNADAPTED_identity`` without statistics.

    Returns:
        ``(inputs, x)``: the ``keras.Input`` and the normalised float32 tensor.
    """
    shape = tuple(input_shape)
    if len(shape) != 3 or shape[-1] is None or shape[-1] < 1:
        raise ValueError(f"input {name!r}: input_shape must be (height, width, bands), got {shape}")
    if band_names is not None and len(band_names) != shape[-1]:
        raise ValueError(
            f"input {name!r} has {shape[-1]} bands but {len(band_names)} band names: {list(band_names)}"
        )
    if band_stats is not None and len(band_stats) != 2:
        raise ValueError(f"input {name!r}: band_stats must be (mean, std), got {len(band_stats)} items")
    inputs = keras.Input(shape, name=name)
    mean, std = band_stats if band_stats is not None else (None, None)
    layer_name = None
    if prefix_normalization:
        layer_name = f"{name}_band_normalization" + ("" if band_stats is not None else "_UNADAPTED_identity")
    norm = BandNormalization(mean, std, band_names=band_names, name=layer_name)
    return inputs, norm(inputs)


def conv_bn_relu(x, filters: int, kernel_size: int = 3, dilation_rate: int = 1, name: str = "conv"):
    """Conv2D ("same", no bias) -> BatchNormalization -> ReLU, layers ``{name}_conv/_bn/_relu``."""
    x = keras.layers.Conv2D(
        filters, kernel_size, padding="same", dilation_rate=dilation_rate, use_bias=False, name=f"{name}_conv"
    )(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
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


def default_outputs(task: str, n_outputs: int | None, class_names: Sequence[str] | None) -> int:
    """``n_outputs`` when given, else ``len(class_names)``, else 1 (regression, binary)."""
    if n_outputs is not None:
        return n_outputs
    if class_names is not None:
        return len(class_names)
    if get_task(task).name in ("multiclass", "multilabel"):
        raise ValueError(f"task {task!r} needs n_outputs (the number of classes) or class_names")
    return 1


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
    spec = get_task(task)
    spec.check_outputs(n_outputs)
    if class_names is not None and len(class_names) != n_outputs:
        raise ValueError(f"{len(class_names)} class names for n_outputs={n_outputs}: {list(class_names)}")
    logits = keras.layers.Conv2D(n_outputs, 1, name=f"{name}_logits")(x)
    logits = keras.layers.Resizing(size[0], size[1], interpolation="bilinear", name=f"{name}_upsampling")(logits)
    return TaskOutput(spec.name, class_names=class_names, name=name)(logits)


def static_size(input_shape: Sequence[int | None], model: str, multiple: int = 1) -> tuple[int, int]:
    """``(height, width)`` of ``input_shape``; raises unless both are known multiples of ``multiple``."""
    height, width = input_shape[0], input_shape[1]
    if height is None or width is None:
        raise ValueError(f"{model} needs a fixed input height and width, got input_shape={tuple(input_shape)}")
    if height % multiple or width % multiple:
        raise ValueError(
            f"{model}: input height and width must be multiples of {multiple}, got {height}x{width}"
        )
    return int(height), int(width)
