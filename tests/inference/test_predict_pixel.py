"""predict_raster with pixel models on the real HLS chip and Landsat scene.

The models have fixed weights, so every output value is checked against numpy
computed on the full arrays.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import rasterio

import rskeras
from rskeras.heads import output_head
from rskeras.inference import PredictionResult, predict_raster
from rskeras.inference.runner import ModelRunner
from rskeras.data import BandError
from rskeras.layers import BandNormalization

HLS_BANDS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]


def pixel_model(n_bands, task, n_outputs, weights, bias, mean=None, std=None, band_names=None, class_names=None):
    inputs = keras.Input((n_bands,), name="bands")
    x = BandNormalization(mean, std, band_names)(inputs)
    outputs = output_head(x, task, n_outputs, class_names=class_names)
    model = keras.Model(inputs, outputs)
    model.get_layer("output_logits").set_weights([np.asarray(weights, "float32"), np.asarray(bias, "float32")])
    return model


@pytest.fixture(scope="module")
def hls_holes(hls_path, tmp_path_factory):
    """The HLS chip with band descriptions, some -9999 pixels in single bands and a NaN."""
    path = tmp_path_factory.mktemp("hls") / "hls_holes.tif"
    with rasterio.open(hls_path) as ds:
        profile = ds.profile
        data = ds.read()
    data[3, 10:20, 30:45] = -9999  # red only
    data[9, 100, 5:9] = -9999  # tir2 only
    data[4, 200, 200] = np.nan
    with rasterio.open(path, "w", **profile) as out:
        out.write(data)
        out.descriptions = tuple(HLS_BANDS)
    return path


def read_all(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.profile, ds.tags(), ds.descriptions


def listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_regression_values_georeferencing_and_nodata(hls_holes, tmp_path):
    with rasterio.open(hls_holes) as ds:
        raw = ds.read().astype(np.float64)
        src_profile = ds.profile
    invalid = (raw == -9999).any(0) | np.isnan(raw).any(0)
    x = raw.reshape(10, -1).T
    mean, std = np.nanmean(x, 0), np.nanstd(x, 0)
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(10, 2)), np.array([0.5, -1.0])
    model = pixel_model(10, "regression", 2, w, b, mean, std, class_names=["ndvi", "height"])
    dst = tmp_path / "values.tif"

    result = predict_raster(model, hls_holes, dst, window_size=64, progress=False)

    assert isinstance(result, PredictionResult)
    assert result.dst == dst and result.probabilities is None and result.kind == "pixel"
    assert result.task == "regression" and result.class_names == ["ndvi", "height"]
    assert result.n_nodata == invalid.sum() == 15 * 10 + 4 + 1
    assert result.n_pixels == 224 * 224 - result.n_nodata
    data, profile, tags, descriptions = read_all(dst)
    assert profile["crs"] == src_profile["crs"] and profile["transform"] == src_profile["transform"]
    assert (profile["width"], profile["height"], profile["count"]) == (224, 224, 2)
    assert profile["dtype"] == "float32" and profile["nodata"] == -9999
    assert profile["tiled"] and profile["compress"] == "deflate"
    assert descriptions == ("ndvi", "height") and tags["RSKERAS_TASK"] == "regression"
    expected = (((x - mean) / std) @ w + b).T.reshape(2, 224, 224)
    np.testing.assert_array_equal(data[:, invalid], -9999)
    np.testing.assert_allclose(data[:, ~invalid], expected[:, ~invalid], rtol=1e-4, atol=1e-4)
    assert listing(tmp_path) == ["values.tif"]


def test_bands_by_model_band_names_and_explicit(hls_holes, tmp_path):
    with rasterio.open(hls_holes) as ds:
        red, nir = ds.read(4).astype(np.float64), ds.read(5).astype(np.float64)
    invalid = (red == -9999) | (nir == -9999) | np.isnan(nir)
    model = pixel_model(2, "regression", 1, [[-1.0], [1.0]], [0.0], band_names=["red", "nir"])
    expected = nir - red
    for bands in (None, ["red", "nir"], [4, 5]):
        dst = tmp_path / f"diff_{bands}.tif"
        result = predict_raster(model, hls_holes, dst, bands=bands, window_size=100, progress=False)
        data, *_ = read_all(dst)
        # the tir2 holes do not matter to a model that reads red and nir only
        assert result.n_nodata == invalid.sum() == 151
        np.testing.assert_array_equal(data[0][invalid], -9999)
        np.testing.assert_allclose(data[0][~invalid], expected[~invalid], rtol=1e-6)


def test_multiclass_class_map_probabilities_and_colormap(landsat_path, tmp_path):
    with rasterio.open(landsat_path) as ds:
        raw = ds.read().astype(np.float64)
    invalid = (raw == 0).any(0)
    mean, std = np.array([90.0, 80.0, 70.0]), np.array([40.0, 35.0, 30.0])
    w = np.array([[2.0, -1.0, 0.5, 0.0], [-1.0, 2.0, 0.0, 0.3], [0.5, -0.5, 1.5, -1.0]])
    b = np.array([0.0, 0.1, -0.2, 0.3])
    names = ["water", "forest", "urban", "crop"]
    model = pixel_model(3, "multiclass", 4, w, b, mean, std, band_names=["red", "green", "blue"], class_names=names)
    dst = tmp_path / "classes.tif"

    result = predict_raster(model, landsat_path, dst, probabilities=True, window_size=64, batch_size=1000, progress=False)

    assert result.probabilities == tmp_path / "classes_probabilities.tif"
    assert result.class_names == names and result.n_nodata == invalid.sum()
    logits = ((raw.reshape(3, -1).T - mean) / std) @ w + b
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs = (probs / probs.sum(1, keepdims=True)).T.reshape(4, *invalid.shape)
    classes = np.argmax(probs, 0)
    top2 = np.sort(probs, 0)[-2:]
    clear = ~invalid & (top2[1] - top2[0] > 1e-5)

    data, profile, tags, descriptions = read_all(dst)
    assert profile["dtype"] == "uint8" and profile["nodata"] == 255 and profile["count"] == 1
    assert json.loads(tags["CLASS_NAMES"]) == names and tags["RSKERAS_TASK"] == "multiclass"
    np.testing.assert_array_equal(data[0][invalid], 255)
    np.testing.assert_array_equal(data[0][clear], classes[clear])
    assert set(np.unique(data[0][~invalid])) <= {0, 1, 2, 3} and len(np.unique(data[0][~invalid])) == 4
    with rasterio.open(dst) as ds:
        colors = [ds.colormap(1)[i] for i in range(4)]
    assert len(set(colors)) == 4

    pdata, pprofile, ptags, pdescriptions = read_all(result.probabilities)
    assert pprofile["dtype"] == "float32" and pprofile["nodata"] == -9999 and pdescriptions == tuple(names)
    assert pprofile["transform"] == profile["transform"] and pprofile["crs"] == profile["crs"]
    np.testing.assert_array_equal(pdata[:, invalid], -9999)
    np.testing.assert_allclose(pdata[:, ~invalid], probs[:, ~invalid], atol=1e-5)
    assert listing(tmp_path) == ["classes.tif", "classes_probabilities.tif"]

    # the class map alone: the classes are decoded in the model's compiled call, not from written probabilities
    alone = predict_raster(model, landsat_path, tmp_path / "alone.tif", window_size=64, batch_size=1000,
                           progress=False)
    assert alone.probabilities is None and alone.n_nodata == invalid.sum()
    adata, aprofile, atags, _ = read_all(tmp_path / "alone.tif")
    assert aprofile["dtype"] == "uint8" and aprofile["nodata"] == 255 and json.loads(atags["CLASS_NAMES"]) == names
    np.testing.assert_array_equal(adata[0][invalid], 255)
    np.testing.assert_array_equal(adata[0][clear], classes[clear])


def test_binary_and_multilabel_maps(landsat_path, tmp_path):
    with rasterio.open(landsat_path) as ds:
        raw = ds.read().astype(np.float64)
    invalid = (raw == 0).any(0)
    x = raw.reshape(3, -1).T / 100.0
    w = np.array([[1.0, -1.0], [-1.0, 0.5], [0.3, 0.7]])
    b = np.array([0.05, -0.6])

    binary = pixel_model(3, "binary", 1, w[:, :1] * 0.01, b[:1], class_names=["bright"])
    dst = tmp_path / "binary.tif"
    result = predict_raster(binary, landsat_path, dst, probabilities=tmp_path / "p.tif", window_size=128, progress=False)
    data, profile, tags, descriptions = read_all(dst)
    logit = (x @ w[:, :1] + b[:1]).T.reshape(invalid.shape)
    clear = ~invalid & (np.abs(logit) > 1e-4)
    assert result.class_names == ["not bright", "bright"] == json.loads(tags["CLASS_NAMES"])
    np.testing.assert_array_equal(data[0][clear], (logit[clear] > 0).astype(np.uint8))
    np.testing.assert_array_equal(data[0][invalid], 255)
    pdata, *_ = read_all(tmp_path / "p.tif")
    np.testing.assert_allclose(pdata[0][~invalid], 1 / (1 + np.exp(-logit[~invalid])), atol=1e-5)

    multilabel = pixel_model(3, "multilabel", 2, w * 0.01, b, class_names=["a", "b"])
    dst = tmp_path / "multilabel.tif"
    predict_raster(multilabel, landsat_path, dst, window_size=128, progress=False)
    data, profile, tags, descriptions = read_all(dst)
    logits = (x @ w + b).T.reshape(2, *invalid.shape)
    assert profile["count"] == 2 and descriptions == ("a", "b") and profile["nodata"] == 255
    for k in range(2):
        clear = ~invalid & (np.abs(logits[k]) > 1e-4)
        np.testing.assert_array_equal(data[k][clear], (logits[k][clear] > 0).astype(np.uint8))
        np.testing.assert_array_equal(data[k][invalid], 255)


def test_model_from_keras_file_and_custom_output_nodata(hls_holes, tmp_path):
    model = pixel_model(2, "regression", 1, [[-1.0], [1.0]], [0.0], band_names=["red", "nir"])
    path = tmp_path / "diff.keras"
    model.save(path)
    dst = tmp_path / "out" / "diff.tif"
    result = predict_raster(str(path), hls_holes, dst, nodata=-32768.0, progress=False)
    data, profile, *_ = read_all(dst)
    assert profile["nodata"] == -32768 and (data == -32768).sum() == result.n_nodata == 151
    assert rskeras.predict_raster is predict_raster


def test_bad_inputs_name_what_is_wrong_and_write_nothing(hls_holes, landsat_path, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "x.tif"
    model10 = pixel_model(10, "regression", 1, np.ones((10, 1)), [0.0])
    model3 = pixel_model(3, "regression", 1, np.ones((3, 1)), [0.0])

    with pytest.raises(BandError, match=r"raster .*hls_holes\.tif has no band 'ndvi'; bands: .*4=red"):
        predict_raster(model3, hls_holes, dst, bands=["red", "ndvi", "nir"], progress=False)
    with pytest.raises(KeyError, match=r"hls_holes\.tif has no band 11 \(bands are numbered from 1\): 1=coastal"):
        predict_raster(model3, hls_holes, dst, bands=[1, 2, 11], progress=False)
    with pytest.raises(ValueError, match=r"selects 2 band\(s\) \(coastal, blue\) but the model takes 3"):
        predict_raster(model3, hls_holes, dst, bands=[1, 2], progress=False)
    with pytest.raises(ValueError, match=r"hls_holes\.tif has 10 band\(s\).*model takes 3.*bands="):
        predict_raster(model3, hls_holes, dst, progress=False)
    with pytest.raises(ValueError, match=r"landsat7_rgb_byte\.tif has 3 band\(s\).*model takes 10"):
        predict_raster(model10, landsat_path, dst, progress=False)
    with pytest.raises(FileNotFoundError, match=r"missing\.tif"):
        predict_raster(model3, tmp_path / "missing.tif", dst, progress=False)
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(ValueError, match=r"cannot open raster .*notes\.tif"):
        predict_raster(model3, text, dst, progress=False)
    with pytest.raises(ValueError, match=r"regression model has no probabilities"):
        predict_raster(model3, landsat_path, dst, probabilities=True, progress=False)
    with pytest.raises(ValueError, match=r"model takes 1 input\(s\) but 2 raster\(s\)"):
        predict_raster(model3, [landsat_path, landsat_path], dst, progress=False)
    with pytest.raises(ValueError, match=r"dst .*out is an existing directory"):
        predict_raster(model10, hls_holes, out, progress=False)
    with pytest.raises(ValueError, match=r"dst .*x\.png must end in \.tif or \.tiff"):
        predict_raster(model10, hls_holes, out / "x.png", progress=False)
    with pytest.raises(ValueError, match=r"dst .*hls_holes\.tif is also an input"):
        predict_raster(model10, hls_holes, hls_holes, progress=False)
    assert listing(out) == []


@pytest.mark.parametrize("probabilities", [True, False])  # False: the classes decoded in the model's call
@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_mid_way_leaves_nothing_and_keeps_old_output(landsat_path, tmp_path, monkeypatch, error,
                                                             probabilities):
    model = pixel_model(3, "multiclass", 2, np.ones((3, 2)), [0.0, 0.1])
    dst = tmp_path / "classes.tif"
    dst.write_bytes(b"previous result")
    calls = []
    original = ModelRunner.__call__

    def failing(self, inputs, batch_size):
        calls.append(1)
        if len(calls) == 5:
            raise error("model failed mid-way")
        return original(self, inputs, batch_size)

    monkeypatch.setattr(ModelRunner, "__call__", failing)
    with pytest.raises(error, match="mid-way"):
        predict_raster(model, landsat_path, dst, probabilities=probabilities, window_size=128, batch_size=4096,
                       progress=False)
    assert len(calls) == 5
    assert listing(tmp_path) == ["classes.tif"] and dst.read_bytes() == b"previous result"
