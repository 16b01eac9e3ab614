"""The raster layer on the real rasters: band names, band resolution, and the model-band rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio

from rskeras.data import WORLDCOVER_CLASSES, BandError, ClassScheme, band_names, open_raster, resolve_bands
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from rskeras.data.rasters import (
    Masking,
    default_band_names,
    mask_kind,
    match_model_bands,
    read_bands,
    valid_pixels,
)
from rskeras.data.rasters import _plain_read as plain_read

HLS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]


@pytest.fixture(scope="module")
def described_hls(hls_path, tmp_path_factory):
    """The real HLS chip with its HLS band names as band descriptions."""
    path = tmp_path_factory.mktemp("described") / "hls_described.tif"
    with rasterio.open(hls_path) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(path, "w", **profile) as out:
        out.write(data)
        out.descriptions = tuple(HLS)
    return path


def test_one_naming_rule_descriptions_sensor_or_band_i(hls_path, described_hls):
    with open_raster(hls_path) as ds:
        assert band_names(ds) == default_band_names(10) == [f"band_{i}" for i in range(1, 11)]
        assert band_names(ds, "hls_l30") == HLS
        with pytest.raises(ValueError, match=r"has 10 bands but sensor 'eurosat_rgb' has 3 \(red, green, blue\)"):
            band_names(ds, "eurosat_rgb")
        assert resolve_bands(ds, ["band_4", 5, "B05"], "hls_l30") == ([4, 5, 5], ["red", "nir", "nir"])
    with open_raster(described_hls) as ds:
        assert band_names(ds, "sentinel1_grd") == HLS  # descriptions win; the sensor is not needed
        assert resolve_bands(ds, ["NIR", "band_1"]) == ([5, 1], ["nir", "coastal"])


def test_band_error_is_a_key_and_a_value_error_with_a_plain_message(hls_path):
    with open_raster(hls_path) as ds, pytest.raises(BandError) as caught:
        resolve_bands(ds, ["nir"])
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, ValueError)
    assert str(caught.value).startswith(f"raster {hls_path} has no band 'nir'; bands: 1=band_1, 2=band_2")
    assert str(caught.value).endswith("(pass sensor= to use sensor band names)")
    with open_raster(hls_path) as ds, pytest.raises(TypeError, match="1-based band numbers or band names"):
        resolve_bands(ds, [1.5])


def test_model_bands_by_name_from_descriptions_or_sensor(hls_path, described_hls):
    wanted = ["blue", "green", "red", "nir", "swir1", "swir2"]
    with open_raster(described_hls) as ds:
        assert match_model_bands(ds, wanted, 6) == ([2, 3, 4, 5, 6, 7], wanted)
    with open_raster(hls_path) as ds:
        assert match_model_bands(ds, wanted, 6, sensor="hls_l30") == ([2, 3, 4, 5, 6, 7], wanted)
        # a model trained on an undescribed raster without a sensor carries band_<i> names: found by number
        assert match_model_bands(ds, ["band_4", "band_5"], 2) == ([4, 5], ["band_4", "band_5"])
        # explicit bands win over the model's names, in the caller's order
        assert match_model_bands(ds, wanted, 2, bands=["nir", 4], sensor="hls_l30") == ([5, 4], ["nir", "red"])


def test_model_band_mismatch_names_both_lists(hls_path, described_hls):
    with open_raster(described_hls) as ds, pytest.raises(BandError) as caught:
        match_model_bands(ds, ["B2", "B3", "B4", "B8"], 4)
    text = str(caught.value)
    assert "the model was trained on bands B2, B3, B4, B8" in text
    assert "1=coastal, 2=blue" in text and "10=tir2" in text and "no B2, B3, B4, B8" in text
    with open_raster(hls_path) as ds:
        with pytest.raises(BandError, match=r"sensor 'hls_l30' has no band 'ndvi'.*trained on bands red, nir"):
            match_model_bands(ds, ["red", "nir"], 2, bands=["red", "ndvi"], sensor="hls_l30")
        with pytest.raises(BandError, match=r"has 10 band\(s\) \(1=band_1.*model takes 6 \(blue.*"
                                            r"name them with sensor=$"):
            match_model_bands(ds, ["blue", "green", "red", "nir", "swir1", "swir2"], 6)
        with pytest.raises(BandError, match=r"bands=\[1, 2\] selects 2 band\(s\) \(band_1, band_2\) but the model "
                                            r"takes 3"):
            match_model_bands(ds, None, 3, bands=[1, 2])


def test_undescribed_raster_without_sensor_is_fed_in_file_order_with_a_warning(landsat_path):
    with open_raster(landsat_path) as ds:
        with pytest.warns(UserWarning, match=r"no band descriptions; its 3 bands are fed to the model as red, "
                                             r"green, blue in file order \(pass sensor="):
            assert match_model_bands(ds, ["red", "green", "blue"], 3) == ([1, 2, 3], default_band_names(3))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert match_model_bands(ds, ["red", "green", "blue"], 3, sensor="landsat7_etm_rgb")[0] == [1, 2, 3]
            assert match_model_bands(ds, None, 3)[0] == [1, 2, 3]


def test_worldcover_is_one_class_scheme_with_names_codes_and_colours():
    assert isinstance(WORLDCOVER_CLASSES, ClassScheme)
    assert WORLDCOVER_CLASSES[80] == "Permanent water bodies" and WORLDCOVER_CLASSES.get(0) is None
    assert tuple(WORLDCOVER_CLASSES) == WORLDCOVER_CLASSES.codes == (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)
    assert dict(WORLDCOVER_CLASSES)[10] == "Tree cover" and len(WORLDCOVER_CLASSES) == 11
    assert WORLDCOVER_CLASSES.rgba(10) == (0, 100, 0, 255) and WORLDCOVER_CLASSES.rgba(50) == (250, 0, 0, 255)
    assert len(WORLDCOVER_CLASSES.colormap()) == 11
    with pytest.raises(KeyError, match="esa_worldcover has no class 11; its codes are 10, 20"):
        WORLDCOVER_CLASSES[11]
    with pytest.raises(ValueError, match="must match one to one"):
        ClassScheme("x", (1, 2), ("a",), ("#000000", "#ffffff"), None, "test")

    from rskeras.ee_export.stack import worldcover_label
    from rskeras.evaluation import WORLDCOVER_CLASSES as evaluation_classes, mae_per_class

    assert evaluation_classes is WORLDCOVER_CLASSES
    assert worldcover_label.__defaults__[1] == WORLDCOVER_CLASSES.codes
    strata = np.array([[10, 80], [80, 0]])
    report = mae_per_class(np.zeros((2, 2)), np.ones((2, 2)), strata)
    assert list(report["per_class"]) == ["Tree cover", "Permanent water bodies"]


def test_valid_pixels_equal_gdals_masks_with_a_nodata_value_per_band(labels_dir, tmp_path):
    """valid_pixels compares each band with its own nodata value, as GDAL's masked read does (a VRT)."""
    src = labels_dir / "landsat7_1999_stack.tif"
    bands = "".join(f'<VRTRasterBand dataType="Int16" band="{b}"><NoDataValue>{nodata}</NoDataValue><SimpleSource>'
                    f"<SourceFilename>{src}</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
                    for b, nodata in ((1, -9999), (2, 500), (3, 600)))
    vrt = tmp_path / "per_band.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="250" rasterYSize="250">{bands}</VRTDataset>')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(vrt) as ds:
            window, kind = rasterio.windows.Window(0, 0, 250, 250), mask_kind(ds)
            valid = valid_pixels(ds, [1, 2, 3], ds.read([1, 2, 3], window=window), window, kind)
            masked = np.ma.getmaskarray(ds.read([1, 2, 3], window=window, masked=True)).any(axis=0)
    assert kind.kind == "nodata" and 0 < (~valid).sum() < valid.size
    np.testing.assert_array_equal(valid, ~masked)


def test_valid_pixels_of_stacked_windows_and_a_nodata_outside_the_dtype(labels_dir):
    """Windows stacked on a leading axis get each window's validity; a nodata value no uint8 can hold marks nothing."""
    src = labels_dir / "landsat7_1999_stack.tif"
    with rasterio.open(src) as ds:
        kind = mask_kind(ds)
        windows = [rasterio.windows.Window(c, r, 50, 50) for r, c in ((0, 0), (100, 150), (200, 200))]
        stack = np.stack([ds.read([1, 2], window=w) for w in windows])
        stack[1, 1, :10, :20] = ds.nodata  # some nodata in one band of one window
        each = [valid_pixels(ds, [1, 2], values, w, kind) for values, w in zip(stack, windows)]
        np.testing.assert_array_equal(valid_pixels(ds, [1, 2], stack, None, kind), np.stack(each))
        assert (~np.stack(each)).sum() >= 200
    values = np.array([[[44, 255], [0, 44]]], dtype=np.uint8)
    for nodata in (300.0, 0.5, float("nan")):  # no uint8 value equals these: nothing is nodata
        assert valid_pixels(None, [1], values, None, Masking("nodata", (nodata,))).all()
    np.testing.assert_array_equal(valid_pixels(None, [1], values, None, Masking("nodata", (44.0,))),
                                  [[False, True], [True, False]])


@pytest.mark.parametrize("n_bands", [2, 3, 8, 10])
def test_valid_pixels_of_a_pixel_interleaved_read_equal_a_band_first_read(hls_path, n_bands):
    """A pixel-interleaved view (bands innermost in memory, as pixel models read) gets the validity of a band-first
    array: the nodata value in any band, and NaN, mark the pixel (2, 4 and 8 bands take a faster path)."""
    with rasterio.open(hls_path) as ds:
        kind = mask_kind(ds)
        values = ds.read(list(range(1, n_bands + 1)))
    values[0, 10:20, 30:45] = ds.nodata if ds.nodata is not None else -9999
    values[-1, 100, 5:9] = np.nan
    interleaved = np.ascontiguousarray(np.moveaxis(values, 0, -1))  # (h, w, bands) in memory
    view = np.moveaxis(interleaved, -1, 0)
    expected = valid_pixels(None, [1] * n_bands, values, None, kind)
    np.testing.assert_array_equal(valid_pixels(None, [1] * n_bands, view, None, kind), expected)
    assert (~expected).sum() >= (150 if kind.kind == "nodata" else 4)


def test_read_bands_equals_rasterios_read_in_every_layout(labels_dir, tmp_path):
    """Windows inside a file take rasterio's bare read step; the values equal ``DatasetReader.read`` band-first,
    into a transposed pixel-interleaved buffer, converted to float32, for a VRT whose bands differ in dtype, and
    through a ``WarpedVRT`` (which keeps ``read``)."""
    src = labels_dir / "landsat7_1999_stack.tif"
    with rasterio.open(src) as ds:
        geo = f"<SRS>{ds.crs.to_wkt()}</SRS><GeoTransform>{', '.join(map(str, ds.transform.to_gdal()))}</GeoTransform>"
        bands, window = [2, 5, 7], Window(17, 201, 40, 33)
        want = ds.read(bands, window=window)
        assert plain_read(ds, window, want, 3) and not plain_read(ds, Window(230, 0, 40, 33), want, 3)
        np.testing.assert_array_equal(read_bands(ds, bands, window, np.empty((3, 33, 40), np.int16)), want)
        interleaved = np.empty((33, 40, 3), np.int16)
        read_bands(ds, bands, window, interleaved.transpose(2, 0, 1))
        np.testing.assert_array_equal(np.moveaxis(interleaved, -1, 0), want)
        as_float = read_bands(ds, bands, window, np.empty((3, 33, 40), np.float32))
        np.testing.assert_array_equal(as_float, want.astype(np.float32))
        with WarpedVRT(ds, crs="EPSG:4326") as vrt:
            grid = Window(3, 4, 20, 10)
            assert not plain_read(vrt, grid, np.empty((3, 10, 20), np.int16), 3)
            np.testing.assert_array_equal(read_bands(vrt, bands, grid, np.empty((3, 10, 20), np.int16)),
                                          vrt.read(bands, window=grid))
    mixed = "".join(f'<VRTRasterBand dataType="{kind}" band="{b}"><SimpleSource><SourceFilename>{src}</SourceFilename>'
                    f"<SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
                    for b, kind in ((1, "Int16"), (2, "Float32")))
    vrt_path = tmp_path / "mixed.vrt"
    vrt_path.write_text(f'<VRTDataset rasterXSize="250" rasterYSize="250">{geo}{mixed}</VRTDataset>')
    with rasterio.open(vrt_path) as vrt, rasterio.open(src) as ds:
        got = read_bands(vrt, [1, 2], window, np.empty((2, 33, 40), np.float32))
        np.testing.assert_array_equal(got, ds.read([1, 2], window=window).astype(np.float32))
