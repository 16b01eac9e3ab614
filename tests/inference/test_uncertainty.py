"""predict_raster(..., uncertainty="tta" | "mc_dropout"): the mean prediction and its spread, on the real HLS chip.

TTA is checked against the 8 views computed here with ``np.rot90`` and flips (an independent spelling of the
dihedral group), Monte Carlo dropout against a model whose batch normalisation would give itself away in
training mode, and the units against the definitions: entropy in nats of the mean probabilities, standard
deviation in the target's units.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import rasterio

import rskeras
from rskeras.heads import output_head
from rskeras.inference.uncertainty import DIHEDRAL, dihedral, undo_dihedral, uncertainty_bands
from rskeras.layers import BandNormalization
from rskeras.models import ann, cnn, unet

CLASSES = ["water", "forest", "urban"]
BANDS = ["blue", "green", "red", "nir"]


@pytest.fixture(scope="module")
def chip(hls_path) -> np.ndarray:
    """The chip's blue, green, red and NIR bands, ``(224, 224, 4)`` float32 (no nodata in the chip)."""
    with rasterio.open(hls_path) as ds:
        return np.moveaxis(ds.read([2, 3, 4, 5]).astype("float32"), 0, -1)


@pytest.fixture(scope="module")
def stats(chip):
    pixels = chip.reshape(-1, 4)
    return pixels.mean(0), pixels.std(0)


def _read(path, **kwargs) -> np.ndarray:
    with rasterio.open(path, **kwargs) as ds:
        return ds.read()


def _views(x: np.ndarray):
    """The 8 symmetries of ``(n, H, W, c)`` tiles and their inverses, written with np.rot90."""
    for k in range(4):
        for flip in (False, True):
            def forward(t, k=k, flip=flip):
                return np.rot90(t[:, :, ::-1] if flip else t, k, axes=(1, 2))

            def back(t, k=k, flip=flip):
                t = np.rot90(t, -k, axes=(1, 2))
                return t[:, :, ::-1] if flip else t

            yield forward, back


def test_dihedral_is_the_group_of_the_square():
    x = np.arange(2 * 5 * 5 * 2, dtype="float32").reshape(2, 5, 5, 2)
    views = [dihedral(x, i) for i in range(len(DIHEDRAL))]
    expected = [forward(x) for forward, _ in _views(x)]
    assert len({v.tobytes() for v in views}) == 8
    assert {v.tobytes() for v in views} == {e.tobytes() for e in expected}
    for i, view in enumerate(views):
        np.testing.assert_array_equal(undo_dihedral(view, i), x)


def test_uncertainty_bands_units():
    """Entropy in nats (0 for a sure class, ln K for uniform), per label for binary; std for regression."""
    probabilities = np.array([[1.0, 1 / 3], [0.0, 1 / 3], [0.0, 1 / 3]], "float32")[:, :, None]  # (3, 2, 1)
    _, entropy = uncertainty_bands(probabilities, "multiclass", 3)
    np.testing.assert_allclose(entropy[0, :, 0], [0.0, math.log(3)], atol=1e-6)
    _, entropy = uncertainty_bands(np.array([[[0.5, 1.0]]], "float32"), "binary", 1)
    np.testing.assert_allclose(entropy[0, 0], [math.log(2), 0.0], atol=1e-6)
    mean, std = uncertainty_bands(np.array([[[2.0]], [[0.25]]], "float32"), "regression", 1)
    assert mean[0, 0, 0] == 2.0 and std[0, 0, 0] == 0.5


@pytest.fixture(scope="module")
def segmenter(stats) -> keras.Model:
    keras.utils.set_random_seed(1)
    return unet((None, None, 4), task="multiclass", class_names=CLASSES, band_names=BANDS, band_stats=stats,
                depth=2, filters=4)


def test_tta_of_a_dense_model_is_the_mean_of_the_eight_views(segmenter, chip, hls_path, tmp_path):
    """One tile covering the chip: the probabilities are the mean of the 8 turned-back views; the uncertainty
    band is their entropy in nats; the map is the class of the mean (a COG here)."""
    result = rskeras.predict_raster(segmenter, hls_path, tmp_path / "map.tif", sensor="hls_l30", tile_size=224,
                                    overlap=0, probabilities=True, uncertainty="tta", cog=True, progress=False)
    assert result.tile_size == 224 and result.uncertainty == tmp_path / "map_uncertainty.tif"
    x = chip[None]
    mean = np.mean([back(np.asarray(segmenter(np.ascontiguousarray(forward(x)), training=False)))
                    for forward, back in _views(x)], axis=0)[0]
    probabilities = np.moveaxis(_read(result.probabilities), 0, -1)
    np.testing.assert_allclose(probabilities, mean, atol=1e-5)
    entropy = _read(result.uncertainty)[0]
    np.testing.assert_allclose(entropy, -(mean * np.log(mean)).sum(-1), atol=1e-5)
    assert 0 <= entropy.min() and entropy.max() <= math.log(3) + 1e-6
    top = np.sort(mean, axis=-1)
    clear = top[..., -1] - top[..., -2] > 1e-5  # not a tie within float32 rounding
    np.testing.assert_array_equal(_read(result.dst)[0][clear], mean.argmax(-1)[clear])
    with rasterio.open(result.uncertainty) as ds:
        assert ds.tags()["UNCERTAINTY_UNITS"] == "nats" and ds.tags()["UNCERTAINTY_METHOD"] == "tta"
        assert ds.descriptions == ("entropy (nats)",) and ds.dtypes[0] == "float32"
        assert (ds.crs, ds.transform) == (rasterio.open(hls_path).crs, rasterio.open(hls_path).transform)
    assert rskeras.inference.validate_cog(result.uncertainty) == []


def test_tta_of_a_patch_classifier(stats, chip, hls_path, tmp_path):
    """Coarse cells of 16 px: each cell's probabilities are the mean over the 8 views of its patch."""
    keras.utils.set_random_seed(2)
    model = cnn((16, 16, 4), task="multiclass", class_names=CLASSES, band_names=BANDS, band_stats=stats,
                widths=(4, 8), hidden=(8,))
    result = rskeras.predict_raster(model, hls_path, tmp_path / "cells.tif", sensor="hls_l30", tile_size=16,
                                    probabilities=True, uncertainty="tta", progress=False)
    probabilities = _read(result.probabilities)
    assert probabilities.shape == (3, 14, 14)
    for row, col in ((0, 0), (5, 9), (13, 13)):
        patch = chip[None, 16 * row:16 * row + 16, 16 * col:16 * col + 16]
        mean = np.mean([np.asarray(model(np.ascontiguousarray(forward(patch)), training=False))
                        for forward, _ in _views(patch)], axis=0)[0]
        np.testing.assert_allclose(probabilities[:, row, col], mean, atol=1e-5)


def _pointwise_regressor(stats) -> keras.Model:
    """Per-pixel (1x1) regression: flips and rotations change nothing."""
    x = keras.Input((None, None, 4), name="image")
    h = BandNormalization(*stats, band_names=BANDS)(x)
    h = keras.layers.Conv2D(6, 1, activation="relu")(h)
    return keras.Model(x, output_head(h, "regression", 1, kind="conv"), name="pointwise")


def test_tta_of_a_pointwise_model_has_no_spread(stats, hls_path, tmp_path):
    keras.utils.set_random_seed(3)
    model = _pointwise_regressor(stats)
    plain = rskeras.predict_raster(model, hls_path, tmp_path / "plain.tif", sensor="hls_l30", tile_size=64,
                                   progress=False)
    tta = rskeras.predict_raster(model, hls_path, tmp_path / "tta.tif", sensor="hls_l30", tile_size=64,
                                 uncertainty="tta", progress=False)
    np.testing.assert_allclose(_read(tta.dst), _read(plain.dst), rtol=1e-5, atol=1e-5)
    spread = _read(tta.uncertainty)
    assert spread.max() < 1e-3 * np.abs(_read(plain.dst)).max()
    with rasterio.open(tta.uncertainty) as ds:
        assert ds.tags()["UNCERTAINTY_UNITS"] == "target units" and ds.descriptions == ("standard deviation of value",)


def _dropout_regressor(stats, rate: float, scale: float) -> keras.Model:
    """1x1 convolutions with batch normalisation (moving statistics far from any batch's) and dropout; the last
    layer multiplied by ``scale``."""
    x = keras.Input((None, None, 4), name="image")
    h = BandNormalization(*stats, band_names=BANDS)(x)
    h = keras.layers.Conv2D(8, 1, activation="relu")(h)
    bn = keras.layers.BatchNormalization()
    h = keras.layers.Dropout(rate, name="dropout")(bn(h))
    out = keras.layers.Conv2D(1, 1, name="value")(h)
    model = keras.Model(x, out, name="dropout_model")  # no task head: regression values
    bn.moving_mean.assign(np.full(8, 5.0, "float32"))
    bn.moving_variance.assign(np.full(8, 9.0, "float32"))
    weights = model.get_layer("value").get_weights()
    model.get_layer("value").set_weights([weights[0] * scale, weights[1]])
    return model


def test_mc_dropout_switches_on_dropout_only(stats, hls_path, tmp_path):
    """Dropout of rate 0 in training mode changes nothing: the map is the plain one, so batch normalisation
    stayed in inference mode (in training mode it would normalise by the batch: other values)."""
    keras.utils.set_random_seed(4)
    model = _dropout_regressor(stats, rate=0.0, scale=1.0)
    plain = rskeras.predict_raster(model, hls_path, tmp_path / "plain.tif", sensor="hls_l30", tile_size=64,
                                   progress=False)
    mc = rskeras.predict_raster(model, hls_path, tmp_path / "mc.tif", sensor="hls_l30", tile_size=64,
                                uncertainty="mc_dropout", passes=3, progress=False)
    np.testing.assert_allclose(_read(mc.dst), _read(plain.dst), rtol=1e-6, atol=1e-6)
    assert _read(mc.uncertainty).max() < 1e-5


def test_mc_dropout_spread_is_in_the_target_units(stats, hls_path, tmp_path):
    """The same network with its output scaled by 10: the standard deviation scales by 10 (medians over the chip)."""
    medians = []
    for scale in (1.0, 10.0):
        keras.utils.set_random_seed(5)
        model = _dropout_regressor(stats, rate=0.5, scale=scale)
        result = rskeras.predict_raster(model, hls_path, tmp_path / f"x{scale:g}.tif", sensor="hls_l30",
                                        tile_size=64, uncertainty="mc_dropout", passes=20, progress=False)
        medians.append(float(np.median(_read(result.uncertainty))))
    assert medians[0] > 0
    assert medians[1] / medians[0] == pytest.approx(10, rel=0.15)


def test_mc_dropout_of_a_pixel_model(hls_path, tmp_path):
    keras.utils.set_random_seed(6)
    model = ann(input_shape=(4,), task="multiclass", class_names=CLASSES, hidden=(16,), dropout=0.5,
                band_names=BANDS, band_stats=([800.0] * 4, [400.0] * 4))
    result = rskeras.predict_raster(model, hls_path, tmp_path / "pixels.tif", sensor="hls_l30",
                                    uncertainty="mc_dropout", passes=8, progress=False)
    entropy = _read(result.uncertainty)[0]
    assert result.kind == "pixel" and 0 < entropy.mean() <= math.log(3)


def test_refused_before_any_work(stats, hls_path, tmp_path):
    pixel_model = ann(input_shape=(4,), task="multiclass", class_names=CLASSES, hidden=(8,), band_names=BANDS)
    with pytest.raises(ValueError, match="'tta' flips and rotates tiles, but .* is a pixel model"):
        rskeras.predict_raster(pixel_model, hls_path, tmp_path / "a.tif", sensor="hls_l30", uncertainty="tta")
    with pytest.raises(ValueError, match="'mc_dropout' needs Dropout layers, and model 'pointwise' has none"):
        rskeras.predict_raster(_pointwise_regressor(stats), hls_path, tmp_path / "b.tif", sensor="hls_l30",
                               uncertainty="mc_dropout")
    with pytest.raises(ValueError, match="unknown uncertainty 'entropy'; choose one of tta, mc_dropout"):
        rskeras.predict_raster(pixel_model, hls_path, tmp_path / "c.tif", sensor="hls_l30", uncertainty="entropy")
    assert list(tmp_path.iterdir()) == []
