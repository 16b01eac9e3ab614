"""GeoTIFF -> Earth Engine layout patches: stride, nodata skipping, labels, statistics (real Landsat scene)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from rskeras.data import ee_patch_dataset, geotiff_to_ee_patches, load_band_stats


@pytest.fixture(scope="module")
def landsat_label(landsat_path, tmp_path_factory):
    """A label raster on the Landsat grid: 1 where red > green, else 0 (a stand-in for a class map)."""
    path = tmp_path_factory.mktemp("label") / "label.tif"
    with rasterio.open(landsat_path) as src:
        data = src.read()
        profile = src.profile | {"count": 1, "dtype": "uint8", "nodata": None}
        label = (data[0] > data[1]).astype(np.uint8)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(label, 1)
    return path, label, np.moveaxis(data, 0, -1)


def test_chips_skip_nodata_and_carry_the_label(landsat_path, landsat_label, tmp_path):
    label_path, label, image = landsat_label
    s = geotiff_to_ee_patches(landsat_path, tmp_path, 64, stride=48, band_names=["red", "green", "blue"], label_raster=label_path, label_name="cls", max_nodata_fraction=0.25)
    meta = json.loads(open(s.metadata).read())
    assert s.written + s.skipped == 17 * 15  # ceil((718-64)/48)+1 rows x ceil((791-64)/48)+1 cols
    assert s.skipped > 0 and s.mixer is None  # incomplete grid: no mixer.json, origins in patches.json
    assert len(meta["origins"]) == s.written and meta["stride"] == [48, 48]
    ds = ee_patch_dataset(str(tmp_path / "patches-*.tfrecord.gz"), ["red", "green", "blue"], label="cls", batch_size=None, ordered=True)
    for (x, y), (r, c) in zip(ds.take(5), meta["origins"]):
        x, y = x.numpy(), y.numpy()[..., 0]
        h, w = min(64, image.shape[0] - r), min(64, image.shape[1] - c)
        np.testing.assert_array_equal(x[:h, :w], image[r : r + h, c : c + w])
        np.testing.assert_array_equal(y[:h, :w], label[r : r + h, c : c + w])
        assert (x[..., 0] == 0).mean() <= 0.25  # nodata 0 is at most a quarter of the patch
    stats = load_band_stats(tmp_path)
    assert stats.bands == ("red", "green", "blue") and stats.nodata == 0.0
    assert 0 < stats.mean[0] < 255 and min(stats.count) > 0


def test_chip_errors(landsat_path, hls_path, tmp_path):
    with pytest.raises(ValueError, match="has 3 bands but 2 band names"):
        geotiff_to_ee_patches(landsat_path, tmp_path, 64, band_names=["a", "b"])
    with pytest.raises(ValueError, match="is not aligned"):
        geotiff_to_ee_patches(landsat_path, tmp_path, 64, label_raster=hls_path)
    with pytest.raises(ValueError, match=r"max_nodata_fraction within \[0, 1\], got 1000, -1.0"):
        geotiff_to_ee_patches(landsat_path, tmp_path / "none", 64, max_nodata_fraction=-1.0)
    empty = tmp_path / "nodata.tif"  # the Landsat grid with every pixel nodata
    with rasterio.open(landsat_path) as src:
        with rasterio.open(empty, "w", **src.profile) as dst:
            dst.write(np.zeros((src.count, src.height, src.width), src.dtypes[0]))
    with pytest.raises(ValueError, match="nothing was written"):
        geotiff_to_ee_patches(empty, tmp_path / "none", 64, max_nodata_fraction=0.5)
    assert list((tmp_path / "none").iterdir()) == []
