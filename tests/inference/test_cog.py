"""predict_raster(..., cog=True): Cloud-Optimised GeoTIFFs, checked as GDAL's COG validator checks them.

The real Landsat scene (791 x 718 px, nodata 0 around the edge) is mapped by a small pixel classifier: large
enough for overviews. Each output must pass :func:`rskeras.inference.validate_cog`, keep the colour map, class
names and band descriptions, hold the same pixels as the plain tiled GeoTIFF, and have overviews made by mode
(class maps) and average (probabilities).
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import rasterio

import rskeras
from rskeras.inference import validate_cog
from rskeras.models import ann

CLASSES = ["water", "vegetation", "bare", "urban"]


@pytest.fixture(scope="module")
def classifier(landsat_path) -> keras.Model:
    """An untrained pixel classifier normalised to the scene's statistics (its map has every class)."""
    with rasterio.open(landsat_path) as ds:
        pixels = ds.read().reshape(3, -1).T.astype("float64")
    pixels = pixels[(pixels > 0).all(axis=1)]
    keras.utils.set_random_seed(3)
    return ann(input_shape=(3,), task="multiclass", class_names=CLASSES, hidden=(8,),
               band_stats=(pixels.mean(0), pixels.std(0)))


@pytest.fixture(scope="module")
def maps(classifier, landsat_path, tmp_path_factory):
    """The scene mapped twice, as plain tiled GeoTIFFs and as COGs (class map and probabilities each)."""
    folder = tmp_path_factory.mktemp("cog")
    plain = rskeras.predict_raster(classifier, landsat_path, folder / "plain.tif", probabilities=True, progress=False)
    cog = rskeras.predict_raster(classifier, landsat_path, folder / "map.tif", probabilities=True, cog=True,
                                 progress=False)
    return plain, cog


def _read(path, **kwargs) -> np.ndarray:
    with rasterio.open(path, **kwargs) as ds:
        return ds.read()


def test_outputs_are_valid_cogs(maps):
    _, cog = maps
    for path in (cog.dst, cog.probabilities):
        assert validate_cog(path) == []
        with rasterio.open(path) as ds:
            assert ds.overviews(1) == [2, 4]  # down to one 256 px block
            assert ds.block_shapes[0] == (256, 256)
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
    assert sorted(p.name for p in cog.dst.parent.iterdir()) == [
        "map.tif", "map_probabilities.tif", "plain.tif", "plain_probabilities.tif"]


def test_cogs_keep_pixels_colour_map_and_names(maps):
    plain, cog = maps
    for a, b in ((plain.dst, cog.dst), (plain.probabilities, cog.probabilities)):
        np.testing.assert_array_equal(_read(a), _read(b))
        with rasterio.open(a) as x, rasterio.open(b) as y:
            assert (x.crs, x.transform, x.nodata, x.descriptions) == (y.crs, y.transform, y.nodata, y.descriptions)
            assert x.tags() == y.tags()
    with rasterio.open(cog.dst) as ds:
        assert json.loads(ds.tags()["CLASS_NAMES"]) == CLASSES
        with rasterio.open(plain.dst) as original:
            assert ds.colormap(1) == original.colormap(1)


def _resampled(path, level_of, resampling) -> np.ndarray:
    """Band 1 of ``path`` resampled by GDAL to the size of ``level_of``'s first overview."""
    with rasterio.open(level_of, overview_level=0) as ds:
        shape = (ds.height, ds.width)
    with rasterio.open(path) as ds:
        return ds.read(1, out_shape=shape, resampling=resampling)


def test_overviews_by_mode_for_classes_and_average_for_probabilities(maps):
    """Each overview is what GDAL's mode (class maps) or average (probabilities) makes of the full
    resolution, and not what nearest neighbour would make."""
    from rasterio.enums import Resampling

    plain, cog = maps
    for path, original, method in ((cog.dst, plain.dst, Resampling.mode),
                                   (cog.probabilities, plain.probabilities, Resampling.average)):
        overview = _read(path, overview_level=0)[0]
        np.testing.assert_allclose(overview, _resampled(original, path, method), atol=1e-6)
        assert (overview != _resampled(original, path, Resampling.nearest)).mean() > 0.01


def test_the_validator_finds_what_makes_a_plain_geotiff_no_cog(maps):
    plain, _ = maps
    problems = validate_cog(plain.dst)
    assert any("no internal overviews" in p for p in problems), problems


def test_small_scene_cog_without_overviews(classifier, hls_path, tmp_path):
    """A scene smaller than 512 px needs no overviews (GDAL's rule); still a valid COG."""
    model = ann(input_shape=(3,), task="regression", hidden=(4,))
    result = rskeras.predict_raster(model, hls_path, tmp_path / "values.tif", bands=[2, 3, 4], cog=True,
                                    progress=False)
    assert validate_cog(result.dst) == []
    with rasterio.open(result.dst) as ds:
        assert ds.overviews(1) == [] and ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
