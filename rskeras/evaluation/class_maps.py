"""Class maps read window by window: pixels per class, class names and pixel area (no TensorFlow).

A class map is band 1 of a raster holding integer class values (``predict_raster`` writes
uint8 with nodata 255). Pixels equal to the file's nodata value, masked by the file, or equal
to ``nodata=`` when given, are outside the map.

Windows are full-width strips of whole rows, read top to bottom, so walking them visits the
pixels in row-major order whatever the strip height: at most ``max_window_bytes`` of pixels
are held at once (but at least one row).

Class names come from the ``CLASS_NAMES`` tag (a JSON list indexed by class value, as
:mod:`rskeras.inference.outputs` writes it); a class without a name is named by its value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
from rasterio.io import DatasetReaderBase
from rasterio.windows import Window

from rskeras.data.rasters import RasterLike, open_raster

DEFAULT_WINDOW_BYTES = 32 * 2**20
SQUARE_TOLERANCE = 1e-6  # relative difference of pixel width and height still called square


def check_class_map(ds: DatasetReaderBase, what: str = "class map") -> None:
    """ValueError naming the file unless band 1 holds integers."""
    dtype = np.dtype(ds.dtypes[0])
    if dtype.kind not in "iu":
        raise ValueError(f"{what} {ds.name} holds {dtype} values; a class map holds integer class values (band 1)")


def strip_windows(
    ds: DatasetReaderBase, bytes_per_pixel: int, max_bytes: int = DEFAULT_WINDOW_BYTES
) -> Iterator[Window]:
    """Full-width windows of ``ds``, top to bottom, each at most ``max_bytes`` (at least one row)."""
    rows = max(1, max_bytes // max(1, ds.width * bytes_per_pixel))
    for top in range(0, ds.height, rows):
        yield Window(0, top, ds.width, min(rows, ds.height - top))


def read_classes(ds: DatasetReaderBase, window: Window, nodata: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Band 1 in ``window`` as int64 ``(rows, cols)`` values and a bool mask of the pixels in the map."""
    block = ds.read(1, window=window, masked=True)
    values = block.data.astype(np.int64)
    valid = ~np.ma.getmaskarray(block)
    if nodata is not None:
        valid &= values != nodata
    return values, valid


def count_classes(
    raster: RasterLike, nodata: float | None = None, max_window_bytes: int = DEFAULT_WINDOW_BYTES
) -> dict[int, int]:
    """Pixels per class value of a class map, ``{value: pixels}`` in increasing value order.

    Raises ValueError naming the file when it is not an integer raster or has no pixel in the map.
    """
    with open_raster(raster) as ds:
        check_class_map(ds)
        counts: dict[int, int] = {}
        for window in strip_windows(ds, 9, max_window_bytes):  # int64 values + bool mask
            values, valid = read_classes(ds, window, nodata)
            for value, count in zip(*np.unique(values[valid], return_counts=True)):
                counts[int(value)] = counts.get(int(value), 0) + int(count)
        if not counts:
            raise ValueError(f"class map {ds.name} has no pixel with a class (every pixel is nodata={ds.nodata})")
    return dict(sorted(counts.items()))


def class_names(ds: DatasetReaderBase) -> dict[int, str]:
    """``{value: name}`` from the ``CLASS_NAMES`` tag; empty when the tag is absent or unreadable."""
    text = ds.tags().get("CLASS_NAMES")
    try:
        names = json.loads(text) if text else []
    except json.JSONDecodeError:
        return {}
    return {i: str(name) for i, name in enumerate(names) if name} if isinstance(names, list) else {}


def pixel_area_m2(ds: DatasetReaderBase) -> float:
    """Area of one pixel in square metres.

    Raises ValueError naming the file when it has no CRS, a geographic CRS (pixel areas
    change with latitude), rotated or non-square pixels.
    """
    t = ds.transform
    if ds.crs is None:
        raise ValueError(f"raster {ds.name} has no CRS, so its pixels have no area in ha")
    if ds.crs.is_geographic:
        raise ValueError(
            f"raster {ds.name} is in a geographic CRS ({ds.crs.to_string()}): its pixels differ in area with "
            "latitude; reproject the map to an equal-area or projected CRS to get areas in ha"
        )
    if t.b != 0 or t.d != 0 or abs(abs(t.a) - abs(t.e)) > SQUARE_TOLERANCE * abs(t.a):
        raise ValueError(
            f"raster {ds.name} has non-square or rotated pixels ({abs(t.a):g} x {abs(t.e):g}, rotation terms "
            f"{t.b:g}, {t.d:g}); resample it to square pixels to get areas in ha"
        )
    metres = ds.crs.linear_units_factor[1]
    return abs(t.a * t.e) * metres**2
