"""Checks before work: the window, tile, overlap and batch of a prediction, and the memory they need.

Everything here is decided from the arguments, the model's graph
(:mod:`rskeras.inference.model_probe`) and the rasters' sizes, before the first
pixel is read or an output created. Tile sizes follow
:func:`rskeras.inference.tiling.choose_tile`; batch sizes and memory
:func:`rskeras.inference.memory.fit_batch`.

Memory needed by a prediction, in bytes, is estimated as the sum of

- the model's activations for one call (:meth:`ModelProbe.activation_bytes`) on
  the items one call can hold: the batch, capped by the tiles of one row of tiles
  (dense, patch) or the pixels of one window (pixel models);
- the numpy buffers alive at once: per input band the strip of one row of tiles
  read, filled and reflected (3 copies, and one more strip read ahead) and the tiles
  cut from three rows (:mod:`rskeras.inference.stages`: one in use, one waiting,
  one being cut), and per output band the predicted tiles of three rows (one being
  predicted, one waiting for the blending thread, one being blended), the blending
  sums and the finished rows of three steps (one being written, one waiting for the
  writer thread, one being made; 4 copies) plus the blending weights; for pixel models five windows of input
  bands (read, gathered, and the vectors of the windows waiting and in use) and
  five of outputs;
- GDAL's block cache (:func:`rskeras.inference.writer.block_cache_mib`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rskeras.inference.memory import available_memory, fit_batch, parse_size
from rskeras.inference.model_probe import ModelProbe
from rskeras.inference.sources import Source
from rskeras.inference.tiling import check_count, choose_tile, tile_origins
from rskeras.inference.writer import TILE, OutputSpec, block_cache_mib

DEFAULT_WINDOW = 512  # window side of pixel models, pixels
#: Pixels per call of a pixel model: the benchmark's ANN took 2.25 s for 16.8 M pixels at 262,144 a call against
#: 2.51 s at 65,536 (XLA; benchmarks/results/inference.json, "ceiling_variants_seconds").
DEFAULT_PIXEL_BATCH = 2**18
TILE_BATCH_PIXELS = 2**19  # default tiles per call of patch and dense models: this many pixels


@dataclass(frozen=True)
class WorkPlan:
    """How a prediction runs.

    Attributes:
        kind: ``"pixel"``, ``"patch"`` or ``"dense"``.
        batch: items per model call: pixels, or tiles.
        window: the window side of pixel models (None otherwise).
        tile, overlap: the tiles of patch and dense models (None for pixel models).
        cache_mib: GDAL's block cache for the run.
        notes: what was changed from the arguments, one sentence each.
    """

    kind: str
    batch: int
    window: int | None
    tile: int | None
    overlap: int | None
    cache_mib: int
    notes: tuple[str, ...]


def plan_work(
    kind: str,
    probe: ModelProbe,
    input_shape: tuple,
    sources: Sequence[Source],
    specs: Sequence[OutputSpec],
    *,
    tile_size: int | None = None,
    overlap: int | None = None,
    batch_size: int | None = None,
    window_size: int | None = None,
    max_memory: int | str | None = None,
) -> WorkPlan:
    """Choose and check the work of a prediction (see the module's docstring).

    Args:
        kind: ``"pixel"``, ``"patch"`` or ``"dense"``.
        probe: the model's tile multiple and activation memory (:mod:`rskeras.inference.model_probe`).
        input_shape: the shape of the model's (first) input without the batch axis.

    Raises:
        ValueError naming the option at fault (``tile_size``, ``overlap``, ``batch_size``,
        ``window_size``) with the values that work, or the memory it would need.
    """
    check_count("batch_size", batch_size, 1, unit="")
    if max_memory is not None:
        budget, where = parse_size(max_memory), "max_memory"
    else:
        budget, where = available_memory()
    if kind == "pixel":
        return _pixel_plan(probe, sources, specs, window_size, batch_size, budget, where)
    return _tile_plan(kind, probe, input_shape, sources, specs, tile_size, overlap, batch_size, budget, where)


def _pixel_plan(
    probe: ModelProbe, sources: Sequence[Source], specs: Sequence[OutputSpec], window_size: int | None,
    batch_size: int | None, budget: int, where: str,
) -> WorkPlan:
    """Window and batch of a pixel model."""
    check_count("window_size", window_size, 1)
    ds = sources[0].dataset
    window = min(window_size or DEFAULT_WINDOW, max(ds.height, ds.width))
    n_in, n_out = _band_counts(sources, specs)

    def estimate(side: int, batch: int) -> int:  # every call gets ``batch`` pixels, whatever the window
        buffers = side * side * 4 * (5 * n_in + 5 * n_out) + batch * 4 * (2 * n_in + 2 * n_out)
        return probe.activation_bytes(1, batch) + buffers + _cache_bytes(side, sources, specs)

    default = min(DEFAULT_PIXEL_BATCH, ds.height * ds.width)  # a small scene: one call of its own size
    batch, notes = fit_batch(estimate, window, batch_size or default, batch_given=batch_size is not None,
                             tile_given=window_size is not None, multiple=1, budget=budget, where=where,
                             names=("window_size", "batch_size"))
    return WorkPlan("pixel", batch, window, None, None, _cache_mib(window, sources, specs), tuple(notes))


def _tile_plan(
    kind: str, probe: ModelProbe, input_shape: tuple, sources: Sequence[Source], specs: Sequence[OutputSpec],
    tile_size: int | None, overlap: int | None, batch_size: int | None, budget: int, where: str,
) -> WorkPlan:
    """Tile, overlap and batch of a patch or dense model."""
    ds = sources[0].dataset
    fixed = fixed_tile_size(input_shape)
    choice = choose_tile(ds.height, ds.width, kind=kind, multiple=probe.multiple, fixed=fixed,
                         tile_size=tile_size, overlap=overlap)
    n_in, n_out = _band_counts(sources, specs)

    def estimate(tile: int, batch: int) -> int:
        cut = min(choice.overlap, tile - 1)
        per_row = len(tile_origins(ds.width, tile, cut)) if kind == "dense" else math.ceil(ds.width / (tile - cut))
        strip = tile * (ds.width + tile) * 4 * (4 * n_in + 4 * n_out + 1)
        tiles = 3 * per_row * tile * tile * (n_in + n_out) * 4
        return (probe.activation_bytes(tile, min(batch, per_row)) + strip + tiles
                + _cache_bytes(tile, sources, specs))

    default = max(1, TILE_BATCH_PIXELS // (choice.tile * choice.tile))
    batch, notes = fit_batch(estimate, choice.tile, batch_size or default, batch_given=batch_size is not None,
                             tile_given=tile_size is not None, multiple=0 if fixed else probe.multiple,
                             budget=budget, where=where)
    cache = _cache_mib(choice.tile, sources, specs)
    notes += _context_note(kind, probe, choice.tile, tile_size, max(ds.height, ds.width))
    return WorkPlan(kind, batch, None, choice.tile, choice.overlap, cache, choice.notes + tuple(notes))


def _context_note(kind: str, probe: ModelProbe, tile: int, tile_size: int | None, side: int) -> list[str]:
    """A note when a dense model's tiles, asked for by the caller, are narrower than its receptive field."""
    field = 2 * probe.receptive_radius + 1
    if kind != "dense" or tile_size is None or tile >= side or tile >= field:
        return []
    return [f"tiles of {tile} px are narrower than the model's receptive field ({field:.0f} px): predictions near "
            "tile edges see less context than in whole-image prediction; larger tiles match it more closely"]


def fixed_tile_size(input_shape: tuple) -> int | None:
    """The side of the square tiles a model with input ``(H, W, C)`` needs, or None when it takes any size."""
    height, width = input_shape[0], input_shape[1]
    if height is None and width is None:
        return None
    if height != width:
        raise ValueError(f"predict_raster cuts square tiles; the model's input is {height}x{width}")
    return int(height)


def _band_counts(sources: Sequence[Source], specs: Sequence[OutputSpec]) -> tuple[int, int]:
    """Input bands read and output bands written."""
    return sum(len(s.indexes) for s in sources), sum(spec.count for spec in specs)


def _cache_mib(rows: int, sources: Sequence[Source], specs: Sequence[OutputSpec]) -> int:
    """GDAL's block cache for strips of ``rows`` rows (and a row of internal tiles) of every raster."""
    strip = rows + TILE
    width = sources[0].dataset.width
    return block_cache_mib(
        [(strip, s.dataset.width, len(s.indexes), s.dataset.dtypes[0]) for s in sources]
        + [(strip, width, spec.count, spec.dtype) for spec in specs]
    )


def _cache_bytes(rows: int, sources: Sequence[Source], specs: Sequence[OutputSpec]) -> int:
    return _cache_mib(rows, sources, specs) * 2**20

