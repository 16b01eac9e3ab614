"""Sensor registry, band lookup and spectral indices, checked against the real rasters."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import rasterio

from rskeras.data import SENSORS, SensorSpec, get_sensor
from rskeras.data.sensors import band_index, ndvi, ndwi, normalized_difference


def test_registry_holds_the_documented_sensors():
    for name in (
        "hls_l30",
        "hls_s30",
        "sentinel2_l2a",
        "landsat7_etm_rgb",
        "eurosat_rgb",
        "eurosat_ms",
        "sentinel1_grd",
    ):
        spec = get_sensor(name)
        assert isinstance(spec, SensorSpec) and spec.name == name
        assert set(spec.rgb_bands) <= set(spec.bands)
        assert len(set(b.lower() for b in spec.bands)) == len(spec.bands)
        for alias, target in spec.aliases:
            assert target in spec.bands, (name, alias)
    hls = SENSORS["hls_l30"]
    assert hls.bands == ("coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2")
    assert (hls.nodata, hls.scale, hls.resolution_m) == (-9999, 1e-4, 30.0)
    assert hls.scale_for("red") == 1e-4 and hls.scale_for("tir1") == 0.01 and hls.scale_for("B11") == 0.01
    assert len(SENSORS["sentinel2_l2a"].bands) == 12 and "B10" not in SENSORS["sentinel2_l2a"].bands
    assert len(SENSORS["eurosat_ms"].bands) == 13 and len(SENSORS["hls_s30"].bands) == 13
    assert SENSORS["sentinel1_grd"].bands == ("VV", "VH")
    assert SENSORS["landsat7_etm_rgb"].nodata == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        hls.nodata = 0


def test_band_index_accepts_names_aliases_and_any_case():
    s2 = SENSORS["sentinel2_l2a"]
    assert band_index(s2, "B8") == band_index(s2, "nir") == band_index(s2, "B08") == 7
    assert band_index(s2, "b8a") == band_index(s2, "NIR08") == 8
    assert band_index(s2, "swir22") == 11
    assert band_index(SENSORS["hls_l30"], "B05") == band_index(SENSORS["hls_l30"], "NIR") == 4
    assert band_index(SENSORS["eurosat_ms"], "cirrus") == 10


def test_unknown_sensor_and_band_errors_list_what_exists():
    with pytest.raises(KeyError, match=r"unknown sensor 'modis'.*hls_l30.*sentinel2_l2a"):
        get_sensor("modis")
    with pytest.raises(KeyError, match=r"sensor 'sentinel2_l2a' has no band 'B10'.*B1, B2.*B12"):
        band_index(SENSORS["sentinel2_l2a"], "B10")


def test_sensor_band_counts_match_the_real_rasters(hls_path, landsat_path):
    for path, name in ((hls_path, "hls_l30"), (landsat_path, "landsat7_etm_rgb")):
        with rasterio.open(path) as ds:
            spec = get_sensor(name)
            assert ds.count == len(spec.bands)
            assert ds.nodata == spec.nodata


def test_indices_match_the_formulas_and_are_nan_on_zero_denominator():
    nir = np.array([0.5, 0.0, 0.3, 200], dtype=np.float32)
    red = np.array([0.1, 0.0, 0.3, 100], dtype=np.float32)
    out = ndvi(nir, red)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[[0, 2, 3]], [0.4 / 0.6, 0.0, 100 / 300], rtol=1e-6)
    assert np.isnan(out[1])
    # uint8 inputs are not wrapped around by integer subtraction
    np.testing.assert_allclose(ndwi(np.uint8([10]), np.uint8([250])), [-240 / 260], rtol=1e-6)
    np.testing.assert_allclose(normalized_difference(np.ones((2, 3)), 0.0), np.ones((2, 3)))


def test_ndvi_on_real_hls_chip(hls_path):
    spec = get_sensor("hls_l30")
    with rasterio.open(hls_path) as ds:
        nir = ds.read(band_index(spec, "nir") + 1)
        red = ds.read(band_index(spec, "red") + 1)
    out = ndvi(nir, red)
    assert out.shape == (224, 224)
    finite = out[np.isfinite(out)]
    assert finite.size > 0.99 * out.size
    # every finite value equals the formula and lies in [-1, 1] where both bands are non-negative
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = (nir.astype(np.float64) - red) / (nir.astype(np.float64) + red)
    np.testing.assert_allclose(out[np.isfinite(out)], expected[np.isfinite(out)], rtol=1e-5, atol=1e-6)
    both_positive = (nir > 0) & (red > 0)
    assert np.all(np.abs(out[both_positive]) <= 1)
