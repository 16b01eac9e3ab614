"""Input rasters of a prediction: opened and their bands chosen by the raster layer, alignment, masked reads.

No TensorFlow here. Rasters are opened with :func:`rskeras.data.rasters.open_raster`
and their bands chosen by :func:`rskeras.data.rasters.match_model_bands`: the
caller's ``bands=``, else the model's band names matched with the raster's band
descriptions or a sensor's band names, else all bands in file order.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
from rasterio.io import DatasetReaderBase
from rasterio.windows import Window

from rskeras.data.rasters import (
    Masking,
    bands_dtype,
    mask_kind,
    match_model_bands,
    open_raster,
    read_bands,
    valid_pixels,
)
from rskeras.data.sensors import SensorSpec
from rskeras.inference.stages import GDAL_LOCK, StageTimes
from rskeras.inference.tiling import reflect_index


@dataclass
class Source:
    """One opened input raster and the bands the model reads from it.

    Attributes:
        path: the raster's path.
        dataset: the open rasterio dataset.
        indexes: 1-based band numbers, in the model's input order.
        band_names: their names (descriptions, sensor names or ``band_<i>``).
        nodata: an extra value to treat as nodata (besides the raster's own nodata,
            its masks and NaN), or None.
    """

    path: Path
    dataset: DatasetReaderBase
    indexes: list[int]
    band_names: list[str]
    nodata: float | None = None
    masks: Masking = field(init=False)  # how the raster marks invalid pixels
    dtype: np.dtype = field(init=False)  # the selected bands' values are read as this (a VRT's may differ)

    def __post_init__(self) -> None:
        self.masks = mask_kind(self.dataset)
        self.dtype = bands_dtype(self.dataset, self.indexes)

    def read(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read the selected bands in ``window``.

        Returns:
            ``(values, invalid)``: values ``(bands, h, w)`` float32 and invalid
            ``(h, w)`` bool, True where any selected band is nodata (the raster's
            nodata value, its per-band or dataset mask, ``self.nodata``) or NaN
            (:func:`rskeras.data.rasters.valid_pixels`: mask bands are read only
            for rasters that have them).
        """
        values = np.empty((len(self.indexes), int(window.height), int(window.width)), self.dtype)
        invalid = self._read_into(values, window)
        return values.astype(np.float32, copy=False), invalid

    def read_pixels(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """Read the selected bands in ``window`` pixel by pixel, as a pixel model takes them.

        GDAL writes the values pixel-interleaved (each pixel's bands side by side), so no transpose follows.

        Returns:
            ``(values, invalid)``: values ``(h * w, bands)`` as :attr:`dtype` (row-major pixels), and
            invalid ``(h, w)`` bool as in :meth:`read`.
        """
        h, w = int(window.height), int(window.width)
        values = np.empty((h, w, len(self.indexes)), self.dtype)
        invalid = self._read_into(values.transpose(2, 0, 1), window)  # GDAL fills ``values`` through the view
        return values.reshape(h * w, -1), invalid

    def _read_into(self, out: np.ndarray, window: Window) -> np.ndarray:
        """Read the selected bands in ``window`` into ``out`` ``(bands, h, w)`` (any strides) and return the
        ``(h, w)`` invalid mask of :meth:`read`."""
        with GDAL_LOCK:  # valid_pixels reads mask bands for rasters that have them
            read_bands(self.dataset, self.indexes, window, out)
            invalid = ~valid_pixels(self.dataset, self.indexes, out, window, self.masks)
        if self.nodata is not None:
            invalid |= (out.astype(np.float32, copy=False) == np.float32(self.nodata)).any(axis=0)
        return invalid

    def sample(self, size: int = 32, per_side: int = 4) -> np.ndarray:
        """A cheap look at the scene's values: ``per_side`` x ``per_side`` windows of ``size`` px spread
        evenly over the raster, corners included, read with :meth:`read` (16 reads of 32 x 32 px by default).

        Returns:
            ``(n_pixels, bands)`` float32, NaN where a pixel is invalid (at most ``per_side**2 * size**2`` rows).
        """
        ds = self.dataset
        rows = np.unique(np.linspace(0, max(ds.height - size, 0), per_side).astype(int))
        cols = np.unique(np.linspace(0, max(ds.width - size, 0), per_side).astype(int))
        parts = []
        for row in rows:
            for col in cols:
                values, invalid = self.read(Window(col, row, min(size, ds.width - col), min(size, ds.height - row)))
                values[:, invalid] = np.nan
                parts.append(values.reshape(len(values), -1).T)
        return np.concatenate(parts)

    def read_reflected(
        self, row0: int, n_rows: int, cols: np.ndarray, fill: np.ndarray, times: StageTimes,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``row0 .. row0 + n_rows`` at columns ``cols``, reflected where outside the raster.

        Reads only the scene rows the reflected rows map to, all columns (stage ``"read"`` of ``times``).
        ``cols`` are absolute column indices (may be negative or past the edge).
        Nodata pixels are replaced by ``fill`` (``(bands,)``) before reflection (stage ``"pad"``).

        Returns:
            ``(values, invalid)``: ``(bands, n_rows, len(cols))`` float32 and
            ``(n_rows, len(cols))`` bool.
        """
        ds = self.dataset
        rows = reflect_index(np.arange(row0, row0 + n_rows), ds.height)
        first, last = int(rows.min()), int(rows.max())
        with times("read"):
            values, invalid = self.read(Window(0, first, ds.width, last - first + 1))
        with times("pad"):
            if invalid.any():
                np.copyto(values, fill.astype(np.float32)[:, None, None], where=invalid[None])
            rows, cols = rows - first, reflect_index(cols, ds.width)
            if not np.array_equal(rows, np.arange(len(values[0]))):  # reflected at the top or bottom
                values, invalid = values[:, rows], invalid[rows]
            return np.take(values, cols, axis=2), np.take(invalid, cols, axis=1)


def open_sources(
    stack: contextlib.ExitStack,
    paths: Sequence[Path],
    model_bands: Sequence[Sequence[str] | None],
    n_bands: Sequence[int | None],
    bands: Sequence[Sequence[int | str] | None],
    sensors: Sequence[str | SensorSpec | None],
    nodata: float | None = None,
) -> list[Source]:
    """Open one raster per model input (closed with ``stack``) and choose the bands feeding it.

    Args:
        model_bands, n_bands: per input, the band names the model carries and its band count.
        bands, sensors: per input, the caller's band selection and sensor (None for the default).
        nodata: an extra input value to treat as nodata.

    Bands follow :func:`rskeras.data.rasters.match_model_bands`; the rasters must be aligned.
    """
    sources = []
    for path, names, count, chosen, sensor in zip(paths, model_bands, n_bands, bands, sensors):
        ds = stack.enter_context(open_raster(path))
        indexes, selected = match_model_bands(ds, names, count, chosen, sensor)
        sources.append(Source(path, ds, indexes, selected, nodata))
    check_aligned(sources)
    return sources


def check_aligned(sources: Sequence[Source]) -> None:
    """Raise ``ValueError`` unless all sources share CRS, transform and size."""
    first = sources[0].dataset
    for src in sources[1:]:
        ds = src.dataset
        for what, a, b in (
            ("CRS", first.crs, ds.crs),
            ("transform", first.transform, ds.transform),
            ("size (width, height)", (first.width, first.height), (ds.width, ds.height)),
        ):
            if a != b:
                raise ValueError(
                    f"input rasters are not aligned: {sources[0].path} and {src.path} differ in {what} "
                    f"({a} vs {b}); resample one onto the other's grid first"
                )
