"""Every registered family trains from a configuration: the model section reads the registry, and the pixel
(ANN) and multi-input (M3Net) families get their data from Earth Engine layout exports of the real HLS chip."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import rasterio

import rskeras
from rskeras.data import write_ee_patches
from rskeras.models import model_metadata
from rskeras.training import ConfigError, load_config, train
from tests.models.helpers import hls_chips

HLS_BANDS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
PIXEL_BANDS = ["blue", "green", "red", "nir", "swir1", "swir2"]
M3NET_BANDS = {"multispectral": ["blue", "green", "red", "nir"], "multiview": ["coastal", "swir1", "swir2"]}
CLASSES = ["low", "medium", "high"]


def ndvi(values: np.ndarray) -> np.ndarray:
    red, nir = values[..., 3], values[..., 4]
    return (nir - red) / np.maximum(nir + red, 1.0)


@pytest.fixture(scope="module")
def pixel_table(hls_path, tmp_path_factory):
    """A table export of 900 real HLS pixels (1x1 patches) with NDVI classes (< 0.3, 0.3-0.4, >= 0.4) as property."""
    with rasterio.open(hls_path) as src:
        image = src.read(out_dtype="float32").transpose(1, 2, 0)
        nodata = src.nodata
    pixels = image.reshape(-1, image.shape[-1])
    pixels = pixels[~(pixels == nodata).any(axis=1)]
    pixels = pixels[np.random.default_rng(0).choice(len(pixels), 900, replace=False)]
    classes = np.digitize(ndvi(pixels), [0.3, 0.4])
    folder = tmp_path_factory.mktemp("pixel_table")
    for name, part in (("train", slice(0, 600)), ("validation", slice(600, 900))):
        write_ee_patches(folder / f"{name}.tfrecord.gz", pixels[part, None, None, :], HLS_BANDS,
                         {"land_cover": classes[part]})
    return folder


@pytest.fixture(scope="module")
def height_patches(hls_path, tmp_path_factory):
    """Real 32x32 HLS patches with a height-like PROXY band (30 m where NDVI <= 0.2, 0 m from 0.35 up)."""
    chips = hls_chips(hls_path, size=32, count=12)
    height = (30.0 * np.clip((0.35 - ndvi(chips)) / 0.15, 0.0, 1.0))[..., None]
    folder = tmp_path_factory.mktemp("height_patches")
    patches = np.concatenate([chips, height], axis=-1)
    write_ee_patches(folder / "train.tfrecord.gz", patches[:8], [*HLS_BANDS, "height"])
    write_ee_patches(folder / "validation.tfrecord.gz", patches[8:], [*HLS_BANDS, "height"])
    return folder


def _config(tmp_path, data: dict, model: dict, task, epochs: int = 2, **training) -> dict:
    return {"data": {"source": "earthengine", **data}, "model": model, "task": task,
            "training": {"epochs": epochs, "augment": False, "precision": "float32", "schedule": "constant",
                         "verbose": 0, **training},
            "output": {"run_dir": str(tmp_path / "run"), "tensorboard": False}}


def test_ann_trains_on_the_pixels_of_a_table_export(pixel_table, tmp_path):
    config = _config(tmp_path, {"train_files": str(pixel_table / "train.tfrecord.gz"),
                                "validation_files": str(pixel_table / "validation.tfrecord.gz"),
                                "bands": PIXEL_BANDS, "label": "land_cover", "batch_size": 64},
                     {"name": "ann", "options": {"hidden": [16]}}, {"type": "multiclass", "class_names": CLASSES},
                     epochs=25, learning_rate=0.02, monitor="val_accuracy")
    result = train(config)
    assert result.evaluation["overall_accuracy"] > 0.85, result.evaluation["overall_accuracy"]
    saved = rskeras.load_model(result.files["model"])
    meta = model_metadata(saved)
    assert saved.input_shape == (None, 6) and meta.band_names == [PIXEL_BANDS] and meta.normalized == [True]
    assert meta.class_names == CLASSES


def test_m3net_trains_on_dict_inputs_and_its_height_is_evaluated(height_patches, tmp_path):
    config = _config(tmp_path, {"train_files": str(height_patches / "train.tfrecord.gz"),
                                "validation_files": str(height_patches / "validation.tfrecord.gz"),
                                "bands": M3NET_BANDS, "label": "height", "patch_size": 32, "batch_size": 4},
                     {"name": "m3net", "options": {"depth": 2, "filters": 4}}, "binary", learning_rate=3e-3)
    result = train(config)
    assert {"loss", "height_mse", "building_bce", "val_loss"} <= set(result.history)
    assert result.evaluation["task"] == "regression" and np.isfinite(result.evaluation["mae"])
    saved = rskeras.load_model(result.files["model"])
    assert sorted(saved.output) == ["building", "height", "height_multispectral", "height_multiview"]
    assert model_metadata(saved).band_names == [M3NET_BANDS["multispectral"], M3NET_BANDS["multiview"]]
    assert all(model_metadata(saved).normalized)


def _earthengine(**data) -> dict:
    return {"source": "earthengine", "train_files": "a.tfrecord.gz", "label": "y", **data}


@pytest.mark.parametrize("model, data, task, training, message", [
    ("ann", {"root": None}, "regression", {},
     "model 'ann' .pixel. reads band vectors of Earth Engine table exports or of labelled raster pixels"),
    ("ann", _earthengine(bands=["B4"], patch_size=8), "regression", {}, "data.patch_size must be 1"),
    ("ann", _earthengine(bands=["B4"]), "regression", {"augment": True}, "set training.augment: false"),
    ("m3net", _earthengine(bands=["B4"]), "binary", {"augment": False}, "give data.bands as {input: "),
    ("m3net", _earthengine(bands={"multispectral": ["B4"], "multiview": ["P"]}), "regression", {"augment": False},
     r"task.type \(model 'm3net'\) 'regression' is not one of binary, multiclass"),
    ("m3net", _earthengine(bands={"multispectral": ["B4"], "multiview": ["P"]}), "binary",
     {"augment": False, "label_smoothing": 0.1}, "brings its own loss"),
    ("unet", _earthengine(bands={"a": ["B4"]}), "binary", {}, "names inputs .a. but model 'unet' has one input"),
    ("unet", _earthengine(bands=["B4"]), "multiclass", {}, "give task.class_names or task.n_outputs"),
])
def test_the_family_must_fit_the_data(model, data, task, training, message):
    config = {"data": data, "model": {"name": model}, "task": task, "training": training}
    with pytest.raises(ConfigError, match=message):
        load_config(config)


def test_model_options_come_from_the_registry():
    config = {"data": {"root": None}, "model": {"name": "cnn", "options": {"filters": [8, 16], "weights": None}}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_config(config).model.options["filters"] == [8, 16]  # the old name, checked not built
    with pytest.raises(ConfigError, match="'n_bands' come from the data and task sections"):
        load_config({"data": _earthengine(bands=["B4"]), "model": {"name": "ann", "options": {"n_bands": 3}},
                     "task": "regression", "training": {"augment": False}})
    with pytest.raises(ConfigError, match=r"unknown option\(s\) 'width' for model 'unet'; valid options: depth, "
                                          r"filters, variant, backbone, dropout, weights, name"):
        load_config({"data": {"root": None}, "model": {"name": "unet", "options": {"filters": 8, "width": 3}}})
