"""A real class map for the sample-design and assessment tests: NDVI classes of the real HLS chip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rskeras.data.sensors import band_index, get_sensor, ndvi

NDVI_CLASSES = ["sparse vegetation", "grassland and crops", "dense vegetation"]
NDVI_THRESHOLDS = [0.3, 0.45]  # the demo's land-cover rule
CLASS_NODATA = 255


def ndvi_of(hls_path: Path) -> np.ndarray:
    """NDVI of the HLS chip, NaN on nodata or where red + NIR = 0."""
    spec = get_sensor("hls_l30")
    with rasterio.open(hls_path) as ds:
        red, nir = (ds.read(band_index(spec, b) + 1, masked=True).astype(np.float64).filled(np.nan)
                    for b in ("red", "nir"))
    return ndvi(nir, red)


def ndvi_classes(index: np.ndarray, thresholds=NDVI_THRESHOLDS) -> np.ndarray:
    """Classes 0, 1, 2 by NDVI thresholds; 255 where NDVI is NaN."""
    classes = np.digitize(np.nan_to_num(index, nan=-1.0), thresholds).astype(np.uint8)
    classes[np.isnan(index)] = CLASS_NODATA
    return classes


@pytest.fixture(scope="module")
def ndvi_class_map(tmp_path_factory, hls_path) -> Path:
    """uint8 class map of the HLS chip (classes 0-2 by NDVI, nodata 255, CLASS_NAMES tag), same grid."""
    classes = ndvi_classes(ndvi_of(hls_path))
    classes[:3, :] = CLASS_NODATA  # a nodata border, as around a real scene
    dst = tmp_path_factory.mktemp("class_map") / "ndvi_classes.tif"
    with rasterio.open(hls_path) as src:
        profile = dict(src.profile, count=1, dtype="uint8", nodata=CLASS_NODATA)
    with rasterio.open(dst, "w", **profile) as ds:
        ds.write(classes, 1)
        ds.update_tags(CLASS_NAMES=json.dumps(NDVI_CLASSES))
    return dst


@pytest.fixture
def label_points(hls_path):
    """Labels a sample file as a surveyor would: the NDVI class of each point, with thresholds 0.28 / 0.47.

    The reference rule differs a little from the map's (0.3 / 0.45), so the map has real errors near
    the thresholds. Returns a function ``(sample_csv, dst_csv) -> dst_csv`` writing class names into
    the ``reference`` column.
    """
    from rskeras.data import read_points, sample_raster

    def label(sample_csv: Path, dst: Path) -> Path:
        points = read_points(sample_csv)
        samples = sample_raster(hls_path, points, bands=["red", "nir"], sensor="hls_l30")
        classes = ndvi_classes(ndvi(samples.values[:, 1].astype(np.float64), samples.values[:, 0]), [0.28, 0.47])
        reference = np.full(len(points), "", dtype=object)
        reference[samples.index] = [NDVI_CLASSES[c] if c != CLASS_NODATA else "" for c in classes]
        points.attributes["reference"] = reference.astype(str)
        return points.write(dst)

    return label
