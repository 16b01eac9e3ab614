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

The paper's building segmentation decoder has two softmax channels; here it is
one sigmoid channel ("binary" task), so the fusion sees three maps, not four.
Train it with :class:`rskeras.models.m3net.UncertaintyWeightedModel`::

    network = m3net((400, 400, 4), (400, 400, 3))
    model = UncertaintyWeightedModel(network)       # owns the learned loss weights
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.fit({"multispectral": ms, "multiview": views}, heights_m, epochs=...)
    network.save("m3net.keras")                     # the network alone, for prediction
"""

from __future__ import annotations

from typing import Sequence

import keras

from rskeras.heads import TaskOutput
from rskeras.models.unet.unet_blocks import BandStats, double_conv, image_input

#: The model's outputs: name -> (task, meaning and unit).
OUTPUTS: dict[str, tuple[str, str]] = {
    "height": ("regression", "final fused building height, metres"),
    "height_multiview": ("regression", "building height from the multi-view decoder, metres"),
    "height_multispectral": ("regression", "building height from the multi-spectral decoder, metres"),
    "building": ("binary", "probability that the pixel is a building, 0..1"),
}


def _encoder(x, depth: int, filters: int, name: str):
    skips = []
    for level in range(depth):
        x = double_conv(x, filters * 2**level, batch_norm=True, name=f"{name}_{level + 1}")
        skips.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"{name}_{level + 1}_pool")(x)
    centre = double_conv(x, filters * 2**depth, batch_norm=True, name=f"{name}_centre")
    return skips, centre


def _decoder(x, skips, filters: int, name: str):
    """Transposed-conv up, skip concatenation, two Conv-ReLU per level; returns the 1-channel logits."""
    for level in reversed(range(len(skips))):
        width = filters * 2**level
        x = keras.layers.Conv2DTranspose(width, 2, strides=2, name=f"{name}_{level + 1}_up")(x)
        x = keras.layers.Concatenate(name=f"{name}_{level + 1}_concat")([skips[level], x])
        x = double_conv(x, width, batch_norm=False, name=f"{name}_{level + 1}_conv")
    return keras.layers.Conv2D(1, 1, name=f"{name}_logits")(x)


def m3net(
    multispectral_shape: Sequence[int | None],
    multiview_shape: Sequence[int | None],
    depth: int = 4,
    filters: int = 16,
    multispectral_stats: BandStats | None = None,
    multispectral_band_names: Sequence[str] | None = None,
    multiview_stats: BandStats | None = None,
    multiview_band_names: Sequence[str] | None = None,
    name: str = "m3net",
) -> keras.Model:
    """M3Net (Cao & Huang 2021) for building height from multi-spectral and multi-view images.

    Args:
        multispectral_shape: ``(height, width, bands)`` of the multi-spectral
            image (the paper: B, G, R, NIR).
        multiview_shape: ``(height, width, views)`` of the co-registered
            panchromatic views stacked as channels (the paper: nadir, forward,
            backward). Height and width must equal the multi-spectral ones and be
            multiples of ``2**depth`` (or None).
        depth: pooling steps of each encoder (the paper: 4).
        filters: channels of the first level, doubling per level (the paper: 16).
        multispectral_stats, multiview_stats: ``(mean, std)`` per band for each
            input's in-model normalisation (None: identity).
        multispectral_band_names, multiview_band_names: band names stored in the model.
        name: the model's name.

    Returns:
        An uncompiled model with inputs ``{"multispectral": (batch, H, W, bands),
        "multiview": (batch, H, W, views)}`` (raw values) and float32 outputs,
        each ``(batch, H, W, 1)``:

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
    ms_size, mv_size = tuple(multispectral_shape[:2]), tuple(multiview_shape[:2])
    if ms_size != mv_size:
        raise ValueError(
            f"multispectral {ms_size} and multiview {mv_size} inputs must have the same height and width "
            "(resample the multi-spectral image to the panchromatic grid)"
        )
    if any(s is not None and s % 2**depth for s in ms_size):
        raise ValueError(f"m3net: input height and width must be multiples of {2**depth}, got {ms_size}")
    ms_in, ms = image_input(
        multispectral_shape, multispectral_stats, multispectral_band_names, name="multispectral",
        prefix_normalization=True,
    )
    mv_in, mv = image_input(
        multiview_shape, multiview_stats, multiview_band_names, name="multiview", prefix_normalization=True
    )
    ms_skips, ms_centre = _encoder(ms, depth, filters, name="multispectral_encoder")
    mv_skips, mv_centre = _encoder(mv, depth, filters, name="multiview_encoder")
    both = keras.layers.Concatenate(name="bottleneck_concat")([mv_centre, ms_centre])

    mv_logits = _decoder(both, mv_skips, filters, name="multiview_height_decoder")
    ms_logits = _decoder(ms_centre, ms_skips, filters, name="multispectral_height_decoder")
    seg_logits = _decoder(ms_centre, ms_skips, filters, name="building_decoder")
    fused = keras.layers.Concatenate(name="fusion_concat")([mv_logits, ms_logits, seg_logits])
    fused = keras.layers.Conv2D(1, 1, name="fusion_logits")(fused)

    logits = {
        "height": fused,
        "height_multiview": mv_logits,
        "height_multispectral": ms_logits,
        "building": seg_logits,
    }
    outputs = {key: TaskOutput(OUTPUTS[key][0], name=key)(tensor) for key, tensor in logits.items()}
    return keras.Model({"multispectral": ms_in, "multiview": mv_in}, outputs, name=name)
