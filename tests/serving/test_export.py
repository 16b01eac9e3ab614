"""export_saved_model: the SavedModel as TF Serving loads it, checked in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import rasterio
import tensorflow as tf

from rskeras.heads import output_head
from rskeras.layers import BandNormalization
from rskeras.serving import (
    export_saved_model,
    float_examples,
    model_names,
    read_export_metadata,
)

HLS_BANDS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
CLASSES = ["water", "forest", "crop land"]
PATCH = 16

# Runs in a fresh interpreter: load every SavedModel with the serve tag, call its
# signatures on the saved inputs, save the outputs.
LOAD_AND_CALL = """
import json, sys
import numpy as np, tensorflow as tf
jobs = json.load(open(sys.argv[1]))
for job in jobs:
    model = tf.saved_model.load(job["dir"], tags=["serve"])
    inputs = np.load(job["inputs"], allow_pickle=False)
    fn = model.signatures[job["signature"]]
    if job["signature"] == "serving_ee_examples":
        out = fn(input=tf.constant(list(inputs["records"])))
    else:
        out = fn(**{k: tf.constant(inputs[k]) for k in inputs.files})
    np.savez(job["outputs"], **{k: v.numpy() for k, v in out.items()})
"""


def _subprocess_env() -> dict:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    env.pop("PYTHONPATH", None)
    return env


def _pixel_model(stats: tuple[np.ndarray, np.ndarray]) -> keras.Model:
    x = keras.Input((10,), name="pixel_bands")
    h = BandNormalization(*stats, band_names=HLS_BANDS)(x)
    h = keras.layers.Dense(8, activation="relu")(h)
    return keras.Model(x, output_head(h, "multiclass", 3, CLASSES), name="pixel_classifier")


def _conv_model(stats: tuple[np.ndarray, np.ndarray]) -> keras.Model:
    """Fully convolutional regression (any patch size), two output values per pixel."""
    x = keras.Input((None, None, 10), name="patch")
    h = BandNormalization(*stats, band_names=HLS_BANDS)(x)
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(h)
    return keras.Model(x, output_head(h, "regression", 2, kind="conv"), name="conv_regressor")


def _two_input_model() -> keras.Model:
    """M3Net-like: two aligned inputs, two named outputs (a dict), fixed 8x8 patches."""
    optical = keras.Input((8, 8, 4), name="optical")
    sar = keras.Input((8, 8, 2), name="sar")
    h = keras.layers.Concatenate()(
        [
            BandNormalization(band_names=["B", "G", "R", "N"], name="optical_norm")(optical),
            BandNormalization(band_names=["VV", "VH"], name="sar_norm")(sar),
        ]
    )
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(h)
    cover = output_head(h, "binary", 1, kind="conv", name="building")
    height = keras.layers.Conv2D(1, 1, name="height")(h)
    return keras.Model({"optical": optical, "sar": sar}, {"building": cover, "height": height})


def _unet_builder():
    """rskeras.models.unet when that module exists (it is written alongside), else None."""
    try:
        from rskeras.models.unet import unet
    except ImportError:
        return None
    return unet


@pytest.fixture(scope="module")
def hls_patches(hls_path) -> np.ndarray:
    """Two real 16x16 HLS patches, (2, 16, 16, 10) float32 reflectance x 10,000."""
    with rasterio.open(hls_path) as src:
        data = src.read(window=rasterio.windows.Window(64, 64, 2 * PATCH, PATCH)).astype("float32")
    image = np.moveaxis(data, 0, -1)
    return np.stack([image[:, :PATCH], image[:, PATCH:]])


@pytest.fixture(scope="module")
def exported(tmp_path_factory, hls_patches):
    """Models exported once into saved_models/, and the fresh-process outputs of their signatures."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("serving") / "saved_models"
    pixels = hls_patches.reshape(-1, 10)
    stats = (pixels.mean(0), pixels.std(0))
    models = {"pixel": _pixel_model(stats), "conv": _conv_model(stats), "two_input": _two_input_model()}
    unet = _unet_builder()
    if unet is not None:
        models["unet"] = unet(
            (PATCH, PATCH, 10), task="multiclass", depth=2, filters=4, band_stats=stats,
            band_names=HLS_BANDS, class_names=CLASSES,
        )
    dirs = {name: export_saved_model(model, root / name) for name, model in models.items()}

    rng = np.random.default_rng(1)
    two_inputs = {
        "optical": rng.uniform(0, 1, (3, 8, 8, 4)).astype("float32"),
        "sar": rng.uniform(-20, 0, (3, 8, 8, 2)).astype("float32"),
    }
    ee_two = {b: two_inputs["optical"][..., i] for i, b in enumerate(["B", "G", "R", "N"])}
    ee_two.update({b: two_inputs["sar"][..., i] for i, b in enumerate(["VV", "VH"])})
    hls_examples = np.array(float_examples({b: hls_patches[..., i] for i, b in enumerate(HLS_BANDS)}), dtype=object)
    calls = {
        ("pixel", "serving_default"): {"pixels": pixels[:50]},
        ("conv", "serving_default"): {"image": hls_patches},
        ("two_input", "serving_default"): two_inputs,
        ("pixel", "serving_ee_examples"): {"records": hls_examples},
        ("conv", "serving_ee_examples"): {"records": hls_examples},
        ("two_input", "serving_ee_examples"): {"records": np.array(float_examples(ee_two), dtype=object)},
    }
    if "unet" in models:
        calls[("unet", "serving_default")] = {"image": hls_patches}
        calls[("unet", "serving_ee_examples")] = {"records": hls_examples}
    work = root.parent / "calls"
    work.mkdir()
    jobs = []
    for i, ((name, signature), arrays) in enumerate(calls.items()):
        inputs = work / f"in{i}.npz"
        # serialized records go through numpy as fixed-length bytes (no pickling)
        np.savez(inputs, **{k: v.astype(bytes) if v.dtype == object else v for k, v in arrays.items()})
        jobs.append({"dir": str(dirs[name]), "signature": signature, "inputs": str(inputs), "outputs": str(work / f"out{i}.npz")})
    (work / "jobs.json").write_text(json.dumps(jobs))
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_CALL, str(work / "jobs.json")],
        capture_output=True, text=True, env=_subprocess_env(), timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = {key: dict(np.load(job["outputs"], allow_pickle=True)) for key, job in zip(calls, jobs)}
    return {"root": root, "dirs": dirs, "models": models, "calls": calls, "outputs": outputs, "two_inputs": two_inputs}


def test_layout_tf_serving_loads(exported):
    root = exported["root"]
    for name, version_dir in exported["dirs"].items():
        assert version_dir == root / name / "1"
        assert (version_dir / "saved_model.pb").is_file()
        assert (version_dir / "variables" / "variables.index").is_file()
        assert not [p.name for p in (root / name).iterdir() if p.name.startswith(".")], "temporary folder left"
    assert model_names(root / "models.config") == list(exported["dirs"])
    text = (root / "models.config").read_text()
    assert 'base_path: "/models/conv"' in text and text.count('model_platform: "tensorflow"') == len(exported["dirs"])


def test_metadata_records_task_classes_and_bands(exported):
    meta = read_export_metadata(exported["dirs"]["pixel"])
    assert meta["task"] == "multiclass" and meta["class_names"] == CLASSES
    default = meta["signatures"]["serving_default"]
    assert default["inputs"] == {"pixels": {"shape": [None, 10], "dtype": "float32", "band_names": HLS_BANDS}}
    assert default["outputs"] == {
        "probabilities": {"shape": [None, 3], "dtype": "float32"},
        "classes": {"shape": [None], "dtype": "int64"},
    }
    ee = meta["signatures"]["serving_ee_serialized"]
    assert list(ee["inputs"]) == HLS_BANDS  # one input per band, named after it
    assert ee["outputs"] == {
        "probabilities": {"dimensions": 1, "length": 3, "dtype": "float32", "ee_type": "ee.PixelType.float()"},
        "classes": {"dimensions": 0, "length": 1, "dtype": "float32", "ee_type": "ee.PixelType.uint8()"}}
    assert ee["payload_formats"] == ["SERIALIZED_TF_TENSORS", "GRPC_SERIALIZED_TF_TENSORS"]
    assert meta["signatures"]["serving_ee_examples"]["payload_formats"] == ["GRPC_SERIALIZED_TF_EXAMPLES"]
    conv = read_export_metadata(exported["dirs"]["conv"])
    assert conv["signatures"]["serving_ee_examples"]["outputs"] == {
        "values": {"dimensions": 1, "length": 2, "dtype": "float32", "ee_type": "ee.PixelType.float()"}}
    assert conv["signatures"]["serving_ee_examples"]["tile_size"] is None
    two = read_export_metadata(exported["dirs"]["two_input"])
    assert two["signatures"]["serving_ee_examples"]["tile_size"] == [8, 8]
    assert two["signatures"]["serving_default"]["inputs"]["sar"]["band_names"] == ["VV", "VH"]


def test_serving_default_matches_keras_in_fresh_process(exported):
    models, calls, outputs = exported["models"], exported["calls"], exported["outputs"]
    expected = models["pixel"].predict(calls[("pixel", "serving_default")]["pixels"], verbose=0)
    got = outputs[("pixel", "serving_default")]
    assert np.allclose(got["probabilities"], expected, atol=1e-5)
    assert got["classes"].dtype == np.int64 and np.array_equal(got["classes"], expected.argmax(-1))

    expected = models["conv"].predict(calls[("conv", "serving_default")]["image"], verbose=0)
    got = outputs[("conv", "serving_default")]
    assert set(got) == {"values"} and np.allclose(got["values"], expected, atol=1e-4)

    expected = models["two_input"].predict(exported["two_inputs"], verbose=0)
    got = outputs[("two_input", "serving_default")]
    assert set(got) == {"building", "height"}
    assert np.allclose(got["building"], expected["building"], atol=1e-5)
    assert np.allclose(got["height"], expected["height"], atol=1e-4)


def test_ee_examples_answer_tensors_on_real_patches(exported, hls_patches):
    """Earth Engine's Examples in (one float feature per band), float tensors per output band out."""
    got = exported["outputs"][("conv", "serving_ee_examples")]
    expected = exported["models"]["conv"].predict(hls_patches, verbose=0)
    assert set(got) == {"values"} and got["values"].shape == (2, PATCH, PATCH, 2)
    assert np.allclose(got["values"], expected, atol=1e-4)

    # a pixel model answers every pixel of the tile on its own
    got = exported["outputs"][("pixel", "serving_ee_examples")]
    expected = exported["models"]["pixel"].predict(hls_patches.reshape(-1, 10), verbose=0).reshape(2, PATCH, PATCH, 3)
    assert np.allclose(got["probabilities"], expected, atol=1e-5)
    assert np.array_equal(got["classes"], expected.argmax(-1).astype("float32"))


def test_records_follow_the_earth_engine_layout_module(hls_patches):
    """The records the tests send are those rskeras.data.ee_records writes for the same patches."""
    layout = pytest.importorskip("rskeras.data.ee_records.layout")
    ours = float_examples({b: hls_patches[..., i] for i, b in enumerate(HLS_BANDS)})
    theirs = [layout.encode_patch(patch, HLS_BANDS) for patch in hls_patches]
    spec = layout.patch_feature_spec(HLS_BANDS, (PATCH, PATCH))
    parsed_ours, parsed_theirs = tf.io.parse_example(ours, spec), tf.io.parse_example(theirs, spec)
    for band in HLS_BANDS:
        assert np.array_equal(parsed_ours[band].numpy(), parsed_theirs[band].numpy())


def test_ee_examples_two_inputs(exported):
    got = exported["outputs"][("two_input", "serving_ee_examples")]
    expected = exported["models"]["two_input"].predict(exported["two_inputs"], verbose=0)
    assert np.allclose(got["building"], expected["building"][..., 0], atol=1e-5)
    assert np.allclose(got["height"], expected["height"][..., 0], atol=1e-4)


def test_unet_both_signatures(exported, hls_patches):
    if "unet" not in exported["models"]:
        pytest.skip("rskeras.models.unet is not there yet")
    expected = exported["models"]["unet"].predict(hls_patches, verbose=0)
    got = exported["outputs"][("unet", "serving_default")]
    assert np.allclose(got["probabilities"], expected, atol=1e-4)
    assert np.array_equal(got["classes"], expected.argmax(-1))
    out = exported["outputs"][("unet", "serving_ee_examples")]
    assert np.allclose(out["probabilities"], expected, atol=1e-4)
    assert np.array_equal(out["classes"], expected.argmax(-1).astype("float32"))
    assert read_export_metadata(exported["dirs"]["unet"])["signatures"]["serving_ee_examples"]["tile_size"] == [16, 16]


def _saved_model_cli(version_dir: Path) -> str:
    cli = Path(sys.executable).with_name("saved_model_cli")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    result = subprocess.run(
        command + ["show", "--dir", str(version_dir), "--all"],
        capture_output=True, text=True, env=_subprocess_env(), timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def _signature_block(text: str, name: str) -> str:
    start = text.index(f"signature_def['{name}']:")
    end = text.find("signature_def['", start + 1)
    return text[start : end if end != -1 else len(text)]


@pytest.mark.parametrize("name", ["pixel", "two_input"])
def test_saved_model_cli_shows_signatures(exported, name):
    text = _saved_model_cli(exported["dirs"][name])
    assert "MetaGraphDef with tag-set: 'serve' contains the following SignatureDefs:" in text
    default = _signature_block(text, "serving_default")
    ee = _signature_block(text, "serving_ee_examples")
    assert "Method name is: tensorflow/serving/predict" in default
    if name == "pixel":
        assert "inputs['pixels'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 10)" in default
        assert "outputs['probabilities'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 3)" in default
        assert "outputs['classes'] tensor_info:\n        dtype: DT_INT64\n        shape: (-1)" in default
    else:
        assert "inputs['optical'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 8, 8, 4)" in default
        assert "inputs['sar'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 8, 8, 2)" in default
        assert "outputs['building'] tensor_info:\n        dtype: DT_FLOAT\n        shape: (-1, 8, 8, 1)" in default
        assert "outputs['height'] tensor_info:" in default
    assert "inputs['input'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in ee
    first = "probabilities" if name == "pixel" else "building"
    assert f"outputs['{first}'] tensor_info:\n        dtype: DT_FLOAT" in ee


def test_versions_next_refuse_and_overwrite(tmp_path):
    keras.utils.set_random_seed(2)
    model = _pixel_model((np.zeros(10), np.ones(10)))
    other = tmp_path / "saved_models" / "other"
    export_saved_model(model, other, version=7, ee_signature=False)
    base = tmp_path / "saved_models" / "landcover"
    assert export_saved_model(model, base, ee_signature=False) == base / "1"
    assert export_saved_model(model, base, version=5, ee_signature=False) == base / "5"
    assert export_saved_model(model, base, ee_signature=False) == base / "6"
    with pytest.raises(FileExistsError, match=r"landcover/5 exists \(versions there: \[1, 5, 6\]\)"):
        export_saved_model(model, base, version=5)
    stamp = (base / "5" / "saved_model.pb").stat().st_mtime_ns
    (base / "5" / "stale.txt").write_text("old")
    export_saved_model(model, base, version=5, overwrite=True)
    assert not (base / "5" / "stale.txt").exists() and (base / "5" / "saved_model.pb").stat().st_mtime_ns >= stamp
    assert list(read_export_metadata(base / "5")["signatures"]["serving_ee_tensors"]["inputs"]) == HLS_BANDS
    assert sorted(p.name for p in base.iterdir()) == ["1", "5", "6"]
    assert model_names(tmp_path / "saved_models" / "models.config") == ["other", "landcover"]


def test_failed_export_leaves_nothing(tmp_path, monkeypatch):
    model = _pixel_model((np.zeros(10), np.ones(10)))
    base = tmp_path / "saved_models" / "broken"

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tf.saved_model, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        export_saved_model(model, base)
    assert list(base.iterdir()) == [] and not (base.parent / "models.config").exists()


def test_errors_name_what_is_wrong(tmp_path):
    model = _pixel_model((np.zeros(10), np.ones(10)))
    with pytest.raises(ValueError, match=r"has 10 bands but 3 band names"):
        export_saved_model(model, tmp_path / "m", band_names=["a", "b", "c"])
    with pytest.raises(ValueError, match="model name 'bad name'"):
        export_saved_model(model, tmp_path / "bad name")
    series = keras.Model(inp := keras.Input((5, 3)), output_head(keras.layers.Flatten()(inp), "regression", 1))
    with pytest.raises(ValueError, match=r"input layer '.*' \(series\) has shape \(None, 5, 3\); export with ee_signature=False"):
        export_saved_model(series, tmp_path / "series")
    path = export_saved_model(series, tmp_path / "series", ee_signature=False, models_config=False)
    assert read_export_metadata(path)["signatures"]["serving_default"]["inputs"]["series"]["band_names"] == [
        "b1", "b2", "b3"
    ]
