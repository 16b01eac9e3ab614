"""Sliding tiles for patch and dense models: layout, reflect padding and blending weights.

No TensorFlow here. Along each axis of a scene of ``n`` pixels, tiles of ``tile``
pixels start every ``stride = tile - overlap`` pixels from ``-pad`` (``pad =
overlap // 2``), until the last tile reaches at least ``pad`` pixels past the
scene's end. Pixels outside the scene are filled by mirror reflection about the
scene's first and last pixel (numpy's ``"reflect"``), repeated as often as needed
so any scene size, even one smaller than a tile, works.

Blending (dense models): each tile's prediction is weighted by
``w(y, x) = h(y) * h(x)`` with the 1-D profile ``h`` of :func:`blend_profile`:
``floor`` within ``overlap / 4`` of the tile's edge, a ``sin^2`` ramp from there
to ``3 * overlap / 4``, and 1 inside. In an overlap of two neighbouring tiles the
two ramps add up to 1 (a partition of unity), the weights are smooth (no seams)
and never zero, and a pixel only takes a noticeable weight from tiles where it
lies at least ``overlap / 4`` from the tile's edge, i.e. where a fully
convolutional model whose receptive field reaches at most ``overlap / 4`` pixels
sees the same context as in a whole-image prediction.
"""

from __future__ import annotations

import math

import numpy as np

BLEND_FLOOR = 1e-6  # weight within overlap / 4 of a tile's edge, relative to the centre's 1


def reflect_index(index: np.ndarray, n: int) -> np.ndarray:
    """Map pixel indices (any integers) into ``[0, n)`` by mirror reflection (edge not repeated)."""
    index = np.asarray(index)
    if n == 1:
        return np.zeros_like(index)
    period = 2 * (n - 1)
    folded = np.mod(index, period)
    return np.where(folded < n, folded, period - folded)


def tile_origins(n: int, tile: int, overlap: int) -> np.ndarray:
    """Start of every tile along an axis of ``n`` pixels (see the module's layout)."""
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile_size >= 1 and 0 <= overlap < tile_size, got tile_size={tile}, overlap={overlap}")
    stride, pad = tile - overlap, overlap // 2
    count = max(1, math.ceil((n + 2 * pad - tile) / stride) + 1)
    return -pad + stride * np.arange(count)


def blend_profile(tile: int, overlap: int, floor: float = BLEND_FLOOR) -> np.ndarray:
    """The 1-D blending weight ``h`` of a tile, ``(tile,)`` float64 in ``[floor, 1]``."""
    distance = np.minimum(np.arange(tile), np.arange(tile)[::-1]) + 0.5  # to the nearer edge, in pixels
    if overlap == 0:
        return np.ones(tile)
    ramp = np.clip((distance - overlap / 4) / (overlap / 2), 0.0, 1.0)
    return np.maximum(np.sin(0.5 * np.pi * ramp) ** 2, floor)


def blend_weights(tile: int, overlap: int, floor: float = BLEND_FLOOR) -> np.ndarray:
    """The 2-D blending weight ``h(y) * h(x)``, ``(tile, tile)`` float32."""
    h = blend_profile(tile, overlap, floor)
    return np.outer(h, h).astype(np.float32)


def cut_tiles(strip: np.ndarray, starts: np.ndarray, tile: int) -> np.ndarray:
    """Square tiles from a strip: ``(bands, tile, width)`` -> ``(len(starts), tile, tile, bands)`` float32.

    ``starts`` are column offsets into the strip.
    """
    channels_last = np.moveaxis(strip, 0, -1)
    return np.stack([channels_last[:, s:s + tile] for s in starts]).astype(np.float32, copy=False)
