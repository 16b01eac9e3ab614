"""U-Net: the SEN12TP variant, free tile sizes, every backbone, NDVI regression and segmentation on real chips.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

import keras
import numpy as np
import pytest

import rskeras
from rskeras.models import model_metadata, unet
from rskeras.models.backbones import BACKBONES
from rskeras.training import compile_for_task
from tests.models.helpers import hls_chips

HLS_BANDS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]


def ndvi(chips: np.ndarray) -> np.ndarray:
    red, nir = chips[..., 3], chips[..., 4]
    return ((nir - red) / np.maximum(nir + red, 1.0))[..., None].astype("float32")


@pytest.fixture(scope="module")
def chips(hls_path):
    return hls_chips(hls_path, size=32, count=8)


def test_sen12tp_variant_parameter_count_in_docstring():
    sen12tp = unet((64, 64, 4), task="multiclass", n_outputs=3, variant="sen12tp")
    assert sen12tp.count_params() == 34_534_595
    assert sum(int(np.prod(w.shape)) for w in sen12tp.trainable_weights) == 34_520_899
    for count in ("34,534,595", "34,520,899"):
        assert count in unet.__doc__


@pytest.mark.parametrize("variant", ["original", "sen12tp"])
def test_both_variants_keep_the_input_size(variant):
    model = unet((32, 32, 13), task="multilabel", n_outputs=3, depth=2, filters=4, variant=variant)
    y = model(np.random.default_rng(0).random((2, 32, 32, 13), dtype="float32"))
    assert tuple(y.shape) == (2, 32, 32, 3) and model.input.name == "image" and model.layers[-1].name == "output"
    up = "decoder_1_up_transpose" if variant == "original" else "decoder_1_up_bilinear"
    assert up in [layer.name for layer in model.layers]


def test_unknown_spatial_size_and_errors():
    model = unet((None, None, 4), task="regression", depth=2, filters=4)
    assert tuple(model(np.zeros((1, 24, 40, 4), "float32")).shape) == (1, 24, 40, 1)
    with pytest.raises(ValueError, match="multiples of 16"):
        unet((40, 40, 4), task="regression", depth=4, filters=4)
    with pytest.raises(ValueError, match="unknown U-Net variant"):
        unet((32, 32, 4), task="regression", variant="resnet")
    with pytest.raises(ValueError, match="3 bands but 2 band names"):
        unet((32, 32, 3), task="regression", band_names=["red", "nir"])


@pytest.mark.parametrize("backbone", sorted(BACKBONES))
def test_decoder_on_every_registered_backbone(backbone):
    model = unet((32, 32, 13), task="multiclass", n_outputs=4, backbone=backbone, filters=4, variant="sen12tp")
    y = model(np.zeros((1, 32, 32, 13), "float32"))
    assert tuple(y.shape) == (1, 32, 32, 4) and y.dtype == "float32"
    assert model.name == f"unet_{backbone}"
    assert any(layer.name.startswith(f"{backbone}_") for layer in model.layers)
    with pytest.raises(ValueError, match="multiples of 32"):
        unet((48, 48, 3), task="regression", backbone=backbone)


def test_ndvi_regression_on_real_chips_learns_and_round_trips(chips, tmp_path):
    """SEN12TP-style NDVI regression: NDVI of the real HLS chips from the other eight bands."""
    inputs = [i for i, b in enumerate(HLS_BANDS) if b not in ("red", "nir")]
    x, target = chips[..., inputs], ndvi(chips)
    assert target.std() > 0.05
    names = [HLS_BANDS[i] for i in inputs]
    keras.utils.set_random_seed(0)
    model = unet((32, 32, 8), task="regression", depth=2, filters=8, variant="sen12tp",
                 band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))), band_names=names)
    compile_for_task(model, learning_rate=3e-3)
    history = model.fit(x, target, batch_size=4, epochs=6, verbose=0).history["loss"]
    assert history[-1] < 0.5 * history[0]

    path = tmp_path / "unet.keras"
    model.save(path)
    loaded = rskeras.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    meta = model_metadata(loaded)
    assert meta.task == "regression" and meta.band_names == [names] and meta.normalized == [True]


def test_land_cover_segmentation_on_real_chips_learns(chips):
    """Three classes from index thresholds: water or bare (NDVI < 0.2 or NDWI > 0), sparse and dense vegetation."""
    v = ndvi(chips)[..., 0]
    green, nir = chips[..., 2], chips[..., 4]
    ndwi = (green - nir) / np.maximum(green + nir, 1.0)
    classes = np.where((v < 0.2) | (ndwi > 0), 0, np.where(v < 0.4, 1, 2)).astype("int32")[..., None]
    assert len(np.unique(classes)) == 3
    keras.utils.set_random_seed(1)
    model = unet((32, 32, 10), task="multiclass", class_names=["bare_or_water", "sparse", "dense"], depth=2, filters=8,
                 band_stats=(chips.mean(axis=(0, 1, 2)), chips.std(axis=(0, 1, 2))), band_names=HLS_BANDS)
    compile_for_task(model, learning_rate=3e-3)
    history = model.fit(chips, classes, batch_size=4, epochs=5, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert model_metadata(model).class_names == ["bare_or_water", "sparse", "dense"]


def test_sen12tp_variant_traces_once_for_any_tile_size():
    """Free height and width: one tf.function trace serves 32 and 48 px tiles (SavedModel, predict_raster)."""
    import tensorflow as tf

    model = unet((None, None, 4), task="regression", n_outputs=1, depth=2, filters=4, variant="sen12tp")
    fn = tf.function(lambda t: model(t, training=False), input_signature=[tf.TensorSpec((None, None, None, 4))])
    for size in (32, 48):
        x = np.random.default_rng(size).random((1, size, size, 4), dtype=np.float32)
        np.testing.assert_allclose(fn(x).numpy(), model(x).numpy(), atol=1e-5)
        assert fn(x).shape == (1, size, size, 1)
