"""Hostile cases for deploying to Earth Engine: hosted-model payloads of the wrong band count, order or tile size,
exports a payload format cannot hold, hosting plans that cannot work, and the batch round trip with a pixel or
patch model given the wrong options.

The models are tiny (an ANN, a 16 x 16 patch classifier, a depth-2 U-Net) with fixed weights; the payloads are
what Earth Engine sends, built from the real HLS chip. Every error must name what was expected and what came;
an export that is refused leaves no version folder; the shared exports keep their checksums.
"""

from __future__ import annotations

import base64

import keras
import numpy as np
import pytest
import rasterio
import tensorflow as tf

from rskeras.cli import main
from rskeras.data import geotiff_to_ee_patches
from rskeras.heads import output_head
from rskeras.layers import band_statistics
from rskeras.models import ann, cnn, unet
from rskeras.serving import Client, ServingError, check_ee_hosting, export_saved_model, float_examples
from rskeras.workflows import predict_ee_export
from tests.hostile.conftest import checksums, leftovers
from tests.serving.fake_tf_serving import FakeTFServing

NAMES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
BANDS = ["blue", "green", "red", "nir"]
CLASSES = ["a", "b", "c"]


@pytest.fixture(scope="module")
def chip(hls_path) -> np.ndarray:
    """The chip's blue, green, red and NIR bands, (224, 224, 4) float32."""
    with rasterio.open(hls_path) as src:
        return np.moveaxis(src.read([2, 3, 4, 5]), 0, -1).astype("float32")


@pytest.fixture(scope="module")
def exports(chip, tmp_path_factory):
    keras.utils.set_random_seed(0)
    common = {"band_names": BANDS, "band_stats": band_statistics(chip), "class_names": CLASSES, "task": "multiclass"}
    models = {
        "pixel": ann((4,), hidden=(8,), **common),
        "patch": cnn((16, 16, 4), widths=(4, 8), hidden=(8,), batch_norm=False, dropout=0.0, **common),
        "dense": unet((None, None, 4), depth=2, filters=4, **common),
    }
    root = tmp_path_factory.mktemp("deploy") / "saved_models"
    dirs = {kind: export_saved_model(m, root / kind, ee_payload_format="SERIALIZED_TF_TENSORS") for kind, m in models.items()}
    return models, dirs, root


@pytest.fixture(autouse=True)
def exports_untouched(exports, tmp_path):
    before = checksums(exports[2])
    yield
    assert checksums(exports[2]) == before, "an export was modified"
    assert leftovers(exports[2]) == [] and leftovers(tmp_path) == []


def _signature(exports, kind: str, name: str):
    return tf.saved_model.load(str(exports[1][kind])).signatures[name]


def _tiles(chip: np.ndarray, size: int, n: int = 2) -> np.ndarray:
    return np.stack([chip[i * size:(i + 1) * size, :size] for i in range(n)])


def test_nd_arrays_with_a_band_missing_names_both_shapes(exports, chip):
    nd = _signature(exports, "pixel", "serving_ee_nd_arrays")
    three = np.moveaxis(_tiles(chip, 8)[..., :3], -1, 1)  # (2, 3, 8, 8): the image lacked "nir"
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)ND_ARRAYS instances are \(bands, H, W\) with the 4 "
                       r"bands blue, green, red, nir in this order.*bands =\] \[4\] \[received\] \[2 3 8 8\]"):
        nd(array=tf.constant(three))


def test_a_band_earth_engine_sends_under_another_name_is_refused_by_name(exports, chip):
    """A named payload: TF Serving refuses a band the signature does not have, and lists what it lacks."""
    tiles = _tiles(chip, 8)
    instances = [{**{b: base64.urlsafe_b64encode(tf.io.serialize_tensor(tile[..., i]).numpy()).decode()
                     for i, b in enumerate(["blue", "green", "red"])},
                  "B8": base64.urlsafe_b64encode(tf.io.serialize_tensor(tile[..., 3]).numpy()).decode()}
                 for tile in tiles]

    with FakeTFServing({"pixel": exports[1]["pixel"].parent}) as server:
        with pytest.raises(ServingError, match=r"missing \['nir'\], unknown \['B8'\]"):
            Client(server.url, "pixel", retries=0).predict(instances)


def test_band_order_does_not_matter_in_named_payloads(exports, chip):
    tensors = _signature(exports, "dense", "serving_ee_tensors")
    tiles = _tiles(chip, 32)
    forward = tensors(**{b: tf.constant(tiles[..., i]) for i, b in enumerate(BANDS)})
    backward = tensors(**{b: tf.constant(tiles[..., i]) for i, b in reversed(list(enumerate(BANDS)))})
    np.testing.assert_array_equal(forward["probabilities"].numpy(), backward["probabilities"].numpy())


def test_tile_of_the_wrong_size_names_expected_and_received(exports, chip):
    patch = _signature(exports, "patch", "serving_ee_tensors")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)the model takes 16 x 16 tiles \(inputTileSize\): "
                       r"expected H, W =\] \[16 16\] \[received\] \[32 32\]"):
        patch(**{b: tf.constant(_tiles(chip, 32)[..., i]) for i, b in enumerate(BANDS)})
    dense = _signature(exports, "dense", "serving_ee_tensors")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)tiles must be a multiple of 4 \(the downsampling "
                       r"of the model\): received H, W =\] \[30 30\]"):
        dense(**{b: tf.constant(_tiles(chip, 30)[..., i]) for i, b in enumerate(BANDS)})
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)band nir must be tiles of the size of band blue: "
                       r"expected \[batch, H, W\] =\] \[2 32 32\] \[received\] \[2 16 16\]"):
        dense(**{b: tf.constant(_tiles(chip, 16 if b == "nir" else 32)[..., i]) for i, b in enumerate(BANDS)})


def test_examples_of_a_size_that_is_no_tile(exports, chip):
    examples = _signature(exports, "dense", "serving_ee_examples")
    records = float_examples({b: chip[:2, :10, i] for i, b in enumerate(BANDS)})  # 10 values per band: no square
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)Examples hold H x W values per band.*received "
                       r"values:\] \[10\]"):
        examples(input=tf.constant(records))


@pytest.mark.parametrize("build, match", [
    (lambda: keras.Model(inp := keras.Input((5, 3), name="series"), output_head(keras.layers.Flatten()(inp),
                                                                                 "regression", 1)),
     r"input layer 'series' \(series\) has shape \(None, 5, 3\); export with ee_signature=False"),
    (lambda: keras.Model(inp := keras.Input((None, None, 3)), output_head(
        keras.layers.Conv2D(4, 3, strides=2, padding="same", name="stride2")(inp), "regression", 1, kind="conv")),
     r"output layer 'output' .* answers a 128 x 128 tile with shape \(1, 64, 64, 1\) \(downsampling layers: "
     r"\['stride2'\]\)"),
    (lambda: keras.Model(inp := keras.Input((None, None, 2)), output_head(
        keras.layers.Conv2D(2, 3, padding="same")(inp), "regression", 1, kind="conv")),
     None),  # band names with a space cannot name signature inputs: given below
])
def test_export_refuses_a_model_a_format_cannot_hold(build, match, tmp_path):
    model = build()
    base = tmp_path / "saved_models" / "refused"
    if match is None:
        match = r"band names \['red edge'\] of input .* cannot name signature inputs"
        with pytest.raises(ValueError, match=match):
            export_saved_model(model, base, band_names=["red edge", "nir"], ee_payload_format="RAW_JSON")
    else:
        with pytest.raises(ValueError, match=match):
            export_saved_model(model, base, ee_payload_format="SERIALIZED_TF_TENSORS")
    assert not base.exists() or not any(base.iterdir()), "a refused export left a folder"


def test_hosting_plans_that_cannot_work(exports, tmp_path):
    models = exports[0]
    base = tmp_path / "saved_models" / "unet"
    with pytest.raises(ValueError, match="unknown Earth Engine payload format 'GRPC'; choose one of SERIALIZED_TF_TENSORS"):
        export_saved_model(models["dense"], base, ee_payload_format="GRPC")
    with pytest.raises(ValueError, match=r"inputTileSize 48 leaves 0 px after the overlap of 48 .* use a tile of at "
                       "least 52"):
        export_saved_model(models["dense"], base, ee_payload_format="RAW_JSON", ee_tile_size=(48, 48))
    with pytest.raises(ValueError, match="inputOverlapSize must be 0: a patch classifier answers one pixel per tile"):
        export_saved_model(models["patch"], base, ee_payload_format="ND_ARRAYS", ee_overlap=8)
    assert not base.exists() or not any(base.iterdir())


def test_check_needs_the_earth_engine_signatures_and_a_window_inside(exports, hls_path, tmp_path):
    models, dirs, _ = exports
    plain = export_saved_model(models["pixel"], tmp_path / "saved_models" / "plain", ee_signature=False)
    with pytest.raises(ValueError, match=r"has no signature \['serving_ee_raw_json'\]; export with ee_signature=True"):
        check_ee_hosting(plain, models["pixel"], hls_path, "RAW_JSON", sensor="hls_l30")
    with pytest.raises(ValueError, match=r"window \(200, 0, 64, 64\) reaches outside .* \(224 x 224 px\)"):
        check_ee_hosting(dirs["pixel"], models["pixel"], hls_path, window=(200, 0, 64, 64), sensor="hls_l30")
    with pytest.raises(ValueError, match="unknown Earth Engine payload format 'JSON'"):
        check_ee_hosting(dirs["pixel"], models["pixel"], hls_path, "JSON", sensor="hls_l30")


def test_batch_round_trip_with_wrong_options(exports, hls_path, tmp_path):
    models = exports[0]
    scene = tmp_path / "scene"
    geotiff_to_ee_patches(hls_path, scene, 64, band_names=NAMES, max_nodata_fraction=1.0)
    files = str(scene / "patches-*.tfrecord.gz")
    with pytest.raises(ValueError, match=r"overlap must be 0 to 15 for a patch classifier of 16 x 16 px .*got 16"):
        predict_ee_export(models["patch"], files, tmp_path / "p.tfrecord", overlap=16)
    with pytest.raises(ValueError, match="output='classes' needs a classification model"):
        regression = ann((4,), task="regression", band_names=BANDS, hidden=(4,))
        predict_ee_export(regression, files, tmp_path / "p.tfrecord", output="classes")
    unnamed = ann((4,), task="multiclass", n_outputs=3, hidden=(4,))
    with pytest.raises(ValueError, match="does not name its input bands: give bands="):
        predict_ee_export(unnamed, files, tmp_path / "p.tfrecord")
    two = {"optical": ["blue", "green"], "infrared": ["red", "nir"]}
    with pytest.raises(ValueError, match=r"grouped as \['infrared', 'optical'\] but the model's inputs are"):
        predict_ee_export(models["dense"], files, tmp_path / "p.tfrecord", two)
    assert not list(tmp_path.glob("p*"))


def test_predict_ee_command_bands_per_input_must_all_be_named(exports, hls_path, tmp_path, capsys):
    path = tmp_path / "ann.keras"
    exports[0]["pixel"].save(path)
    code = main(["predict-ee", str(path), str(tmp_path / "none-*.tfrecord.gz"), str(tmp_path / "p.tfrecord"),
                 "--bands", "optical=blue,green", "red"])
    assert code == 2 and "--bands: give every input as INPUT=B1,B2" in capsys.readouterr().err
