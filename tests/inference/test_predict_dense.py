"""predict_raster with dense (fully convolutional) and two-input models on real rasters.

The tiled, blended result is compared with the same model applied to the whole
scene at once (nodata filled the same way), away from the scene's border.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from rskeras.heads import output_head
from rskeras.inference import predict_raster
from rskeras.inference.runner import ModelRunner
from rskeras.inference.sources import Source
from rskeras.layers import BandNormalization

LANDSAT_MEAN, LANDSAT_STD = [90.0, 80.0, 70.0], [40.0, 35.0, 30.0]


def conv_layers(seed):
    """Three 3x3 convolutions (receptive field reaches 3 px) and a 1x1 head, to apply to any input."""
    init = keras.initializers.GlorotUniform
    convs = [keras.layers.Conv2D(8, 3, padding="same", activation="tanh", kernel_initializer=init(seed + i),
                                 bias_initializer=keras.initializers.RandomNormal(0, 0.2, seed + 10 + i))
             for i in range(3)]

    def apply(x):
        for conv in convs:
            x = conv(x)
        return x

    return apply


def conv_model(n_bands, n_outputs, task, mean=None, std=None, spatial=(None, None), class_names=None, seed=0):
    inputs = keras.Input((*spatial, n_bands))
    x = conv_layers(seed)(BandNormalization(mean, std)(inputs))
    return keras.Model(inputs, output_head(x, task, n_outputs, class_names=class_names, kind="conv"))


def whole_image(model, arrays):
    """The model on whole scenes ``(bands, H, W)`` -> ``(n, H, W)``."""
    batch = [a.transpose(1, 2, 0)[None].astype("float32") for a in arrays]
    return np.asarray(model(batch if len(batch) > 1 else batch[0], training=False))[0].transpose(2, 0, 1)


@pytest.fixture(scope="module")
def landsat(landsat_path):
    with rasterio.open(landsat_path) as ds:
        raw = ds.read().astype(np.float32)
    invalid = (raw == 0).any(0)
    filled = np.where(invalid[None], np.float32(LANDSAT_MEAN)[:, None, None], raw)
    return raw, invalid, filled


def read(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.tags(), ds.descriptions


def test_tiled_blend_matches_whole_image_without_seams(landsat_path, landsat, tmp_path):
    raw, invalid, filled = landsat
    model = conv_model(3, 2, "regression", LANDSAT_MEAN, LANDSAT_STD)
    expected = whole_image(model, [filled])
    interior = np.zeros_like(invalid)
    interior[3:-3, 3:-3] = True  # the whole-image model pads with zeros, the tiles reflect
    check = interior & ~invalid

    result = predict_raster(model, landsat_path, tmp_path / "dense.tif", tile_size=64, overlap=16,
                            batch_size=5, progress=False)

    data, profile, tags, _ = read(result.dst)
    with rasterio.open(landsat_path) as ds:
        assert profile["crs"] == ds.crs and profile["transform"] == ds.transform
    assert (profile["width"], profile["height"], profile["count"], profile["dtype"]) == (791, 718, 2, "float32")
    assert result.kind == "dense" and result.n_nodata == invalid.sum() and result.n_pixels == (~invalid).sum()
    np.testing.assert_array_equal(data[:, invalid], -9999)
    np.testing.assert_allclose(data[:, check], expected[:, check], atol=1e-4)

    # the same tiles without overlap show seams, which the comparison above would catch
    predict_raster(model, landsat_path, tmp_path / "seams.tif", tile_size=64, overlap=0, progress=False)
    seams, *_ = read(tmp_path / "seams.tif")
    assert np.abs(seams[:, check] - expected[:, check]).max() > 1e-2


def test_dense_classes_fixed_tile_model_and_bounded_reads(landsat_path, landsat, tmp_path, monkeypatch):
    raw, invalid, filled = landsat
    names = ["water", "vegetation", "bare"]
    free = conv_model(3, 3, "multiclass", LANDSAT_MEAN, LANDSAT_STD, class_names=names, seed=3)
    fixed = conv_model(3, 3, "multiclass", LANDSAT_MEAN, LANDSAT_STD, spatial=(48, 48), class_names=names, seed=3)
    fixed.set_weights(free.get_weights())
    probs = whole_image(free, [filled])
    top2 = np.sort(probs, 0)[-2:]
    check = ~invalid & (top2[1] - top2[0] > 1e-4)
    check[:3], check[-3:], check[:, :3], check[:, -3:] = False, False, False, False
    heights = []
    original = Source.read

    def recording(self, window):
        heights.append(window.height)
        return original(self, window)

    monkeypatch.setattr(Source, "read", recording)
    result = predict_raster(fixed, landsat_path, tmp_path / "classes.tif", overlap=12, probabilities=True,
                            progress=False)

    assert max(heights) <= 48  # one strip of tiles at a time, never the scene
    data, profile, tags, _ = read(result.dst)
    assert profile["dtype"] == "uint8" and profile["nodata"] == 255 and json.loads(tags["CLASS_NAMES"]) == names
    np.testing.assert_array_equal(data[0][invalid], 255)
    np.testing.assert_array_equal(data[0][check], np.argmax(probs, 0)[check])
    pdata, pprofile, _, pdescriptions = read(result.probabilities)
    assert pdescriptions == tuple(names)
    np.testing.assert_allclose(pdata[:, check], probs[:, check], atol=1e-4)
    np.testing.assert_array_equal(pdata[:, invalid], -9999)


def test_small_scene_smaller_than_a_tile(hls_path, tmp_path):
    with rasterio.open(hls_path) as ds:
        raw = ds.read().astype(np.float32)
    mean, std = raw.reshape(10, -1).mean(1), raw.reshape(10, -1).std(1)
    model = conv_model(10, 1, "regression", mean, std)
    expected = whole_image(model, [raw])
    result = predict_raster(model, hls_path, tmp_path / "small.tif", tile_size=256, overlap=32, progress=False)
    data, profile, *_ = read(result.dst)
    assert (profile["width"], profile["height"]) == (224, 224) and result.n_nodata == 0
    np.testing.assert_allclose(data[:, 3:-3, 3:-3], expected[:, 3:-3, 3:-3], atol=1e-4)


@pytest.fixture(scope="module")
def second_raster(landsat_path, tmp_path_factory):
    """A float32 single-band raster on the Landsat grid: the band sum, nodata -1 where Landsat is nodata."""
    folder = tmp_path_factory.mktemp("second")
    with rasterio.open(landsat_path) as ds:
        raw = ds.read().astype(np.float32)
        profile = ds.profile
    band = np.where((raw == 0).any(0), -1, raw.sum(0) / 3)[None].astype(np.float32)
    profile.update(count=1, dtype="float32", nodata=-1)
    path = folder / "brightness.tif"
    with rasterio.open(path, "w", **profile) as out:
        out.write(band)
        out.set_band_description(1, "brightness")
    shifted = folder / "shifted.tif"
    profile.update(transform=profile["transform"] @ Affine.translation(1, 0))
    with rasterio.open(shifted, "w", **profile) as out:
        out.write(band)
    return path, shifted, band


def test_two_input_model_from_two_aligned_rasters(landsat_path, landsat, second_raster, tmp_path):
    raw, invalid, filled = landsat
    path, shifted, band = second_raster
    a, b = keras.Input((None, None, 3)), keras.Input((None, None, 1))
    xa = BandNormalization(LANDSAT_MEAN, LANDSAT_STD, ["red", "green", "blue"], name="norm_rgb")(a)
    xb = BandNormalization([80.0], [30.0], ["brightness"], name="norm_brightness")(b)
    x = conv_layers(5)(keras.layers.Concatenate()([xa, xb]))
    model = keras.Model([a, b], output_head(x, "binary", 1, class_names=["bright"], kind="conv"))
    second = np.where(invalid[None], np.float32(80.0), band)
    probs = whole_image(model, [filled, second])
    check = ~invalid & (np.abs(probs[0] - 0.5) > 1e-4)
    check[:3], check[-3:], check[:, :3], check[:, -3:] = False, False, False, False

    result = predict_raster(model, [landsat_path, path], tmp_path / "two.tif", tile_size=64, overlap=16,
                            bands=[[1, 2, 3], None], probabilities=True, progress=False)

    data, profile, tags, _ = read(result.dst)
    assert result.class_names == ["not bright", "bright"]
    np.testing.assert_array_equal(data[0][invalid], 255)
    np.testing.assert_array_equal(data[0][check], (probs[0][check] > 0.5).astype(np.uint8))
    pdata, *_ = read(result.probabilities)
    np.testing.assert_allclose(pdata[0][check], probs[0][check], atol=1e-4)

    with pytest.raises(ValueError, match=r"not aligned: .*landsat7_rgb_byte\.tif and .*shifted\.tif differ in transform"):
        predict_raster(model, [landsat_path, shifted], tmp_path / "bad.tif", progress=False)
    with pytest.raises(ValueError, match=r"one list \(or None\) per raster"):
        predict_raster(model, [landsat_path, path], tmp_path / "bad.tif", bands=[1, 2, 3], progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.tif", "two_probabilities.tif"]


def test_dense_failure_mid_way_leaves_nothing(landsat_path, tmp_path, monkeypatch):
    model = conv_model(3, 2, "multiclass", LANDSAT_MEAN, LANDSAT_STD)
    calls = []
    original = ModelRunner.__call__

    def failing(self, inputs, batch_size):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt("interrupted mid-way")
        return original(self, inputs, batch_size)

    monkeypatch.setattr(ModelRunner, "__call__", failing)
    with pytest.raises(KeyboardInterrupt):
        predict_raster(model, landsat_path, tmp_path / "x.tif", tile_size=64, probabilities=True, progress=False)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"tile_size=32 but the model takes 48 x 48 tiles only"):
        predict_raster(conv_model(3, 2, "multiclass", spatial=(48, 48)), landsat_path, tmp_path / "x.tif",
                       tile_size=32, progress=False)
    with pytest.raises(ValueError, match=r"overlap=32 must be smaller than the tile \(32 px\)"):
        predict_raster(model, landsat_path, tmp_path / "x.tif", tile_size=32, overlap=32, progress=False)
    with pytest.raises(ValueError, match=r"kind='pixel' does not fit"):
        predict_raster(model, landsat_path, tmp_path / "x.tif", kind="pixel", progress=False)
    assert list(tmp_path.iterdir()) == []
