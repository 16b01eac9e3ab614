"""The input contract at prediction time (issue 15): a model carries the bands and value ranges it was trained on,
and predict_raster, predict_ee_export and the serving client warn, naming the band, when a scene's values lie far
outside them, and refuse bands that do not match by name. On the real HLS chip and Landsat scene."""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import rasterio

from rskeras import load_model, predict_raster
from rskeras.data import BandError, geotiff_to_ee_patches, load_band_stats
from rskeras.data.ee_records.stats import RANGE_SAMPLE_SIZE, RunningBandStats, save_band_stats
from rskeras.layers import BandRanges, InputContract, InputRangeWarning, band_statistics, check_inputs
from rskeras.models import ann, input_contracts, model_metadata, unet
from rskeras.serving import Client, export_saved_model
from rskeras.workflows import predict_ee_export
from tests.serving.fake_tf_serving import FakeTFServing

HLS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
BANDS = ["blue", "green", "red", "nir"]
CLASSES = ["water", "vegetation", "bare"]


def write_copy(src: Path, dst: Path, factor: float = 1.0, bands: list[int] | None = None,
               descriptions: list[str] | None = None) -> Path:
    """``src``'s valid pixels times ``factor`` as float32 (nodata kept), optionally some bands, re-described."""
    with rasterio.open(src) as ds:
        bands = bands or list(range(1, ds.count + 1))
        data = ds.read(bands, masked=True).astype("float32")
        profile = ds.profile | {"dtype": "float32", "count": len(bands)}
    with rasterio.open(dst, "w", **profile) as out:
        out.write((data * np.float32(factor)).filled(profile["nodata"]))
        for i, name in enumerate(descriptions or [], start=1):
            out.set_band_description(i, name)
    return dst


def pixel_vectors(path: Path) -> np.ndarray:
    """``(n, bands)`` raw values of the raster's pixels that are valid in every band."""
    with rasterio.open(path) as ds:
        data = ds.read(masked=True)
    valid = ~np.ma.getmaskarray(data).any(axis=0)
    return np.asarray(data.data[:, valid].T, dtype="float32")


def strip_ranges(src: Path, dst: Path) -> Path:
    """``src`` as a model saved before rskeras recorded value ranges: no ``value_ranges`` in its config."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                _drop_key(config, "value_ranges")
                data = json.dumps(config).encode()
            zout.writestr(item, data)
    return dst


def _drop_key(node, key: str) -> None:
    if isinstance(node, dict):
        node.pop(key, None)
        for value in node.values():
            _drop_key(value, key)
    elif isinstance(node, list):
        for value in node:
            _drop_key(value, key)


def range_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, InputRangeWarning)]


@pytest.fixture(scope="module")
def hls_model(hls_path, tmp_path_factory) -> tuple[keras.Model, Path]:
    """An ANN on the HLS chip's raw values (reflectance x 10,000), saved as .keras."""
    model = ann((10,), task="multiclass", class_names=CLASSES, band_names=HLS, hidden=(8,),
                training_vectors=pixel_vectors(hls_path))
    path = tmp_path_factory.mktemp("model") / "hls_ann.keras"
    model.save(path)
    return model, path


@pytest.fixture(scope="module")
def hls_reflectance(hls_path, tmp_path_factory) -> Path:
    """The HLS chip as reflectance 0-1 (divided by 10,000), nodata kept."""
    return write_copy(hls_path, tmp_path_factory.mktemp("scaled") / "hls_reflectance.tif", 1e-4)


# ----- ranges computed and saved ------------------------------------------------------------------------------


def test_ranges_are_the_training_percentiles_and_survive_keras_round_trip(hls_path, hls_model):
    model, path = hls_model
    vectors = pixel_vectors(hls_path).astype("float64")
    ranges = model_metadata(load_model(path)).value_ranges[0]
    np.testing.assert_allclose(ranges.low, np.percentile(vectors, 0.5, axis=0))  # 50,176 values: exact
    np.testing.assert_allclose(ranges.high, np.percentile(vectors, 99.5, axis=0))
    assert ranges.minimum == tuple(vectors.min(0)) and ranges.maximum == tuple(vectors.max(0))
    assert round(ranges.low[4], 1) == 1744.6 and round(ranges.high[4], 1) == 4219.2  # nir
    assert input_contracts(load_model(path))[0].band_names == tuple(HLS)


def test_running_statistics_estimate_percentiles_from_a_sample_beyond_its_size():
    rng = np.random.default_rng(1)
    values = rng.normal([0.0, 5000.0], [1.0, 800.0], size=(4 * RANGE_SAMPLE_SIZE, 2))
    running = RunningBandStats(["a", "b"])
    for batch in np.array_split(values, 37):
        running.update(batch)
    ranges = running.result().ranges
    assert ranges.minimum == tuple(values.min(0)) and ranges.maximum == tuple(values.max(0))
    exact = np.percentile(values, [0.5, 99.5], axis=0)
    # the standard error of a 0.5th percentile from 100,000 normal values is 0.015 standard deviations
    assert (np.abs(np.array([ranges.low, ranges.high]) - exact) < 0.1 * values.std(0)).all()


def test_band_stats_json_keeps_ranges_and_old_files_load(tmp_path):
    stats = band_statistics(np.arange(20.0).reshape(10, 2), band_names=["red", "nir"])
    back = load_band_stats(save_band_stats(stats, tmp_path))
    assert back.ranges == stats.ranges and back.select(["nir"]).ranges.maximum == (19.0,)
    old = {"bands": ["red", "nir"], "mean": [9.0, 10.0], "std": [5.7, 5.7], "count": [10, 10], "nodata": None}
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert load_band_stats(tmp_path / "old.json").ranges is None
    with pytest.raises(ValueError, match="name no bands"):
        save_band_stats(band_statistics(np.ones((3, 2))), tmp_path / "unnamed.json")


def test_patches_written_from_a_geotiff_carry_ranges(hls_path, tmp_path):
    geotiff_to_ee_patches(hls_path, tmp_path, 64, band_names=HLS, max_nodata_fraction=1.0)
    ranges = load_band_stats(tmp_path).select(["nir"]).ranges  # the edge patches' nodata left out
    assert round(ranges.low[0], 1) == 1744.6 and ranges.maximum == (6891.0,)


def test_training_runner_puts_ranges_in_the_model(eurosat_dir):
    from rskeras.training import build_model, load_data

    config = {"data": {"root": str(eurosat_dir), "limit": 32, "batch_size": 16, "stats_samples": 32,
                       "validation_split": None},
              "model": {"name": "cnn", "options": {"widths": [8], "hidden": [8]}}, "task": "multiclass"}
    data = load_data(config)
    ranges = model_metadata(build_model(config, data)).value_ranges[0]
    assert ranges == data.band_stats.ranges and len(ranges) == 3
    assert 0 <= min(ranges.minimum) and max(ranges.maximum) <= 255


# ----- what "far" means, and band names ----------------------------------------------------------------------


def judged(sample: np.ndarray, low: float = 100.0, high: float = 1100.0) -> list[str]:
    """The InputRangeWarnings of one band trained on ``low``-``high`` (width 1,000) for ``sample``."""
    contract = InputContract("pixels", ("nir",), BandRanges((low,), (high,), (low - 50,), (high + 50,)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_inputs([contract], [sample[:, None]], sources=["scene.tif"])
    return range_warnings(caught)


def test_far_is_a_range_width_beyond_the_range_or_a_hundred_times_smaller():
    rng = np.random.default_rng(0)
    assert judged(rng.uniform(2000, 2400, 500))  # median 2,200 > 1,100 + 1,000
    assert not judged(rng.uniform(1800, 2200, 500))  # median 2,000: outside, but not far
    assert not judged(rng.uniform(-300, -100, 500))  # median -200 > 100 - 1,000
    (message,) = judged(rng.uniform(0.01, 0.5, 500))  # median 0.25 < 1,100 / 100 and below 100
    assert message.startswith("scene.tif: ") and "nir: scene median 0.2" in message
    assert "training range 100 to 1,100 (min 50, max 1,150)" in message
    assert not judged(rng.uniform(5, 30, 500))  # median 17.5 > 11: dark, not other units
    sample = np.concatenate([rng.uniform(0.01, 0.5, 300), np.full(200, -9999.0)])  # 40 % fill values
    assert judged(sample)


def test_not_judged_constant_samples_constant_training_bands_and_nodata():
    assert not judged(np.full(100, 0.0))  # a filled area, or a single pixel
    assert not judged(np.array([0.1, 0.2]), low=7.0, high=7.0)  # trained on a constant band
    assert not judged(np.full(100, np.nan))


def test_band_names_must_be_the_models_in_its_order():
    contract = InputContract("image", ("blue", "green", "red"))
    check_inputs([contract], [None], bands=[["Blue", "GREEN", "red"]])  # names are compared without case
    with pytest.raises(BandError, match="x.tif: the model was trained on bands blue, green, red, but the bands fed "
                                        "are red, green, blue \\(the same bands in another order\\)"):
        check_inputs([contract], [None], bands=[["red", "green", "blue"]], sources=["x.tif"])
    with pytest.raises(BandError, match="fed are B2, B3, B4 \\(no blue, green, red\\)"):
        check_inputs([contract], [None], bands=[["B2", "B3", "B4"]])


# ----- predict_raster -----------------------------------------------------------------------------------------


def test_predict_raster_warns_naming_the_band_for_reflectance_fed_to_a_model_on_scaled_values(
        hls_model, hls_reflectance, tmp_path):
    model, _ = hls_model
    with pytest.warns(InputRangeWarning) as caught:
        predict_raster(model, hls_reflectance, tmp_path / "lc.tif", sensor="hls_l30", progress=False)
    (message,) = range_warnings(caught)
    assert message.startswith(str(hls_reflectance))
    for band in HLS:
        assert f"{band}: scene median" in message
    assert ("nir: scene median 0.2493, range 0.1683 to 0.4042; training range 1,745 to 4,219 (min 0, max 6,891)"
            in message)
    assert "InputRangeWarning" in message  # how to silence a deliberate case
    assert (tmp_path / "lc.tif").exists()  # a warning, not a refusal


def test_predict_raster_on_the_training_units_says_nothing(hls_model, hls_path, tmp_path):
    model, _ = hls_model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_raster(model, hls_path, tmp_path / "lc.tif", sensor="hls_l30", progress=False)
    assert range_warnings(caught) == []


def test_landsat_scene_scaled_to_0_1_against_a_model_on_its_digital_numbers(landsat_path, tmp_path):
    model = ann((3,), task="regression", hidden=(4,), training_vectors=pixel_vectors(landsat_path))
    scaled = write_copy(landsat_path, tmp_path / "landsat_0_1.tif", 1 / 255)
    with pytest.warns(InputRangeWarning) as caught:
        predict_raster(model, scaled, tmp_path / "out.tif", progress=False)
    (message,) = range_warnings(caught)
    assert "band 1: scene median" in message and "band 3: scene median" in message
    assert "training range 3 to 255" in message  # digital numbers 0-255; band 1's 0.5th percentile is 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_raster(model, landsat_path, tmp_path / "raw.tif", progress=False)
    assert range_warnings(caught) == []


def test_old_model_without_ranges_loads_and_predicts_without_warning(hls_model, hls_reflectance, tmp_path):
    _, path = hls_model
    old = strip_ranges(path, tmp_path / "old.keras")
    assert b"value_ranges" not in zipfile.ZipFile(old).read("config.json")
    model = load_model(old)
    assert model_metadata(model).value_ranges == [None] and model_metadata(model).band_names == [HLS]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = predict_raster(model, hls_reflectance, tmp_path / "lc.tif", sensor="hls_l30", progress=False)
    assert range_warnings(caught) == [] and result.n_pixels == 224 * 224


def test_bands_the_raster_lacks_are_refused_naming_both_lists(hls_model, hls_path, tmp_path):
    model, _ = hls_model
    other = write_copy(hls_path, tmp_path / "s2.tif", descriptions=[f"B{i}" for i in range(1, 11)])
    with pytest.raises(BandError, match="trained on bands coastal, blue.*tir2.*has bands 1=B1, 2=B2"):
        predict_raster(model, other, tmp_path / "lc.tif", progress=False)


# ----- predict_ee_export --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ee_model(hls_path, tmp_path_factory) -> Path:
    """A small U-Net on blue, green, red, nir with statistics and ranges of the chip's raw values."""
    with rasterio.open(hls_path) as ds:
        raw = np.moveaxis(ds.read([2, 3, 4, 5]), 0, -1)
    model = unet((None, None, 4), task="multiclass", class_names=CLASSES, depth=2, filters=4, band_names=BANDS,
                 band_stats=band_statistics(raw, band_names=BANDS))
    path = tmp_path_factory.mktemp("ee_model") / "unet.keras"
    model.save(path)
    return path


def ee_export(raster: Path, folder: Path) -> str:
    geotiff_to_ee_patches(raster, folder, 64, kernel_size=8, band_names=HLS, max_nodata_fraction=1.0)
    return str(folder / "patches-*.tfrecord*")


def test_predict_ee_export_warns_for_reflectance_and_not_for_raw_values(ee_model, hls_path, hls_reflectance,
                                                                        tmp_path):
    with pytest.warns(InputRangeWarning) as caught:
        predict_ee_export(ee_model, ee_export(hls_reflectance, tmp_path / "reflectance"), tmp_path / "p.tfrecord",
                          BANDS, kernel_size=8)
    (message,) = range_warnings(caught)
    assert "patches-00000" in message and "nir: scene median" in message and "red: scene median" in message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        predict_ee_export(ee_model, ee_export(hls_path, tmp_path / "raw"), tmp_path / "q.tfrecord", BANDS,
                          kernel_size=8)
    assert range_warnings(caught) == []


def test_predict_ee_export_refuses_other_band_names_naming_both_lists(ee_model, hls_path, tmp_path):
    files = ee_export(hls_path, tmp_path / "export")
    with pytest.raises(BandError, match="trained on bands blue, green, red, nir, but the bands fed are coastal, "
                                        "blue, green, red \\(no nir\\)"):
        predict_ee_export(ee_model, files, tmp_path / "p.tfrecord", HLS[:4], kernel_size=8)
    assert not list(tmp_path.glob("p*"))


# ----- serving client -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(hls_model, tmp_path_factory):
    model, _ = hls_model
    version = export_saved_model(model, tmp_path_factory.mktemp("serving") / "saved_models" / "hls")
    with FakeTFServing({"hls": version.parent}) as server:
        yield server, version


def test_client_warns_for_reflectance_and_not_for_raw_values(served, hls_path):
    server, version = served
    client = Client(server.url, "hls", contract=version)
    pixels = pixel_vectors(hls_path)[::100]
    with pytest.warns(InputRangeWarning) as caught:
        client.predict(inputs=pixels * 1e-4)
    (message,) = range_warnings(caught)
    assert message.startswith(f"{server.url}/v1/models/hls:") and "swir1: scene median" in message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = client.predict([{"pixels": row} for row in pixels], band_names=HLS)
    assert range_warnings(caught) == [] and out["probabilities"].shape == (len(pixels), 3)


def test_client_refuses_other_band_names_naming_both_lists(served, hls_path, hls_model):
    server, _ = served
    client = Client(server.url, "hls", contract=input_contracts(hls_model[0]))
    sent = len(server.requests)
    with pytest.raises(BandError, match="trained on bands coastal, .*tir2, but the bands fed are B1, .*B10"):
        client.predict(inputs=pixel_vectors(hls_path)[:5], band_names=[f"B{i}" for i in range(1, 11)])
    assert len(server.requests) == sent  # refused before anything was sent
