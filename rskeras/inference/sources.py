"""Input rasters of a prediction: opening, band selection, alignment and masked reads.

No TensorFlow here. Band selection follows one rule for every model kind:

1. ``bands=`` given: rasterio's 1-based band numbers or band descriptions.
2. Otherwise, when the model stores band names (its ``BandNormalization``) and the
   raster's band descriptions hold all of them, bands are picked by name.
3. Otherwise the raster must have exactly as many bands as the model's input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.windows import Window

from rskeras.inference.tiling import reflect_index


@dataclass
class Source:
    """One opened input raster and the bands the model reads from it.

    Attributes:
        path: the raster's path.
        dataset: the open rasterio dataset.
        indexes: 1-based band numbers, in the model's input order.
        nodata: an extra value to treat as nodata (besides the raster's own nodata,
            its masks and NaN), or None.
    """

    path: Path
    dataset: rasterio.io.DatasetReader
    indexes: list[int]
    nodata: float | None = None

    def read(self, window: Window, boundless: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Read the selected bands in ``window``.

        Returns:
            ``(values, invalid)``: values ``(bands, h, w)`` float32 and invalid
            ``(h, w)`` bool, True where any selected band is nodata (the raster's
            nodata value, its per-band or dataset mask, ``self.nodata``) or NaN.
            With ``boundless`` the window may reach outside the raster; pixels
            outside are invalid.
        """
        ds = self.dataset
        data = ds.read(self.indexes, window=window, masked=True, boundless=boundless)
        values = np.asarray(data.data, dtype=np.float32)
        invalid = np.ma.getmaskarray(data).any(axis=0) | np.isnan(values).any(axis=0)
        if self.nodata is not None:
            invalid |= (values == np.float32(self.nodata)).any(axis=0)
        return values, invalid

    def read_reflected(self, row0: int, n_rows: int, cols: np.ndarray, fill: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows ``row0 .. row0 + n_rows`` at columns ``cols``, reflected where outside the raster.

        Reads only the scene rows the reflected rows map to, all columns.
        ``cols`` are absolute column indices (may be negative or past the edge).
        Nodata pixels are replaced by ``fill`` (``(bands,)``) before reflection.

        Returns:
            ``(values, invalid)``: ``(bands, n_rows, len(cols))`` float32 and
            ``(n_rows, len(cols))`` bool.
        """
        ds = self.dataset
        rows = reflect_index(np.arange(row0, row0 + n_rows), ds.height)
        first, last = int(rows.min()), int(rows.max())
        values, invalid = self.read(Window(0, first, ds.width, last - first + 1))
        np.copyto(values, fill.astype(np.float32)[:, None, None], where=invalid[None])
        rows, cols = rows - first, reflect_index(cols, ds.width)
        return values[np.ix_(np.arange(len(values)), rows, cols)], invalid[np.ix_(rows, cols)]


def open_raster(path: str | os.PathLike) -> rasterio.io.DatasetReader:
    """Open a raster for reading; the error names the path."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input raster {path} does not exist")
    try:
        return rasterio.open(path)
    except RasterioIOError as err:
        raise ValueError(f"cannot open input raster {path} as a raster: {err}") from None


def band_labels(ds: rasterio.io.DatasetReader) -> list[str]:
    """``"1 (red)"``-style labels of every band, for error messages."""
    return [f"{i} ({d})" if d else str(i) for i, d in enumerate(ds.descriptions, start=1)]


def select_bands(
    ds: rasterio.io.DatasetReader,
    path: Path,
    n_model_bands: int | None,
    model_band_names: Sequence[str] | None,
    bands: Sequence[int | str] | None = None,
) -> list[int]:
    """The 1-based band numbers of ``ds`` that feed a model input (see the module's rule).

    Raises:
        ValueError: a band that does not exist (the error lists the raster's bands),
            or a band count that differs from the model's input.
    """
    descriptions = list(ds.descriptions)
    if bands is not None:
        indexes = []
        for band in bands:
            if isinstance(band, (int, np.integer)) and not isinstance(band, bool):
                if not 1 <= int(band) <= ds.count:
                    raise ValueError(
                        f"band {band} does not exist in {path}, which has bands 1..{ds.count} "
                        f"({', '.join(band_labels(ds))}); band numbers are 1-based"
                    )
                indexes.append(int(band))
            elif isinstance(band, str):
                if band not in descriptions:
                    raise ValueError(
                        f"band {band!r} not found in {path}; its bands are {', '.join(band_labels(ds))}"
                    )
                indexes.append(descriptions.index(band) + 1)
            else:
                raise TypeError(f"bands must be band numbers (1-based) or band descriptions, got {band!r}")
        if n_model_bands is not None and len(indexes) != n_model_bands:
            raise ValueError(
                f"bands={list(bands)} selects {len(indexes)} band(s) of {path}, "
                f"but the model takes {n_model_bands}"
            )
        return indexes
    if model_band_names and all(name in descriptions for name in model_band_names):
        return [descriptions.index(name) + 1 for name in model_band_names]
    if n_model_bands is not None and ds.count != n_model_bands:
        named = f" (bands {', '.join(model_band_names)})" if model_band_names else ""
        raise ValueError(
            f"{path} has {ds.count} band(s) ({', '.join(band_labels(ds))}) but the model takes "
            f"{n_model_bands}{named}; choose its bands with bands=[...] "
            "(1-based band numbers or band descriptions)"
        )
    return list(range(1, ds.count + 1))


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
