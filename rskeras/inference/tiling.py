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

Tile size (:func:`choose_tile`), checked before any work. A model with a fixed
input size takes tiles of exactly that size; any other ``tile_size`` is refused.
A model that takes any size needs tiles that are a multiple of its downsampling
(``multiple``, see :mod:`rskeras.inference.model_probe`): a ``tile_size`` that is
not is rounded up to the next multiple, with a note. A tile at least as large as
the scene (with its mirrored margin ``overlap // 2`` when an overlap is given)
becomes the one tile that covers it: the scene's longer side plus the margins,
rounded up to the multiple; without an overlap given, it has none. The default
tile is 256 px. The default overlap of dense models is a quarter of the tile,
rounded down to a multiple of ``2 * multiple`` so that every tile starts on the
model's pooling grid (``pad`` and ``stride`` are multiples of ``multiple``); a
given overlap is rounded up likewise (down if that would reach the tile), with a
note. Patch models have no overlap by default and take a given one as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

BLEND_FLOOR = 1e-6  # weight within overlap / 4 of a tile's edge, relative to the centre's 1
DEFAULT_TILE = 256  # tile side for models that take any spatial size


@dataclass(frozen=True)
class TileChoice:
    """The tiles of a prediction: ``tile`` and ``overlap`` in pixels, and notes on what changed."""

    tile: int
    overlap: int
    notes: tuple[str, ...] = field(default=())


def round_up(n: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is at least ``n``."""
    return -(-n // multiple) * multiple


def choose_tile(
    height: int,
    width: int,
    *,
    kind: str,
    multiple: int = 1,
    fixed: int | None = None,
    tile_size: int | None = None,
    overlap: int | None = None,
) -> TileChoice:
    """The tile and overlap for a ``height x width`` scene (see the module's rules).

    Args:
        kind: ``"dense"`` (overlapping tiles, blended) or ``"patch"``.
        multiple: tile sizes the model takes are multiples of this.
        fixed: the model's fixed input size, or None when it takes any size.
        tile_size, overlap: what the caller asked for, or None for the defaults.

    Raises:
        ValueError naming ``tile_size`` or ``overlap`` and the values that work.
    """
    check_count("tile_size", tile_size, 1)
    check_count("overlap", overlap, 0)
    notes: list[str] = []
    step = 2 * multiple if kind == "dense" and multiple > 1 else 1  # overlaps that keep tiles on the grid
    side = max(height, width)
    if fixed is None and (tile_size or DEFAULT_TILE) >= side + 2 * ((overlap or 0) // 2):
        overlap = _aligned(overlap or 0, step, None, notes)
        tile = round_up(side + 2 * (overlap // 2), multiple)
        if tile_size is not None and tile != tile_size:
            notes.append(f"tile_size {tile_size} is larger than the {width} x {height} scene: one tile of "
                         f"{tile} px covers it")
        return TileChoice(tile, overlap, tuple(notes))
    if fixed is not None:
        tile = _fixed_tile(fixed, tile_size, multiple)
    else:
        tile = round_up(tile_size or DEFAULT_TILE, multiple)
        if tile_size is not None and tile != tile_size:
            notes.append(f"tile_size {tile_size} is not a multiple of {multiple}, which the model's downsampling "
                         f"needs: rounded up to {tile}")
    if overlap is None:
        overlap = _default_overlap(kind, tile, step)
    elif overlap >= tile:
        raise ValueError(
            f"overlap={overlap} must be smaller than the tile ({tile} px): neighbouring tiles overlap by "
            f"0 to {tile - 1} px (default {'a quarter of the tile' if kind == 'dense' else '0'})"
        )
    else:
        overlap = _aligned(overlap, step, tile, notes)
    return TileChoice(tile, overlap, tuple(notes))


def check_count(name: str, value: int | None, minimum: int, unit: str = "pixels") -> None:
    """ValueError naming option ``name`` unless ``value`` is None or a whole number >= ``minimum``."""
    if value is None:
        return
    of_unit, in_unit = (f" of {unit}", f" {unit}") if unit else ("", "")
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a whole number{of_unit}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be {minimum} or more{in_unit}, got {value}")


def _fixed_tile(fixed: int, tile_size: int | None, multiple: int) -> int:
    """The fixed input size, or a ValueError when another ``tile_size`` was asked for."""
    if tile_size is not None and tile_size != fixed:
        grid = f", a multiple of its downsampling by {multiple}" if multiple > 1 else ""
        raise ValueError(
            f"tile_size={tile_size} but the model takes {fixed} x {fixed} tiles only (its fixed input size{grid}); "
            f"leave tile_size unset or give {fixed}"
        )
    return fixed


def _default_overlap(kind: str, tile: int, step: int) -> int:
    """A quarter of a dense model's tile on the grid of ``step``; 0 for patch models."""
    if kind != "dense":
        return 0
    overlap = tile // 4 // step * step
    return overlap if overlap or step >= tile else step


def _aligned(overlap: int, step: int, tile: int | None, notes: list[str]) -> int:
    """``overlap`` rounded up to a multiple of ``step`` (down where that reaches ``tile``), noted."""
    aligned = round_up(overlap, step)
    if tile is not None and aligned >= tile:
        aligned = overlap // step * step
    if aligned != overlap:
        notes.append(f"overlap {overlap} changed to {aligned}, a multiple of {step}, so that every tile starts on "
                     "the model's pooling grid")
    return aligned


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
