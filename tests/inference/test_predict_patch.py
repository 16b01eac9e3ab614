"""predict_raster with patch models (a prediction per tile) on the real Landsat scene.

The models average their normalised patch and apply a fixed linear layer, so
every cell's value is checked against numpy.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import rasterio
from numpy.lib.stride_tricks import sliding_window_view
from rasterio.transform import Affine

from rskeras.heads import output_head
from rskeras.inference import predict_raster
from rskeras.layers import BandNormalization

MEAN, STD = np.array([90.0, 80.0, 70.0]), np.array([40.0, 35.0, 30.0])
W = np.array([[1.5, -0.5, 0.2], [-1.0, 1.0, 0.4], [0.3, -0.8, -0.6]])
B = np.array([0.1, -0.2, 0.05])


def patch_model(tile, task, class_names=None):
    inputs = keras.Input((tile, tile, 3))
    x = keras.layers.GlobalAveragePooling2D()(BandNormalization(MEAN, STD)(inputs))
    model = keras.Model(inputs, output_head(x, task, 3, class_names=class_names))
    model.get_layer("output_logits").set_weights([W.astype("float32"), B.astype("float32")])
    return model


@pytest.fixture(scope="module")
def landsat(landsat_path):
    with rasterio.open(landsat_path) as ds:
        raw = ds.read().astype(np.float64)
        transform = ds.transform
    invalid = (raw == 0).any(0)
    normalised = np.where(invalid[None], 0.0, (raw - MEAN[:, None, None]) / STD[:, None, None])
    return normalised, invalid, transform


def expected_cells(normalised, tile, overlap):
    """Logits of every cell's patch, ``(3, rows, cols)``, with the reflect padding of predict_raster."""
    _, h, w = normalised.shape
    stride, pad = tile - overlap, overlap // 2
    rows, cols = -(-h // stride), -(-w // stride)
    bottom, right = (rows - 1) * stride - pad + tile - h, (cols - 1) * stride - pad + tile - w
    padded = np.pad(normalised, ((0, 0), (pad, bottom), (pad, right)), mode="reflect")
    means = sliding_window_view(padded, (tile, tile), axis=(1, 2))[:, ::stride, ::stride].mean(axis=(-2, -1))
    return np.einsum("chw,co->ohw", means, W) + B[:, None, None]


def test_coarse_values_transform_and_nodata(landsat_path, landsat, tmp_path):
    normalised, invalid, transform = landsat
    result = predict_raster(patch_model(16, "regression"), landsat_path, tmp_path / "coarse.tif", progress=False)

    with rasterio.open(result.dst) as ds:
        data, profile = ds.read(), ds.profile
    assert result.kind == "patch" and result.n_nodata == invalid.sum()
    assert (profile["height"], profile["width"], profile["count"]) == (45, 50, 3)
    assert profile["transform"] == transform @ Affine.scale(16)
    expected = expected_cells(normalised, 16, 0)
    padded = np.zeros((720, 800), bool)
    padded[:718, :791] = invalid
    counts = padded.reshape(45, 16, 50, 16).sum(axis=(1, 3))
    sizes = np.outer(np.minimum(16, 718 - 16 * np.arange(45)), np.minimum(16, 791 - 16 * np.arange(50)))
    cell_nodata = counts * 2 >= sizes
    assert 0 < cell_nodata.sum() < cell_nodata.size
    np.testing.assert_array_equal(data[:, cell_nodata], -9999)
    np.testing.assert_allclose(data[:, ~cell_nodata], expected[:, ~cell_nodata], atol=1e-4)


def test_overlapping_patches_and_pixel_layout(landsat_path, landsat, tmp_path):
    normalised, invalid, transform = landsat
    model = patch_model(16, "regression")
    coarse = predict_raster(model, landsat_path, tmp_path / "coarse.tif", overlap=8, progress=False)
    with rasterio.open(coarse.dst) as ds:
        data, profile = ds.read(), ds.profile
    assert (profile["height"], profile["width"]) == (90, 99)
    assert profile["transform"] == transform @ Affine.scale(8)
    expected = expected_cells(normalised, 16, 8)
    valid = data[0] != -9999
    np.testing.assert_allclose(data[:, valid], expected[:, valid], atol=1e-4)

    pixel = predict_raster(model, landsat_path, tmp_path / "pixel.tif", overlap=8, patch_output="pixel",
                           progress=False)
    with rasterio.open(pixel.dst) as ds:
        per_pixel, pprofile = ds.read(), ds.profile
    assert (pprofile["height"], pprofile["width"]) == (718, 791) and pprofile["transform"] == transform
    np.testing.assert_array_equal(per_pixel[:, invalid], -9999)
    cells = expected.repeat(8, axis=1).repeat(8, axis=2)[:, :718, :791]
    np.testing.assert_allclose(per_pixel[:, ~invalid], cells[:, ~invalid], atol=1e-4)


def test_patch_classifier_class_map(landsat_path, landsat, tmp_path):
    normalised, invalid, _ = landsat
    names = ["water", "forest", "city"]
    result = predict_raster(patch_model(32, "multiclass", names), landsat_path, tmp_path / "classes.tif",
                            probabilities=True, batch_size=7, progress=False)
    with rasterio.open(result.dst) as ds:
        data, tags = ds.read(1), ds.tags()
        colors = {ds.colormap(1)[i] for i in range(3)}
    logits = expected_cells(normalised, 32, 0)
    top2 = np.sort(logits, 0)[-2:]
    clear = (data != 255) & (top2[1] - top2[0] > 1e-4)
    assert json.loads(tags["CLASS_NAMES"]) == names and len(colors) == 3
    assert clear.sum() > 100
    np.testing.assert_array_equal(data[clear], np.argmax(logits, 0)[clear])
    with rasterio.open(result.probabilities) as ds:
        probs = ds.read()
    assert probs.shape == (3, *data.shape)
    np.testing.assert_allclose(probs[:, data != 255].sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(probs[:, data == 255], -9999)
