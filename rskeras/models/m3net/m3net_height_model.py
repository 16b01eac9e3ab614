"""M3Net: the multi-spectral, multi-view, multi-task building-height network.

Cao, Y. & Huang, X. (2021). "A deep learning method for building height
estimation using high-resolution multi-view imagery over urban areas: A case
study of 42 Chinese cities." Remote Sensing of Environment 264, 112590.

Two U-Net encoders, one for the multi-spectral image (ZY-3: B, G, R, NIR at
2.5 m) and one for the multi-view panchromatic images (nadir, forward and
backward views stacked as channels), each with its own per-band normalisation.
Three U-Net decoders: the multi-view height decoder starts from both bottlenecks
concatenated; the multi-spectral height decoder and the building segmentation
decoder start from the multi-spectral bottleneck. A 1x1 convolution fuses the
two height maps and the building logit into the final height. Following the
authors' network, encoder blocks are two Conv-BN-ReLU layers, decoder blocks a
2x2 transposed convolution, the skip concatenation and two 3x3 Conv-ReLU layers,
and the widths are 16, 32, 64, 128, 256 (their ``feature_scale=4``).

The paper's building segmentation decoder has two softmax channels (``task="multiclass"``,
``n_outputs=2``); the default here is one sigmoid channel (``task="binary"``), so the fusion
sees three maps, not four.
Train it with :class:`rskeras.models.m3net.UncertaintyWeightedModel`::

    network = m3net({"multispectral": (400, 400, 4), "multiview": (400, 400, 3)})
    model = UncertaintyWeightedModel(network)       # owns the learned loss weights
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit({"multispectral": ms, "multiview": views}, heights_m, epochs=...)
    network.save("m3net.keras")                     # the network alone, for prediction
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import keras

from rskeras.heads import TaskOutput
from rskeras.models.blocks import checked_task, double_conv
from rskeras.models.contract import (
    BandStatsArgument,
    Weights,
    builder_contract,
    default_outputs,
    image_input,
    load_model_weights,
    per_input,
)

#: The model's inputs, in ``model.inputs`` order.
INPUTS: tuple[str, ...] = ("multispectral", "multiview")
#: The model's outputs: name -> (task, meaning and unit); ``task=`` sets the building output's task.
OUTPUTS: dict[str, tuple[str, str]] = {
    "height": ("regression", "final fused building height, metres"),
    "height_multiview": ("regression", "building height from the multi-view decoder, metres"),
    "height_multispectral": ("regression", "building height from the multi-spectral decoder, metres"),
    "building": ("binary", "probability that the pixel is a building, 0..1 (per class for task='multiclass')"),
}
#: The tasks the building output takes.
BUILDING_TASKS = ("binary", "multiclass")


def _encoder(x, depth: int, filters: int, name: str):
    skips = []
    for level in range(depth):
        x = double_conv(x, filters * 2**level, batch_norm=True, name=f"{name}_{level + 1}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"{name}_{level + 1}_pool")(x)
    centre = double_conv(x, filters * 2**depth, batch_norm=True, name=f"{name}_centre")
    return skips, centre


def _decoder(x, skips, filters: int, name: str, channels: int = 1):
    """Transposed-conv up, skip concatenation, two Conv-ReLU per level; returns ``channels`` logits."""
    for level in reversed(range(len(skips))):
        width = filters * 2**level
        x = keras.layers.Conv2DTranspose(width, 2, strides=2, name=f"{name}_{level + 1}_up")(x)
        x = keras.layers.Concatenate(name=f"{name}_{level + 1}_concat")([skips[level], x])
        x = double_conv(x, width, batch_norm=False, name=f"{name}_{level + 1}_conv")
    return keras.layers.Conv2D(channels, 1, name=f"{name}_logits")(x)


def _input_shapes(input_shape: Mapping[str, Sequence[int | None]], depth: int) -> dict[str, tuple]:
    """``{input: (H, W, channels)}``, checked: both inputs, one grid, multiples of ``2**depth``."""
    if not isinstance(input_shape, Mapping) or set(input_shape) != set(INPUTS):
        raise ValueError(f"m3net: input_shape must be a dict with the keys {', '.join(INPUTS)} "
                         f"({{input: (height, width, bands)}}), got {input_shape!r}")
    shapes = {key: tuple(input_shape[key]) for key in INPUTS}
    sizes = {key: shape[:2] for key, shape in shapes.items()}
    if sizes["multispectral"] != sizes["multiview"]:
        raise ValueError(
            f"multispectral {sizes['multispectral']} and multiview {sizes['multiview']} inputs must have the same "
            "height and width (resample the multi-spectral image to the panchromatic grid)"
        )
    if any(s is not None and s % 2**depth for s in sizes["multispectral"]):
        raise ValueError(f"m3net: input height and width must be multiples of {2**depth}, got {sizes['multispectral']}")
    return shapes


#: The arguments of the old form ``m3net(multispectral_shape, multiview_shape, ...)``, in order.
_LEGACY_POSITIONAL = ("multispectral_shape", "multiview_shape", "depth", "filters", "multispectral_stats",
                      "multispectral_band_names", "multiview_stats", "multiview_band_names", "name")
#: Old per-input keyword -> (contract argument, input).
_LEGACY_PER_INPUT = {
    "multispectral_shape": ("input_shape", "multispectral"), "multiview_shape": ("input_shape", "multiview"),
    "multispectral_stats": ("band_stats", "multispectral"), "multiview_stats": ("band_stats", "multiview"),
    "multispectral_band_names": ("band_names", "multispectral"),
    "multiview_band_names": ("band_names", "multiview"),
}


def _from_legacy_form(args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The contract's ``(args, kwargs)`` for a call in the old form (returned unchanged otherwise)."""
    old_positional = len(args) > 1 and not isinstance(args[0], Mapping)
    if old_positional and len(args) > len(_LEGACY_POSITIONAL):
        raise TypeError(f"m3net() takes input_shape as its only positional argument, got {len(args)}")
    legacy = dict(zip(_LEGACY_POSITIONAL, args)) if old_positional else {}
    legacy.update({key: kwargs.pop(key) for key in list(kwargs) if key in _LEGACY_PER_INPUT})
    if not legacy:
        return args, kwargs
    warnings.warn("m3net(multispectral_shape, multiview_shape, multispectral_stats=..., ...) is deprecated; use "
                  "m3net({'multispectral': shape, 'multiview': shape}, band_stats={...}, band_names={...})",
                  DeprecationWarning, stacklevel=3)
    for key, value in legacy.items():
        argument, input_name = _LEGACY_PER_INPUT.get(key, (key, None))
        if input_name is None:
            if argument in kwargs:
                raise TypeError(f"m3net() got {argument!r} twice (by position and by keyword)")
            kwargs[argument] = value
            continue
        given = kwargs.get(argument, {})
        if not isinstance(given, Mapping):
            raise TypeError(f"m3net() got {key}= and {argument}=; give {argument} as a dict keyed by input")
        kwargs[argument] = {**given, input_name: value}
    return (), kwargs


@builder_contract(legacy=_from_legacy_form)
def m3net(
    input_shape: Mapping[str, Sequence[int | None]],
    *,
    task: str = "binary",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Mapping[str, Sequence[str]] | None = None,
    band_stats: Mapping[str, BandStatsArgument] | None = None,
    weights: Weights = None,
    name: str | None = None,
    depth: int = 4,
    filters: int = 16,
) -> keras.Model:
    """M3Net (Cao & Huang 2021) for building height from multi-spectral and multi-view images.

    Args:
        input_shape: ``{"multispectral": (height, width, bands), "multiview": (height, width,
            views)}``: the multi-spectral image (the paper: B, G, R, NIR) and the co-registered
            panchromatic views stacked as channels (the paper: nadir, forward, backward). Height
            and width must be equal for both and multiples of ``2**depth`` (or None).
        task: the building output's task: ``"binary"`` (one sigmoid channel) or ``"multiclass"``
            (softmax channels, the paper's two).
        n_outputs: channels of the building output; default from ``class_names`` and ``task``.
        class_names: names of the building output's classes, stored in the model.
        band_names, band_stats: dicts keyed like ``input_shape``: each input's band names and
            ``(mean, std)`` (or :class:`rskeras.data.BandStats`) for its in-model normalisation
            (an input left out: no names, identity).
        weights: None or a weights file of the same architecture.
        name: the model's name (default ``"m3net"``).
        depth: pooling steps of each encoder (the paper: 4).
        filters: channels of the first level, doubling per level (the paper: 16).

    Returns:
        An uncompiled model with inputs ``{"multispectral": (batch, H, W, bands),
        "multiview": (batch, H, W, views)}`` (raw values) and float32 outputs,
        each ``(batch, H, W, 1)`` except the building output ``(batch, H, W, n_outputs)``:

        * ``"height"``: the final fused building height, metres;
        * ``"height_multiview"``: the multi-view decoder's height, metres;
        * ``"height_multispectral"``: the multi-spectral decoder's height, metres;
        * ``"building"``: building probability, 0..1.

        With the defaults (``depth=4``, ``filters=16``), 4 multi-spectral bands and
        3 views it has 4,781,719 parameters (4,777,751 trainable) at any input size
        (e.g. 64x64, the test's size; the paper used 400x400).
    """
    if depth < 1 or filters < 1:
        raise ValueError(f"depth and filters must be positive, got depth={depth}, filters={filters}")
    if task not in BUILDING_TASKS:
        raise ValueError(f"m3net: task sets the building output, one of {', '.join(BUILDING_TASKS)}; got {task!r}")
    n_outputs = default_outputs(task, n_outputs, class_names)
    spec = checked_task(task, n_outputs, class_names)
    shapes = _input_shapes(input_shape, depth)
    names, stats = per_input(band_names, INPUTS, "band_names"), per_input(band_stats, INPUTS, "band_stats")
    inputs, normalised = {}, {}
    for key in INPUTS:
        inputs[key], normalised[key] = image_input(shapes[key], band_names=names[key], band_stats=stats[key],
                                                   name=key, prefix_normalization=True)
    ms_skips, ms_centre = _encoder(normalised["multispectral"], depth, filters, name="multispectral_encoder")
    mv_skips, mv_centre = _encoder(normalised["multiview"], depth, filters, name="multiview_encoder")
    both = keras.layers.Concatenate(name="bottleneck_concat")([mv_centre, ms_centre])

    mv_logits = _decoder(both, mv_skips, filters, name="multiview_height_decoder")
    ms_logits = _decoder(ms_centre, ms_skips, filters, name="multispectral_height_decoder")
    seg_logits = _decoder(ms_centre, ms_skips, filters, name="building_decoder", channels=n_outputs)
    fused = keras.layers.Concatenate(name="fusion_concat")([mv_logits, ms_logits, seg_logits])
    fused = keras.layers.Conv2D(1, 1, name="fusion_logits")(fused)

    heights = {"height": fused, "height_multiview": mv_logits, "height_multispectral": ms_logits}
    outputs = {key: TaskOutput("regression", name=key)(tensor) for key, tensor in heights.items()}
    outputs["building"] = TaskOutput(spec.name, class_names=class_names, name="building")(seg_logits)
    return load_model_weights(keras.Model(inputs, outputs, name=name or "m3net"), weights)
