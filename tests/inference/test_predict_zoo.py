"""predict_raster with the zoo's dense models: U-Net and the two-input, multi-output M3Net.

Small widths and depths keep the tests fast. The tile layout keeps the tile
origins on multiples of ``2**depth`` (pooling models see the same pixel grid as
a whole-image prediction) and the overlap wide enough for their receptive field,
so the tiled result matches whole-image prediction away from the border.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import rasterio

from rskeras.inference import predict_raster
from rskeras.models import m3net, unet

MEAN, STD = [90.0, 80.0, 70.0], [40.0, 35.0, 30.0]


@pytest.fixture(scope="module")
def landsat(landsat_path):
    with rasterio.open(landsat_path) as ds:
        raw = ds.read().astype(np.float32)
    invalid = (raw == 0).any(0)
    filled = np.where(invalid[None], np.float32(MEAN)[:, None, None], raw)
    return invalid, filled


def whole_image(model, arrays):
    """The model on whole scenes (cropped to multiples of 8) ``(bands, H, W)`` -> ``(n, h, w)``."""
    h, w = (arrays[0].shape[1] // 8) * 8, (arrays[0].shape[2] // 8) * 8
    batch = [a[:, :h, :w].transpose(1, 2, 0)[None] for a in arrays]
    inputs = keras.tree.pack_sequence_as(model.input, batch)
    return np.asarray(model(inputs, training=False))[0].transpose(2, 0, 1)


def interior(invalid, shape, margin):
    keep = np.zeros(shape, bool)
    keep[margin:-margin, margin:-margin] = True
    return keep & ~invalid[: shape[0], : shape[1]]


def test_unet_tiles_match_whole_image(landsat_path, landsat, tmp_path):
    invalid, filled = landsat
    keras.utils.set_random_seed(1)
    model = unet((None, None, 3), task="multiclass", class_names=["a", "b", "c"], depth=2, filters=4,
                 band_stats=(MEAN, STD))
    probs = whole_image(model, [filled])
    keep = interior(invalid, probs.shape[1:], 24)

    result = predict_raster(model, landsat_path, tmp_path / "unet.tif", tile_size=128, overlap=64,
                            probabilities=True, progress=False)

    with rasterio.open(result.dst) as ds:
        classes, tags = ds.read(1), ds.tags()
    with rasterio.open(result.probabilities) as ds:
        tiled = ds.read()
    assert result.kind == "dense" and json.loads(tags["CLASS_NAMES"]) == ["a", "b", "c"]
    np.testing.assert_array_equal(classes[invalid], 255)
    h, w = probs.shape[1:]
    np.testing.assert_allclose(tiled[:, :h, :w][:, keep], probs[:, keep], atol=1e-4)


def test_m3net_two_rasters_one_output(landsat_path, landsat, tmp_path):
    invalid, filled = landsat
    brightness = filled.mean(0, keepdims=True)
    with rasterio.open(landsat_path) as ds:
        profile = ds.profile
    profile.update(count=1, dtype="float32", nodata=-1)
    view = tmp_path / "view.tif"
    with rasterio.open(view, "w", **profile) as out:
        out.write(np.where(invalid, -1, brightness[0])[None])
    keras.utils.set_random_seed(2)
    model = m3net({"multispectral": (None, None, 3), "multiview": (None, None, 1)}, depth=2, filters=4,
                  band_stats={"multispectral": (MEAN, STD), "multiview": ([80.0], [30.0])})
    with pytest.raises(ValueError, match=r"4 outputs \(height, height_multiview, height_multispectral, building\).*output="):
        predict_raster(model, [landsat_path, view], tmp_path / "h.tif", progress=False)

    result = predict_raster(model, {"multiview": view, "multispectral": landsat_path}, tmp_path / "height.tif",
                            output="height", tile_size=128, overlap=64, progress=False)

    with rasterio.open(result.dst) as ds:
        height, profile_out = ds.read(), ds.profile
    assert profile_out["count"] == 1 and profile_out["dtype"] == "float32" and result.task == "regression"
    sub = keras.Model(model.input, model.output["height"])
    expected = whole_image(sub, [filled, np.where(invalid[None], np.float32(80.0), brightness)])
    keep = interior(invalid, expected.shape[1:], 24)
    np.testing.assert_array_equal(height[0][invalid], -9999)
    h, w = expected.shape[1:]
    np.testing.assert_allclose(height[:, :h, :w][:, keep], expected[:, keep], atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["height.tif", "view.tif"]
