"""Band values of a raster at field points: the training table of a pixel classifier (no TensorFlow).

:func:`sample_raster` reprojects the points to the raster's CRS, takes the pixel that
contains each point, and drops (and counts) points without a label, outside the raster or on nodata.
Pixels are read in windows around the points, so memory stays bounded on large rasters.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.crs import CRS
from rasterio.io import DatasetReaderBase
from rasterio.windows import Window

from rskeras.data.points import Points, read_points
from rskeras.data.rasters import RasterLike, open_raster, resolve_bands
from rskeras.data.sensors import SensorSpec

DEFAULT_WINDOW_BYTES = 32 * 2**20
MIN_TILE = 256  # pixels: smaller reads cost more in per-call overhead than they save


@dataclass
class Samples:
    """Raster band values at the points that fell on valid pixels.

    Attributes:
        values: (n, n_bands) float32 raw pixel values (no scaling), band order of ``band_names``.
        band_names: names of the sampled bands (descriptions, sensor names or ``band_<i>``).
        indexes: their rasterio band numbers (1 = first band), to read the same bands elsewhere.
        index: (n,) int64 positions of the kept points in the original :class:`Points`.
        xy: (n, 2) float64 point coordinates in the raster CRS.
        rowcol: (n, 2) int64 row and column of the pixel holding each point.
        labels: (n,) str: the ``label`` column's values at the kept points as the points file spells
            them (an integer class stays ``"2"``; numbers for regression convert with
            ``labels.astype(float)``), or None.
        n_total: number of input points.
        n_outside: labelled points outside the raster extent (dropped).
        n_nodata: labelled points inside the raster on nodata, NaN or masked pixels in any sampled
            band (dropped).
        crs: the raster's CRS.
        source: the raster's path.
        n_unlabelled: points whose ``label`` value is missing (blank, NA, n/a, null, None, NaN; dropped).
    """

    values: np.ndarray
    band_names: list[str]
    indexes: list[int]
    index: np.ndarray
    xy: np.ndarray
    rowcol: np.ndarray
    labels: np.ndarray | None
    n_total: int
    n_outside: int
    n_nodata: int
    crs: CRS
    source: str
    n_unlabelled: int = 0

    def __len__(self) -> int:
        return len(self.index)

    def summary(self) -> str:
        """One line: kept/dropped counts (unlabelled ones when there are labels), bands and label counts."""
        text = (
            f"{len(self)} of {self.n_total} points sampled from {self.source} ("
            + (f"{self.n_unlabelled} without a label, " if self.labels is not None else "")
            + f"{self.n_outside} outside the raster, {self.n_nodata} on nodata); "
            f"{len(self.band_names)} bands: {', '.join(self.band_names)}"
        )
        if self.labels is not None:
            names, counts = np.unique(self.labels, return_counts=True)
            text += "; labels: " + ", ".join(f"{n}={c}" for n, c in zip(names.tolist(), counts.tolist()))
        return text


def sample_raster(
    raster: RasterLike,
    points: Points | str | os.PathLike,
    bands: Sequence[int | str] | None = None,
    *,
    label: str | None = None,
    sensor: str | SensorSpec | None = None,
    max_window_bytes: int = DEFAULT_WINDOW_BYTES,
) -> Samples:
    """Band values of ``raster`` at the pixels containing ``points``.

    Args:
        raster: path of a raster rasterio can open, or an open rasterio dataset.
        points: :class:`Points`, or a points file for :func:`read_points`.
        bands: None for all bands, else rasterio band indexes (1 = first band) and/or
            band names: descriptions, ``band_<i>``, or sensor band names with ``sensor``.
        label: attribute column to return as ``Samples.labels``; points whose value is missing
            (:meth:`Points.missing`) are dropped and counted.
        sensor: a :data:`SENSORS` key or spec naming the bands of a raster without descriptions.
        max_window_bytes: upper bound on the pixel bytes read at once (GDAL's block
            cache, GDAL_CACHEMAX, comes on top).

    Raises:
        FileNotFoundError / ValueError naming a raster that is missing or cannot be opened;
        KeyError naming a missing band or label column and listing what exists;
        ValueError when no point has a label, no labelled point falls inside the raster
        (with both extents) or all labelled points inside fall on nodata.
    """
    if not isinstance(points, Points):
        points = read_points(points)
    if len(points) == 0:
        raise ValueError(f"{points.source} holds no points")
    all_labels = points.text_column(label) if label is not None else None
    unlabelled = points.missing(label) if label is not None else np.zeros(len(points), bool)
    if unlabelled.all():
        raise ValueError(f"column {label!r} of {points.source} has no labels: all {len(points)} values are blank "
                         "or missing (NA, n/a, null, None, NaN)")
    with open_raster(raster) as ds:
        indexes, names = resolve_bands(ds, bands, sensor)
        local, inside, rows, cols = _locate(ds, points, skip=unlabelled)
        values, bad = _read_pixels(ds, indexes, rows, cols, max_window_bytes)
        crs, source, nodata = ds.crs, ds.name, ds.nodata
    if bad.all():
        raise ValueError(
            f"all {bad.size} points of {points.source} inside raster {source} fall on nodata "
            f"(nodata={nodata}) in bands {', '.join(names)}"
        )
    keep = ~bad
    index = np.flatnonzero(inside)[keep]
    return Samples(
        values=values[keep],
        band_names=names,
        indexes=indexes,
        index=index,
        xy=np.stack([local.x[index], local.y[index]], axis=1),
        rowcol=np.stack([rows[keep], cols[keep]], axis=1),
        labels=None if all_labels is None else all_labels[index],
        n_total=len(points),
        n_outside=int((~inside & ~unlabelled).sum()),
        n_nodata=int(bad.sum()),
        crs=crs,
        source=source,
        n_unlabelled=int(unlabelled.sum()),
    )


def _locate(ds: DatasetReaderBase, points: Points, skip: np.ndarray) -> tuple[Points, np.ndarray, np.ndarray, np.ndarray]:
    """The points in the raster's CRS, a (n,) mask of those inside it (leaving out ``skip``, e.g. the
    unlabelled), and the (m,) rows and columns of the pixels holding the m points inside. Raises
    ValueError when none is inside."""
    if ds.crs is None:
        raise ValueError(f"raster {ds.name} has no CRS, so points cannot be placed on it")
    local = points.to_crs(ds.crs)
    inv = ~ds.transform
    col = inv.a * local.x + inv.b * local.y + inv.c
    row = inv.d * local.x + inv.e * local.y + inv.f
    with np.errstate(invalid="ignore"):
        inside = (col >= 0) & (col < ds.width) & (row >= 0) & (row < ds.height) & ~skip
    if not inside.any():
        raise ValueError(_outside_message(ds, points, local))
    return local, inside, np.floor(row[inside]).astype(np.int64), np.floor(col[inside]).astype(np.int64)


def _tile_shape(ds: DatasetReaderBase, pixel_bytes: int, max_bytes: int) -> tuple[int, int]:
    """(rows, cols) of the read tiles: whole storage blocks, at least MIN_TILE pixels a side
    where the raster allows, halved until a tile of the selected bands fits in ``max_bytes``."""
    block_h, block_w = ds.block_shapes[0]
    height = min(ds.height, -(-MIN_TILE // block_h) * block_h)
    width = min(ds.width, -(-MIN_TILE // block_w) * block_w)
    while height * width * pixel_bytes > max_bytes and height * width > 1:
        if height >= width:
            height = -(-height // 2)
        else:
            width = -(-width // 2)
    return height, width


def _read_pixels(
    ds: DatasetReaderBase, indexes: list[int], rows: np.ndarray, cols: np.ndarray, max_bytes: int
) -> tuple[np.ndarray, np.ndarray]:
    """float32 values (n, bands) at the pixels and a (n,) mask of nodata/NaN/masked pixels.

    Points are grouped by tiles aligned with the raster's storage blocks (see
    :func:`_tile_shape`); each tile is read once, cropped to the bounding box of its
    points, so sparse points on a huge raster decode only the blocks they fall in.
    """
    pixel_bytes = len(indexes) * max(np.dtype(ds.dtypes[i - 1]).itemsize for i in indexes)
    tile_h, tile_w = _tile_shape(ds, pixel_bytes, max_bytes)
    tile = (rows // tile_h) * (ds.width // tile_w + 1) + cols // tile_w
    order = np.argsort(tile, kind="stable")
    starts = np.flatnonzero(np.diff(tile[order], prepend=-1))
    values = np.empty((rows.size, len(indexes)), dtype=np.float32)
    bad = np.empty(rows.size, dtype=bool)
    for group in np.split(order, starts[1:]):
        r, c = rows[group], cols[group]
        r0, c0 = r.min(), c.min()
        window = Window(c0, r0, c.max() - c0 + 1, r.max() - r0 + 1)
        block = ds.read(indexes, window=window, masked=True)
        pixels = block.data[:, r - r0, c - c0].T.astype(np.float32)
        values[group] = pixels
        bad[group] = np.ma.getmaskarray(block)[:, r - r0, c - c0].any(axis=0) | np.isnan(pixels).any(axis=1)
    return values, bad


def _outside_message(ds: DatasetReaderBase, points: Points, local: Points) -> str:
    b = ds.bounds
    px = local.bounds
    return (
        f"none of the {len(points)} points of {points.source} fall inside raster {ds.name}: "
        f"raster bounds x {b.left:.10g}..{b.right:.10g}, y {b.bottom:.10g}..{b.top:.10g}; "
        f"points x {px[0]:.10g}..{px[2]:.10g}, y {px[1]:.10g}..{px[3]:.10g} "
        f"(in {ds.crs.to_string()}; points read as {points.crs.to_string()}). "
        "Is the points' CRS right (crs=, swapped lon/lat columns)?"
    )
