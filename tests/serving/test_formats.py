"""rskeras.export to ONNX and LiteRT: every family of the registry, run by its own runtime on the real HLS chip.

Parity: ``rskeras.serving.parity`` runs the exported file (onnxruntime, the LiteRT interpreter) and Keras on the
same real patches; the largest difference must stay at float32 rounding. Every family exports to both formats;
a layer a format cannot hold makes the export fail naming the layer. predict_raster maps
the chip from the exported files, also in a process where TensorFlow cannot be imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import rasterio

import rskeras
from rskeras.inference.exported import LiteRTRunner, OnnxRunner, litert_metadata
from rskeras.models import MODELS, build_model
from rskeras.serving import ExportError, parity
from tests.models.test_contract import SMALL
from tests.serving.unconvertible import unconvertible_model

pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")
pytest.importorskip("ai_edge_litert", reason="the export extra (ai-edge-litert) is not installed")

FORMATS = {"onnx": ".onnx", "litert": ".tflite"}
CLASSES = ["water", "forest", "urban"]
#: HLS band names fed to each input (the chip's bands by sensor name).
HLS_BANDS = ["blue", "green", "red", "nir", "swir1", "swir2", "coastal"]
M3NET_BANDS = {"multispectral": ["blue", "green", "red"], "multiview": ["nir", "swir1"]}
#: Largest difference allowed, relative to the largest output value (at least 1): float32 rounding.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def hls_pixels(hls_path) -> dict[str, np.ndarray]:
    """The chip's pixels per band name: the statistics the models normalise with."""
    from rskeras.data import SENSORS

    with rasterio.open(hls_path) as ds:
        values = ds.read().reshape(ds.count, -1).astype("float64")
    return dict(zip(SENSORS["hls_l30"].bands, values))


def small_model(name: str, pixels: dict[str, np.ndarray]) -> keras.Model:
    """The family's small configuration, with HLS band names and the chip's band statistics."""
    shape, options = SMALL[name]
    keras.utils.set_random_seed(0)
    if MODELS[name].inputs:
        names = M3NET_BANDS
        stats = {key: ([pixels[b].mean() for b in bands], [pixels[b].std() for b in bands])
                 for key, bands in names.items()}
    else:
        names = HLS_BANDS[:shape[-1]]
        stats = ([pixels[b].mean() for b in names], [pixels[b].std() for b in names])
    model = build_model(name, shape, task="multiclass", class_names=CLASSES, band_names=names, band_stats=stats,
                        **options)
    return decisive(model, MODELS[name].task_output, pixels, names)


def decisive(model: keras.Model, task_output: str | None, pixels: dict[str, np.ndarray], names) -> keras.Model:
    """``model`` with its last kernel scaled up until its largest probability on chip pixels reaches 0.5.

    A freshly initialised deep network answers about 1/3 for each of three classes everywhere: parity on
    such outputs would hide any difference in the layers before the softmax. (M3Net, whose last kernel
    is its height head's, already answers up to 0.78 on its building output.)
    """
    rng = np.random.default_rng(0)

    def sample(bands, shape):
        columns = rng.integers(0, len(pixels[bands[0]]), size=(4, *shape[:-1]))
        return np.stack([pixels[b][columns] for b in bands], axis=-1).astype("float32")

    inputs = ({key: sample(bands, tuple(model.get_layer(key).batch_shape[1:])) for key, bands in names.items()}
              if isinstance(names, dict) else sample(names, model.input_shape[1:]))
    last = [layer for layer in model.layers if getattr(layer, "kernel", None) is not None][-1]
    for _ in range(12):
        outputs = model.predict_on_batch(inputs)
        if np.max(outputs[task_output] if task_output else outputs) >= 0.5:
            return model
        last.kernel.assign(last.kernel * 3.0)
    raise AssertionError(f"{model.name}: outputs stay near-uniform")


def _raster(name: str, hls_path):
    return {key: hls_path for key in MODELS[name].inputs} if MODELS[name].inputs else hls_path


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("name", list(MODELS))
def test_export_matches_keras_on_real_patches(name, fmt, hls_path, hls_pixels, tmp_path):
    """Each family: parity with Keras on 8 real patches, metadata in the file."""
    model = small_model(name, hls_pixels)
    path = rskeras.export(model, tmp_path / f"{name}{FORMATS[fmt]}", format=fmt)
    report = parity(model, path, _raster(name, hls_path), sensor="hls_l30")
    print(report)
    assert report.max_abs_diff <= TOLERANCE * max(1.0, report.scale), report.per_output
    assert all(share >= 0.999 for share in report.class_agreement.values()), report.class_agreement
    runner = (OnnxRunner if fmt == "onnx" else LiteRTRunner)(path, output=MODELS[name].task_output)
    assert runner.spec.class_names == CLASSES and runner.spec.task == "multiclass"
    expected = list(M3NET_BANDS.values()) if MODELS[name].inputs else [HLS_BANDS[:SMALL[name][0][-1]]]
    assert runner.spec.band_names == expected
    assert runner.description["kind"] == ("dense" if MODELS[name].kind == "multi-input" else MODELS[name].kind)
    assert sorted(tmp_path.iterdir()) == [path]


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_unsupported_export_names_the_layer(fmt, tmp_path):
    """A layer no format holds (an SVD): an ExportError naming the layer and its class; nothing written."""
    with pytest.raises(ExportError, match=r"cannot hold model 'svd_model': layer 'singular_values' \(SingularValues\)"):
        rskeras.export(unconvertible_model(), tmp_path / f"svd{FORMATS[fmt]}", format=fmt)
    assert list(tmp_path.iterdir()) == []


def test_metadata_in_the_files(hls_pixels, tmp_path):
    """Band names, class names, task, normalisation and kind: ONNX metadata_props and a LiteRT metadata entry."""
    import onnx

    model = small_model("unet", hls_pixels)
    onnx_path = rskeras.export(model, tmp_path / "unet.onnx", format="onnx")
    litert_path = rskeras.export(model, tmp_path / "unet.tflite", format="litert")
    props = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    for meta in (json.loads(props["rskeras"]), litert_metadata(litert_path.read_bytes())):
        assert meta["format"] == "rskeras-export/1" and meta["kind"] == "dense"
        (inp,) = meta["inputs"]
        assert inp["band_names"] == ["blue", "green", "red"] and inp["shape"] == [16, 16, 3]
        np.testing.assert_allclose(inp["mean"], [hls_pixels[b].mean() for b in inp["band_names"]], rtol=1e-6)
        (out,) = meta["outputs"]
        assert out["task"] == "multiclass" and out["class_names"] == CLASSES
        assert meta["exported_by"]["keras"] == keras.__version__


def test_saved_model_goes_through_export_saved_model(hls_pixels, tmp_path):
    model = small_model("cnn", hls_pixels)
    version = rskeras.export(model, tmp_path / "saved_models" / "eurosat", models_config=False)
    assert version == tmp_path / "saved_models" / "eurosat" / "1"
    assert (version / "saved_model.pb").exists()
    assert json.loads((version / "assets.extra" / "rskeras.json").read_text())["class_names"] == CLASSES


def test_format_and_name_are_checked_before_work(hls_pixels, tmp_path):
    model = small_model("ann", hls_pixels)
    with pytest.raises(ValueError, match="unknown export format 'tflite'; choose one of saved_model, onnx, litert"):
        rskeras.export(model, tmp_path / "m.tflite", format="tflite")
    with pytest.raises(ValueError, match=r"m\.onnx must end in \.tflite"):
        rskeras.export(model, tmp_path / "m.onnx", format="litert")
    with pytest.raises(TypeError, match="opset_version"):
        rskeras.export(model, tmp_path / "m.tflite", format="litert", opset_version=13)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture(scope="module")
def exported_unet(tmp_path_factory, hls_path, hls_pixels):
    """A small U-Net on four HLS bands, its Keras map of the chip, and its ONNX and LiteRT files."""
    folder = tmp_path_factory.mktemp("exported_unet")
    bands = ["blue", "green", "red", "nir"]
    keras.utils.set_random_seed(0)
    model = build_model("unet", (None, None, 4), task="multiclass", class_names=CLASSES, band_names=bands,
                        band_stats=([hls_pixels[b].mean() for b in bands], [hls_pixels[b].std() for b in bands]),
                        depth=2, filters=4)
    files = {fmt: rskeras.export(model, folder / f"unet{suffix}", format=fmt) for fmt, suffix in FORMATS.items()}
    keras_map = rskeras.predict_raster(model, hls_path, folder / "keras.tif", sensor="hls_l30", tile_size=64,
                                       probabilities=True, progress=False)
    return model, files, keras_map


def _read(path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_predict_raster_from_the_exported_file(fmt, exported_unet, hls_path, tmp_path):
    """The exported file maps the chip as Keras does: same classes, probabilities within float32 rounding."""
    _, files, keras_map = exported_unet
    result = rskeras.predict_raster(files[fmt], hls_path, tmp_path / "map.tif", sensor="hls_l30", tile_size=64,
                                    probabilities=True, progress=False)
    assert result.kind == "dense" and result.class_names == CLASSES
    assert result.bands == [["blue", "green", "red", "nir"]]
    np.testing.assert_array_equal(_read(result.dst), _read(keras_map.dst))
    np.testing.assert_allclose(_read(result.probabilities), _read(keras_map.probabilities), atol=1e-5)


NO_TENSORFLOW = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None  # any import of TensorFlow (or Keras, which needs it) fails
    sys.modules["keras"] = None
    import rskeras
    result = rskeras.predict_raster(sys.argv[1], sys.argv[2], sys.argv[3], sensor="hls_l30", tile_size=64,
                                    probabilities=True, progress=False)
    print(result.kind, result.task, ",".join(result.class_names))
""")


def test_onnx_maps_a_scene_without_tensorflow(exported_unet, hls_path, tmp_path):
    """predict_raster with the ONNX file in a process where importing TensorFlow fails, compared with Keras."""
    _, files, keras_map = exported_unet
    dst = tmp_path / "no_tf.tif"
    env = dict(os.environ, PYTHONPATH=str(Path(rskeras.__file__).parents[1]))
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, str(files["onnx"]), str(hls_path), str(dst)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["dense", "multiclass", ",".join(CLASSES)]
    np.testing.assert_array_equal(_read(dst), _read(keras_map.dst))
    np.testing.assert_allclose(_read(tmp_path / "no_tf_probabilities.tif"), _read(keras_map.probabilities), atol=1e-5)


def test_onnx_without_rskeras_metadata(exported_unet, hls_path, tmp_path):
    """An ONNX file from another tool (no metadata): its inputs and outputs as they are, bands chosen by the user."""
    import onnx

    _, files, keras_map = exported_unet
    proto = onnx.load(str(files["onnx"]))
    del proto.metadata_props[:]
    plain = tmp_path / "plain.onnx"
    onnx.save(proto, str(plain))
    with pytest.raises(ValueError, match=r"plain\.onnx: raster .*has 10 band\(s\).* but the model takes 4"):
        rskeras.predict_raster(plain, hls_path, tmp_path / "values.tif", tile_size=64, progress=False)
    result = rskeras.predict_raster(plain, hls_path, tmp_path / "values.tif", bands=[2, 3, 4, 5], tile_size=64,
                                    progress=False)
    assert result.task == "regression"  # no task: the outputs as they come, here the probabilities
    np.testing.assert_allclose(_read(result.dst), _read(keras_map.probabilities), atol=1e-5)


def test_uncertainty_from_the_onnx_file(exported_unet, hls_path, tmp_path):
    """TTA runs on any runner (the same entropy as with Keras); Monte Carlo dropout needs the Keras model."""
    model, files, _ = exported_unet
    kwargs = dict(sensor="hls_l30", tile_size=64, uncertainty="tta", progress=False)
    ours = rskeras.predict_raster(model, hls_path, tmp_path / "keras.tif", **kwargs)
    theirs = rskeras.predict_raster(files["onnx"], hls_path, tmp_path / "onnx.tif", **kwargs)
    np.testing.assert_allclose(_read(theirs.uncertainty), _read(ours.uncertainty), atol=1e-5)
    with pytest.raises(ValueError, match=r"needs Dropout layers, .*unet\.onnx.* has none \(an exported file runs in "
                                         r"inference mode only: use the \.keras model\)"):
        rskeras.predict_raster(files["onnx"], hls_path, tmp_path / "mc.tif", uncertainty="mc_dropout")
