"""Reference points drawn over a raster, for making field data from imagery (no TensorFlow).

Real field campaigns are rarely at hand when learning or testing; labels derived
from the imagery itself (spectral-index thresholds, an index to estimate) at random
points give a reproducible stand-in that exercises the same workflow.
"""

from __future__ import annotations

import numpy as np
import rasterio.transform
from rasterio.crs import CRS

from rskeras.data.points import Points
from rskeras.data.rasters import RasterLike, open_raster


def random_points(raster: RasterLike, n: int, *, seed: int = 0, crs: str | CRS | None = "EPSG:4326") -> Points:
    """``n`` random pixel centres over the raster's extent, uniformly distributed.

    Points may fall on nodata: :func:`rskeras.data.sample_raster` drops and counts them.

    Args:
        raster: the raster whose grid the points follow.
        n: number of points.
        seed: random seed.
        crs: CRS of the returned coordinates (longitude/latitude by default); None
            keeps the raster's CRS.

    Returns:
        Points with attributes ``row`` and ``col`` (the pixel each point is the centre of).
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = np.random.default_rng(seed)
    with open_raster(raster) as ds:
        rows = rng.integers(0, ds.height, n)
        cols = rng.integers(0, ds.width, n)
        xs, ys = rasterio.transform.xy(ds.transform, rows, cols, offset="center")
        points = Points(np.asarray(xs, float), np.asarray(ys, float), ds.crs, {"row": rows, "col": cols}, ds.name)
    return points.to_crs(crs) if crs is not None else points


def threshold_classes(values: np.ndarray, thresholds: list[float], names: list[str]) -> np.ndarray:
    """Class names from thresholds: ``names[i]`` where ``thresholds[i-1] <= value < thresholds[i]``.

    ``names`` has one more entry than ``thresholds`` (sorted ascending); NaN gets ``""``.
    """
    if len(names) != len(thresholds) + 1:
        raise ValueError(f"{len(thresholds)} thresholds need {len(thresholds) + 1} names, got {len(names)}")
    values = np.asarray(values, dtype=float)
    labels = np.asarray(names, dtype=object)[np.searchsorted(np.asarray(thresholds, dtype=float), values, side="right")]
    labels[np.isnan(values)] = ""
    return labels.astype(str)
