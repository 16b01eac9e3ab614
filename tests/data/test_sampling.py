"""sample_raster on the real HLS chip and Landsat scene: values equal direct rasterio reads."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rasterio.io
import rasterio.transform
from affine import Affine
from rasterio.windows import Window

from rskeras.data import Points, Samples, read_points, sample_raster

HLS_PIXELS = [(0, 0), (10, 20), (223, 223), (100, 5), (57, 190)]  # (row, col)


def _points_at(ds, pixels, crs=None, **attributes):
    """Points at the centres of (row, col) pixels of ds (pixels may lie outside), in crs."""
    rows, cols = zip(*pixels)
    x, y = rasterio.transform.xy(ds.transform, rows, cols)
    pts = Points(x, y, ds.crs, {k: np.asarray(v) for k, v in attributes.items()}, source="test points")
    return pts if crs is None else pts.to_crs(crs)


def _direct(ds, pixels, bands=None):
    """Pixel values read one by one with rasterio, shape (n, bands)."""
    return np.array([ds.read(bands, window=Window(c, r, 1, 1))[:, 0, 0] for r, c in pixels], dtype=np.float32)


def test_hls_lon_lat_points_are_reprojected_and_sampled(hls_path):
    with rasterio.open(hls_path) as ds:
        pts = _points_at(ds, HLS_PIXELS, "EPSG:4326", cls=["a", "b", "a", "c", "b"])
        expected = _direct(ds, HLS_PIXELS)
        utm = _points_at(ds, HLS_PIXELS)
    samples = sample_raster(hls_path, pts, label="cls")
    assert isinstance(samples, Samples) and len(samples) == 5
    assert samples.values.dtype == np.float32 and samples.values.shape == (5, 10)
    np.testing.assert_array_equal(samples.values, expected)
    np.testing.assert_array_equal(samples.rowcol, HLS_PIXELS)
    np.testing.assert_allclose(samples.xy, np.stack([utm.x, utm.y], 1), atol=1e-6)
    assert samples.band_names == [f"band_{i}" for i in range(1, 11)]
    assert samples.labels.tolist() == ["a", "b", "a", "c", "b"]
    assert (samples.n_total, samples.n_outside, samples.n_nodata) == (5, 0, 0)
    assert samples.index.tolist() == [0, 1, 2, 3, 4]
    assert samples.crs.to_epsg() == 32614
    assert samples.summary().startswith(
        f"5 of 5 points sampled from {hls_path} (0 without a label, 0 outside the raster, 0 on nodata)")
    assert "labels: a=2, b=2, c=1" in samples.summary()


def test_points_proj_cannot_transform_count_as_outside(hls_path):
    with rasterio.open(hls_path) as ds:
        pts = _points_at(ds, HLS_PIXELS[:2], "EPSG:4326")
        expected = _direct(ds, HLS_PIXELS[:2])
    bad = Points(np.r_[pts.x, 28.5], np.r_[pts.y, -99.0], "EPSG:4326")  # third point: lon/lat swapped
    assert np.isnan(bad.to_crs("EPSG:32614").x[2])
    samples = sample_raster(hls_path, bad)
    assert (samples.n_outside, samples.n_nodata, samples.index.tolist()) == (1, 0, [0, 1])
    np.testing.assert_array_equal(samples.values, expected)


def test_hls_bands_by_index_sensor_name_and_alias(hls_path):
    with rasterio.open(hls_path) as ds:
        pts = _points_at(ds, HLS_PIXELS)
        expected = _direct(ds, HLS_PIXELS, [4, 5, 1])
        by_index = sample_raster(ds, pts, [4, 5, 1])
        assert not ds.closed  # an open dataset passed in is left open
    by_name = sample_raster(hls_path, pts, ["red", "NIR", "B01"], sensor="hls_l30")
    np.testing.assert_array_equal(by_index.values, expected)
    np.testing.assert_array_equal(by_name.values, expected)
    assert by_index.band_names == ["band_4", "band_5", "band_1"]
    assert by_name.band_names == ["red", "nir", "coastal"]
    assert sample_raster(hls_path, pts, ["band_7"]).band_names == ["band_7"]
    assert sample_raster(hls_path, pts, sensor="hls_l30").band_names[-2:] == ["tir1", "tir2"]


def test_band_errors_name_the_band_and_list_the_bands(hls_path):
    with rasterio.open(hls_path) as ds:
        pts = _points_at(ds, HLS_PIXELS[:1])
    with pytest.raises(
        KeyError, match=r"hls_10band_224\.tif has no band 11 \(bands are numbered from 1\): 1=band_1.*10=band_10"
    ):
        sample_raster(hls_path, pts, [11])
    with pytest.raises(KeyError, match=r"has no band 'nir'; bands: 1=band_1, 2=band_2.*pass sensor="):
        sample_raster(hls_path, pts, ["nir"])
    with pytest.raises(KeyError, match=r"sensor 'hls_l30' has no band 'ndvi'; bands: coastal, blue.*tir2"):
        sample_raster(hls_path, pts, ["ndvi"], sensor="hls_l30")
    with pytest.raises(ValueError, match=r"has 10 bands but sensor 'sentinel1_grd' has 2 \(VV, VH\)"):
        sample_raster(hls_path, pts, sensor="sentinel1_grd")


@pytest.fixture(scope="module")
def landsat_case(landsat_path):
    """Points on valid, all-nodata, band-1-only-nodata and outside pixels of the Landsat scene."""
    with rasterio.open(landsat_path) as ds:
        data = ds.read()
        zero = data == 0
        valid = np.argwhere(~zero.any(0))[[0, 5000, -1]]
        empty = np.argwhere(zero.all(0))[[0, -1]]
        partial = np.argwhere(zero[0] & ~zero[1] & ~zero[2])[:1]
        outside = np.array([[100, -5], [ds.height + 3, 40]])
        kinds = ["valid", "empty", "outside", "valid", "partial", "empty", "outside", "valid"]
        pixels = [
            tuple(map(int, p))
            for p in (valid[0], empty[0], outside[0], valid[1], partial[0], empty[1], outside[1], valid[2])
        ]
        pts = _points_at(ds, pixels, kind=kinds, id=np.arange(8))
        values = {p: data[:, p[0], p[1]].astype(np.float32) for p, k in zip(pixels, kinds) if k != "outside"}
    return pts, pixels, kinds, values


def test_landsat_outside_and_nodata_points_are_dropped_and_counted(landsat_path, landsat_case):
    pts, pixels, kinds, values = landsat_case
    samples = sample_raster(landsat_path, pts, label="kind", sensor="landsat7_etm_rgb")
    keep = [i for i, k in enumerate(kinds) if k == "valid"]
    assert (samples.n_total, samples.n_outside, samples.n_nodata, len(samples)) == (8, 2, 3, 3)
    assert samples.index.tolist() == keep
    assert samples.labels.tolist() == ["valid"] * 3
    np.testing.assert_array_equal(samples.values, [values[pixels[i]] for i in keep])
    assert samples.band_names == ["red", "green", "blue"]
    assert "3 of 8 points sampled" in samples.summary() and "(0 without a label, 2 outside the raster, 3 on nodata)" in samples.summary()
    # nodata counts only in the selected bands: the band-1-only zero pixel is kept without band 1
    gb = sample_raster(landsat_path, pts, ["green", "blue"], sensor="landsat7_etm_rgb", label="id")
    keep_gb = [i for i, k in enumerate(kinds) if k in ("valid", "partial")]
    assert (gb.n_outside, gb.n_nodata) == (2, 2) and gb.labels.tolist() == [str(i) for i in keep_gb]
    np.testing.assert_array_equal(gb.values, [values[pixels[i]][1:] for i in keep_gb])


def test_landsat_lon_lat_points_from_a_csv_file(tmp_path, landsat_path, landsat_case):
    pts, pixels, kinds, values = landsat_case
    lonlat = pts.to_crs("EPSG:4326")
    path = lonlat.write(tmp_path / "field.csv")
    samples = sample_raster(landsat_path, path, label="kind")
    assert (samples.n_outside, samples.n_nodata, len(samples)) == (2, 3, 3)
    np.testing.assert_array_equal(samples.rowcol, [pixels[i] for i in samples.index])
    np.testing.assert_allclose(samples.xy, np.stack([pts.x, pts.y], 1)[samples.index], atol=1e-6)


def test_small_windows_give_the_same_values_with_bounded_reads(monkeypatch, landsat_path, landsat_case):
    pts, *_ = landsat_case
    whole = sample_raster(landsat_path, pts)
    shapes = []
    read = rasterio.io.DatasetReader.read

    def recording_read(self, *args, **kwargs):
        out = read(self, *args, **kwargs)
        shapes.append(out.shape)
        return out

    monkeypatch.setattr(rasterio.io.DatasetReader, "read", recording_read)
    small = sample_raster(landsat_path, pts, max_window_bytes=3 * 64 * 64)
    np.testing.assert_array_equal(small.values, whole.values)
    assert small.index.tolist() == whole.index.tolist() and small.n_nodata == whole.n_nodata
    assert 1 < len(shapes) <= 6  # at most one read per inside point, each within the byte budget
    assert all(b == 3 and b * h * w <= 3 * 64 * 64 for b, h, w in shapes)


def test_nan_and_masked_pixels_are_nodata(tmp_path, hls_path):
    with rasterio.open(hls_path) as src:
        profile = src.profile | {"width": 8, "height": 8, "nodata": None, "compress": None, "blockysize": 8}
        t = src.transform
        profile["transform"] = Affine(t.a, t.b, t.c + 16 * t.a, t.d, t.e, t.f + 32 * t.e)  # window (16, 32) origin
        data = src.read(window=Window(16, 32, 8, 8))
    data[2, 1, 1] = np.nan
    mask = np.full((8, 8), 255, np.uint8)
    mask[5, 6] = 0
    path = tmp_path / "small.tif"
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data)
        dst.write_mask(mask)
    with rasterio.open(path) as ds:
        pts = _points_at(ds, [(1, 1), (5, 6), (0, 0), (7, 7)])
    samples = sample_raster(path, pts)
    assert samples.index.tolist() == [2, 3] and samples.n_nodata == 2
    np.testing.assert_array_equal(samples.values, data[:, [0, 7], [0, 7]].T)
    assert sample_raster(path, pts, [1, 2]).n_nodata == 1  # the NaN is in band 3 only


def test_bad_inputs_name_what_is_wrong(tmp_path, hls_path, landsat_path, landsat_case):
    pts, pixels, kinds, _ = landsat_case
    with pytest.raises(KeyError, match=r"test points has no column 'class'; columns: kind, id"):
        sample_raster(landsat_path, pts, label="class")
    with rasterio.open(hls_path) as ds:
        hls_pts = _points_at(ds, HLS_PIXELS)
    with pytest.raises(
        ValueError,
        match=r"none of the 5 points of test points fall inside raster .*landsat7_rgb_byte\.tif: "
        r"raster bounds x 101985\.\.339315, y 2611485\.\.2826915; points x .* "
        r"\(in EPSG:32618; points read as EPSG:32614\).*CRS",
    ):
        sample_raster(landsat_path, hls_pts)
    swapped = Points(hls_pts.to_crs("EPSG:4326").y, hls_pts.to_crs("EPSG:4326").x, "EPSG:4326")
    with pytest.raises(
        ValueError,
        match=r"none of the 5 points of <points> can be transformed from EPSG:4326 to EPSG:32614.*swapped lon/lat",
    ):
        sample_raster(hls_path, swapped)
    empty = [i for i, k in enumerate(kinds) if k == "empty"]
    nodata_only = Points(pts.x[empty], pts.y[empty], pts.crs, source="edge points")
    with pytest.raises(
        ValueError, match=r"all 2 points of edge points inside raster .* fall on nodata \(nodata=0\.0\)"
    ):
        sample_raster(landsat_path, nodata_only)
    with pytest.raises(FileNotFoundError, match=r"raster not found: .*missing\.tif"):
        sample_raster(tmp_path / "missing.tif", pts)
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"not a tiff at all")
    with pytest.raises(ValueError, match=r"cannot open raster .*broken\.tif"):
        sample_raster(broken, pts)
    with pytest.raises(FileNotFoundError, match=r"points file not found: .*nowhere\.csv"):
        sample_raster(landsat_path, tmp_path / "nowhere.csv")
    projected = tmp_path / "projected.csv"
    projected.write_text("x,y\n440295.0,3159705.0\n")
    with pytest.raises(ValueError, match=r"projected\.csv.*pass crs="):
        sample_raster(hls_path, read_points(projected))
