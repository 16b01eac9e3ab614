"""Dense (fully convolutional) models over a scene: overlapping tiles, smoothly blended.

Layout and weights are those of :mod:`rskeras.inference.tiling`. Memory scheme:
the scene is processed one *row of tiles* at a time. For tile row ``k`` (rows
``y .. y + tile`` of the padded scene) the input strip is read (reflected at the
scene's edges, nodata filled) and cut into tiles, one row ahead in a reader thread
(:mod:`rskeras.inference.stages`), then predicted ``batch_size`` tiles at
a time and accumulated, weighted, in a blending thread into two buffers that
span just the strip: ``sums`` ``(n_outputs, tile, padded width)`` and
``weights`` ``(tile, padded width)``. No later tile touches the first ``stride`` rows of the strip, so they
are final: divided by their weights, then masked and written in a writer
thread, and the buffers shift up by ``stride`` rows. Memory therefore grows with
the scene's width times the tile size, never with its height, and a whole-row
write per strip suits the tiled GeoTIFF output.

Nodata is masked in and out: nodata input pixels are filled with the model's
normalisation mean for their band (so they enter the network as 0 after its
``BandNormalization``; 0 for a model without statistics), and are written as
nodata in every output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
from rasterio.windows import Window
from tqdm.auto import tqdm

from rskeras.inference.outputs import OutputPlan
from rskeras.inference.model_spec import Runner
from rskeras.inference.sources import Source
from rskeras.inference.stages import StageTimes, prefetched, run_behind
from rskeras.inference.tiling import blend_weights, cut_tiles, tile_origins
from rskeras.inference.writer import GeoTIFFOutputs


def predict_dense(
    runner: Runner,
    sources: list[Source],
    fills: list[np.ndarray],
    plan: OutputPlan,
    outputs: GeoTIFFOutputs,
    tile: int,
    overlap: int,
    batch_size: int,
    progress: bool,
    times: StageTimes,
) -> tuple[int, int]:
    """Predict the aligned ``sources`` with a dense model and write ``plan``'s outputs.

    The caller's thread only predicts: the rows of tiles are read and cut one row ahead in a reader thread,
    blended in a blending thread and written in a writer thread (:mod:`rskeras.inference.stages`).

    Args:
        fills: per source, the ``(bands,)`` values that replace nodata pixels.
        tile, overlap: tile side and overlap of neighbouring tiles, in pixels.
        batch_size: tiles per model call.
        times: adds up the seconds of each stage.

    Returns:
        ``(n_pixels, n_nodata)``: pixels predicted and pixels left nodata.
    """
    ds = sources[0].dataset
    row_starts = tile_origins(ds.height, tile, overlap)
    strip = _BlendedStrip(ds.width, ds.height, tile, overlap, plan.n_channels)
    bar = tqdm(total=len(row_starts) * len(strip.offsets), desc="predict", unit="tile", disable=not progress)
    with (bar, prefetched(_tile_rows(sources, fills, row_starts, strip, times)) as rows,
          run_behind(partial(plan.write, outputs), times, "write") as write,
          run_behind(partial(strip.add_row, write), times, "blend") as blend):
        for k, (top, tiles, invalid) in enumerate(rows):
            with times("predict"):  # a call per batch: the blending takes the parts (no copy into one array)
                preds = [runner([x[start:start + batch_size] for x in tiles], batch_size)
                         for start in range(0, len(tiles[0]), batch_size)]
            if preds[0].shape[1:3] != (tile, tile):
                raise ValueError(
                    f"the dense model maps {tile}x{tile} tiles to {preds[0].shape[1]}x{preds[0].shape[2]} outputs; "
                    "predict_raster needs outputs the size of their input tiles"
                )
            blend(top, preds, invalid, k == len(row_starts) - 1)
            bar.update(len(tiles[0]))
    return strip.n_valid, strip.n_nodata


def _tile_rows(
    sources: list[Source], fills: list[np.ndarray], row_starts: np.ndarray, strip: _BlendedStrip, times: StageTimes,
) -> Iterator[tuple[int, list[np.ndarray], np.ndarray]]:
    """Per row of tiles: its top scene row, per input its tiles ``(n, tile, tile, bands)`` float32, and the
    strip's invalid mask ``(tile, padded width)``."""
    tile = strip.tile
    for top in (int(r) for r in row_starts):
        reads = [src.read_reflected(top, tile, strip.columns, fill, times) for src, fill in zip(sources, fills)]
        with times("pad"):
            tiles = [cut_tiles(values, strip.offsets, tile) for values, _ in reads]
            invalid = np.logical_or.reduce([inv for _, inv in reads])
        yield top, tiles, invalid


class _BlendedStrip:
    """The weighted sums of one row of tiles across the padded scene's width.

    ``sums`` ``(n_outputs, tile, padded width)`` and ``weights`` ``(tile, padded
    width)``; padded column 0 is scene column ``left`` (<= 0). ``n_valid`` and
    ``n_nodata`` count the scene pixels handed on so far.
    """

    def __init__(self, width: int, height: int, tile: int, overlap: int, n_outputs: int):
        col_starts = tile_origins(width, tile, overlap)
        self.tile, self.stride, self.width, self.height = tile, tile - overlap, width, height
        self.left = int(col_starts[0])
        self.columns = np.arange(self.left, int(col_starts[-1]) + tile)
        self.offsets = col_starts - self.left
        self.weight = blend_weights(tile, overlap)
        self.sums = np.zeros((n_outputs, tile, len(self.columns)), np.float32)
        self.weights = np.zeros((tile, len(self.columns)), np.float32)
        self.n_valid = self.n_nodata = 0

    def add_row(self, write: Callable[[np.ndarray, np.ndarray, Window], None], top: int, preds: list[np.ndarray],
                invalid: np.ndarray, last: bool) -> None:
        """Add the predictions of the row of tiles starting at scene row ``top`` (``preds``: consecutive parts
        ``(k, tile, tile, n_outputs)`` of the row's tiles), hand the rows no later tile touches (all rows of the
        ``last`` row of tiles) to ``write`` as ``(values (n_outputs, rows, width), nodata mask (rows, width),
        window)``, and shift up."""
        tile = self.tile
        weighted = np.empty((preds[0].shape[-1], tile, tile), np.float32)  # one tile, channels first: stays in cache
        for offset, pred in zip(self.offsets, (p for part in preds for p in part)):
            np.multiply(np.moveaxis(pred, -1, 0), self.weight, out=weighted)
            self.sums[:, :, offset:offset + tile] += weighted
            self.weights[:, offset:offset + tile] += self.weight
        first_row, last_row = max(top, 0), min(top + (tile if last else self.stride), self.height)
        if last_row > first_row:
            rows = slice(first_row - top, last_row - top)
            cols = slice(-self.left, -self.left + self.width)
            mask = invalid[rows, cols]
            write(self.sums[:, rows, cols] / self.weights[rows, cols], mask,
                  Window(0, first_row, self.width, last_row - first_row))
            self.n_nodata += int(mask.sum())
            self.n_valid += int(mask.size - mask.sum())
        self._shift()

    def _shift(self) -> None:
        """Move the buffers up by ``stride`` rows for the next row of tiles."""
        keep = self.tile - self.stride
        self.sums[:, :keep] = self.sums[:, self.stride:]
        self.sums[:, keep:] = 0
        self.weights[:keep] = self.weights[self.stride:]
        self.weights[keep:] = 0
