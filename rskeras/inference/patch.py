"""Patch classifiers over a scene: one prediction per cell of a grid.

The scene is cut into cells of ``stride = tile - overlap`` pixels; each cell is
predicted from the ``tile x tile`` patch centred on it (with ``overlap = 0`` the
patches are the cells themselves), reflected at the scene's edges, nodata filled
as for dense models (see :mod:`rskeras.inference.dense`). Two layouts:

- ``"coarse"``: one output pixel per cell; the output's transform is the
  source's scaled by ``stride`` and its size ``ceil(height / stride) x
  ceil(width / stride)``. A cell is nodata when at least half of its scene
  pixels are nodata.
- ``"pixel"``: the source's grid; every pixel takes its cell's prediction and
  nodata input pixels stay nodata.

Memory: a row of patches at a time (cut one row ahead in a reader thread,
:mod:`rskeras.inference.stages`), predicted ``batch_size`` patches per call.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from functools import partial

import numpy as np
from rasterio.windows import Window
from tqdm.auto import tqdm

from rskeras.inference.outputs import OutputPlan
from rskeras.inference.model_spec import Runner
from rskeras.inference.sources import Source
from rskeras.inference.stages import StageTimes, prefetched, run_behind
from rskeras.inference.tiling import cut_tiles
from rskeras.inference.writer import GeoTIFFOutputs

LAYOUTS = ("coarse", "pixel")


def patch_grid(height: int, width: int, tile: int, overlap: int) -> tuple[int, int, int]:
    """``(stride, rows, columns)`` of the cell grid over a ``height x width`` scene."""
    if tile < 1 or not 0 <= overlap < tile:
        raise ValueError(f"need tile_size >= 1 and 0 <= overlap < tile_size, got tile_size={tile}, overlap={overlap}")
    stride = tile - overlap
    return stride, math.ceil(height / stride), math.ceil(width / stride)


def predict_patches(
    runner: Runner,
    sources: list[Source],
    fills: list[np.ndarray],
    plan: OutputPlan,
    outputs: GeoTIFFOutputs,
    tile: int,
    overlap: int,
    batch_size: int,
    layout: str,
    progress: bool,
    times: StageTimes,
) -> tuple[int, int]:
    """Predict every cell of the aligned ``sources`` with a patch model and write ``plan``'s outputs.

    The rows of patches are read and cut one row ahead in a thread and written in another
    (:mod:`rskeras.inference.stages`);
    ``times`` adds up the seconds of each stage.

    Returns:
        ``(n_pixels, n_nodata)``: valid and nodata input pixels.
    """
    ds = sources[0].dataset
    height, width = ds.height, ds.width
    stride, n_rows, n_cols = patch_grid(height, width, tile, overlap)
    pad = overlap // 2
    offsets = np.arange(n_cols) * stride
    n_valid = n_nodata = 0
    bar = tqdm(range(n_rows), desc="predict", unit="row of patches", disable=not progress)
    with (prefetched(_patch_rows(sources, fills, bar, stride, tile, pad, n_cols, times)) as rows,
          run_behind(partial(plan.write, outputs), times, "write") as write):
        for i, patches, invalid in rows:
            with times("predict"):
                pred = runner(patches, batch_size).reshape(n_cols, plan.n_channels)
            top = i * stride
            with times("blend"):
                n = min(stride, height - top)  # scene rows of this row of cells
                cell_invalid = invalid[pad:pad + n, pad:pad + width]  # (n, width), the scene pixels of the cells
                n_nodata += int(cell_invalid.sum())
                n_valid += int(cell_invalid.size - cell_invalid.sum())
                if layout == "coarse":
                    padded = np.zeros((n, n_cols * stride), bool)
                    padded[:, :width] = cell_invalid
                    counts = padded.reshape(n, n_cols, stride).sum(axis=(0, 2))
                    sizes = n * np.minimum(stride, width - offsets)
                    values, mask, window = pred.T[:, None, :], (counts * 2 >= sizes)[None], Window(0, i, n_cols, 1)
                else:
                    values = np.repeat(pred.T, stride, axis=1)[:, None, :width].repeat(n, axis=1)
                    mask, window = cell_invalid, Window(0, top, width, n)
            write(values, mask, window)
    return n_valid, n_nodata


def _patch_rows(
    sources: list[Source], fills: list[np.ndarray], rows: Iterable[int], stride: int, tile: int, pad: int,
    n_cols: int, times: StageTimes,
) -> Iterator[tuple[int, list[np.ndarray], np.ndarray]]:
    """Per row ``i`` of cells: ``i``, per input its patches ``(n_cols, tile, tile, bands)`` float32, and the
    invalid mask ``(tile, padded width)`` of the strip they were cut from."""
    columns = np.arange(-pad, (n_cols - 1) * stride - pad + tile)
    offsets = np.arange(n_cols) * stride
    for i in rows:
        reads = [src.read_reflected(i * stride - pad, tile, columns, fill, times) for src, fill in zip(sources, fills)]
        with times("pad"):
            patches = [cut_tiles(values, offsets, tile) for values, _ in reads]
            invalid = np.logical_or.reduce([inv for _, inv in reads])
        yield i, patches, invalid
