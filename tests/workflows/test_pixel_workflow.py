"""The pixel workflow end to end on the real rasters: field points -> ANN -> result raster."""

import json

import numpy as np
import pytest
import rasterio

from rskeras import predict_raster
from rskeras.data import Points, read_points, sample_raster
from rskeras.data.reference import random_points, threshold_classes
from rskeras.data.sensors import ndvi
from rskeras.demo import LAND_COVER, make_field_points
from rskeras.workflows import train_pixel_model

LC_NAMES = LAND_COVER["names"]  # sparse vegetation, grassland and crops, dense vegetation
LC_THRESHOLDS = LAND_COVER["thresholds"]  # NDVI 0.3 and 0.45
EPOCHS = 40


def _hls_ndvi(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        red, nir = ds.read(4).astype(float), ds.read(5).astype(float)
    return ndvi(nir, red)


@pytest.fixture(scope="module")
def hls_field_file(hls_path, tmp_path_factory):
    """1,200 lon/lat points over the real HLS chip labelled from its NDVI, saved as GeoJSON."""
    return make_field_points(hls_path, tmp_path_factory.mktemp("field") / "hls_points.geojson", n=1200, seed=7)


def test_hls_land_cover_map(hls_path, hls_field_file, tmp_path):
    points = read_points(hls_field_file)
    assert points.crs.to_epsg() == 4326
    result = train_pixel_model(hls_path, points, "land_cover", task="multiclass", sensor="hls_l30",
                               bands=["coastal", "blue", "green", "red", "nir", "swir1", "swir2"],
                               class_names=LC_NAMES, epochs=EPOCHS, seed=0, progress=False)
    # the classes are thresholds of NDVI, a ratio of two of the seven inputs: an ANN must learn it well
    assert result.metrics["overall_accuracy"] >= 0.85, result.metrics
    assert result.metrics["n_test"] >= 300 and result.bands == [1, 2, 3, 4, 5, 6, 7]

    dst = tmp_path / "land_cover.tif"
    predict_raster(result.model, hls_path, dst, bands=result.bands, probabilities=True, window_size=64, progress=False)
    with rasterio.open(hls_path) as src, rasterio.open(dst) as out:
        assert (out.crs, out.transform, out.shape) == (src.crs, src.transform, src.shape)
        assert out.dtypes[0] == "uint8" and out.nodata == 255
        assert json.loads(out.tags()["CLASS_NAMES"]) == LC_NAMES
        assert out.colormap(1)[0] != out.colormap(1)[1]
        classes = out.read(1)
    truth = threshold_classes(_hls_ndvi(hls_path), LC_THRESHOLDS, LC_NAMES)
    valid = truth != ""
    agreement = (np.asarray(LC_NAMES)[np.minimum(classes, 2)] == truth)[valid].mean()
    assert agreement >= 0.85, agreement  # over all 50,176 pixels, not only the field points
    with rasterio.open(tmp_path / "land_cover_probabilities.tif") as probs:
        p = probs.read()
        assert probs.count == 3 and list(probs.descriptions) == LC_NAMES
    np.testing.assert_allclose(p.sum(0)[classes != 255], 1.0, atol=1e-4)
    np.testing.assert_array_equal(p.argmax(0)[classes != 255], classes[classes != 255])


def test_hls_ndvi_from_other_bands(hls_path, hls_field_file, tmp_path):
    result = train_pixel_model(hls_path, hls_field_file, "ndvi", task="regression", sensor="hls_l30",
                               bands=["coastal", "blue", "green", "swir1", "swir2"], epochs=EPOCHS, seed=0,
                               progress=False)
    # NDVI spans about 0.15-0.6 on this chip (std 0.09): an MAE of 0.05 is a real estimate, not the mean
    assert result.metrics["mae"] < 0.05 and result.metrics["r2"] > 0.6, result.metrics
    dst = tmp_path / "ndvi.tif"
    predict_raster(result.model, hls_path, dst, bands=result.bands, window_size=100, progress=False)
    with rasterio.open(dst) as out:
        assert out.dtypes[0] == "float32" and out.nodata == -9999
        estimate = out.read(1)
    truth = _hls_ndvi(hls_path)
    ok = np.isfinite(truth)
    assert np.abs(estimate[ok] - truth[ok]).mean() < 0.05


def test_landsat_brightness_classes_keep_nodata(landsat_path, tmp_path):
    """Projected x/y CSV field data (CRS given), nodata edge dropped and kept as nodata."""
    points = random_points(landsat_path, 1500, seed=3, crs=None)
    samples = sample_raster(landsat_path, points)
    assert samples.n_nodata > 200 and samples.n_outside == 0  # a third of the scene is the nodata collar
    brightness = samples.values.mean(axis=1)
    names = ["dark", "medium", "bright"]
    keep = samples.index
    field = Points(points.x[keep], points.y[keep], points.crs,
                   {"cover": threshold_classes(brightness, [40, 120], names)})
    csv_path = field.write(tmp_path / "landsat_points.csv")
    field_points = read_points(csv_path, crs="EPSG:32618")
    result = train_pixel_model(landsat_path, field_points, "cover", class_names=names, epochs=EPOCHS, seed=0,
                               progress=False)
    assert result.metrics["overall_accuracy"] >= 0.9, result.metrics
    dst = tmp_path / "cover.tif"
    predict_raster(result.model, landsat_path, dst, window_size=256, progress=False)
    with rasterio.open(landsat_path) as src, rasterio.open(dst) as out:
        nodata_in = (src.read() == 0).any(axis=0)
        classes = out.read(1)
        assert (out.crs, out.transform) == (src.crs, src.transform)
    np.testing.assert_array_equal(classes == 255, nodata_in)
