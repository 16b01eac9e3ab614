"""Earth Engine hosted models: every payload format Earth Engine sends, for a pixel, a patch and a dense model,
replayed against the exported SavedModel on the real HLS chip and compared with predict_raster; the
``ee.Model.fromVertexAi`` call and the gcloud commands written beside the export."""

from __future__ import annotations

import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import rasterio
import tensorflow as tf

from rskeras.layers import band_statistics
from rskeras.models import ann, cnn, unet
from rskeras.serving import EE_PAYLOAD_FORMATS, check_ee_hosting, export_saved_model, read_export_metadata
from rskeras.serving.ee_hosting import plan_ee_hosting
from rskeras.serving.export import signature_spec
from tests.serving.fake_tf_serving import FakeTFServing

BANDS = ["blue", "green", "red", "nir"]
CLASSES = ["water", "forest", "crop"]
WINDOW = (40, 40, 96, 112)  # row, col, height, width of the chip replayed


@pytest.fixture(scope="module")
def stats(hls_path):
    with rasterio.open(hls_path) as src:
        return band_statistics(np.moveaxis(src.read([2, 3, 4, 5]), 0, -1))


@pytest.fixture(scope="module")
def models(stats):
    """A tiny model of each kind with fixed (untrained) weights, normalisation inside."""
    keras.utils.set_random_seed(0)
    common = {"band_names": BANDS, "band_stats": stats}
    return {
        "pixel": ann((4,), task="multiclass", class_names=CLASSES, hidden=(8,), **common),
        "patch": cnn((16, 16, 4), task="multiclass", class_names=CLASSES, widths=(4, 8), hidden=(8,),
                     batch_norm=False, dropout=0.0, **common),
        "dense": unet((None, None, 4), task="regression", n_outputs=1, depth=2, filters=4, **common),
    }


@pytest.fixture(scope="module")
def exports(models, tmp_path_factory):
    root = tmp_path_factory.mktemp("hosted") / "saved_models"
    formats = {"pixel": "SERIALIZED_TF_TENSORS", "patch": "ND_ARRAYS", "dense": "GRPC_TF_TENSORS"}
    return {kind: export_saved_model(model, root / kind, ee_payload_format=formats[kind]) for kind, model in
            models.items()}


@pytest.mark.parametrize("kind, tiles, overlaps", [
    ("pixel", [128, 37], [0]),
    ("patch", [16], [0]),
    ("dense", [128, 64], [48, 56]),
])
def test_every_payload_format_answers_as_predict_raster(kind, tiles, overlaps, models, exports, hls_path):
    report = check_ee_hosting(exports[kind], models[kind], hls_path, "all", tile_sizes=tiles, overlaps=overlaps,
                              window=WINDOW, sensor="hls_l30", masked_fraction=0.03)
    print(f"\n{kind}\n{report.summary()}")
    assert report.passed, report.summary()
    assert len(report.checks) == 6 * len(tiles) * len(overlaps)
    assert all(c.n_masked > 200 and c.n_compared > 30 for c in report.checks)
    if kind != "dense":
        assert report.max_abs_diff < 1e-5
    if kind == "patch":
        assert all(c.n_compared == 42 and c.n_tiles == 42 for c in report.checks)  # 6 x 7 cells of 16 px


def test_http_formats_through_tf_serving(models, exports, hls_path):
    """The JSON bodies Earth Engine posts, through TF Serving's REST API (the test double); serving_default
    answers the hosted format without a signature name, as Earth Engine sends none."""
    with FakeTFServing({"pixel": exports["pixel"].parent}) as server:
        report = check_ee_hosting(exports["pixel"], models["pixel"], hls_path,
                                  ["SERIALIZED_TF_TENSORS", "RAW_JSON", "ND_ARRAYS"], tile_sizes=[32],
                                  window=WINDOW, sensor="hls_l30", url=server.url, model_name="pixel")
        posted = [path for method, path in server.requests if method == "POST"]
    assert report.passed, report.summary()
    assert len(posted) == sum(c.n_requests for c in report.checks) and posted[0] == "/v1/models/pixel:predict"


def test_too_small_an_overlap_shows_at_the_seams(models, exports, hls_path):
    report = check_ee_hosting(exports["dense"], models["dense"], hls_path, "GRPC_TF_TENSORS", tile_sizes=[64],
                              overlaps=[0, 16], window=WINDOW, sensor="hls_l30")
    assert not report.passed and min(c.max_abs_diff for c in report.checks) > 1e-3
    assert any("less than 48, twice the receptive radius of 23 px" in note for note in report.notes)


def test_hosting_plan_follows_the_model(models):
    plans = {kind: plan_ee_hosting(m, signature_spec(m)) for kind, m in models.items()}
    assert (plans["pixel"].tile_size, plans["pixel"].overlap, plans["pixel"].output_tile_size) == ((128, 128), (0, 0), None)
    assert (plans["patch"].tile_size, plans["patch"].output_tile_size) == ((16, 16), (1, 1))
    assert (plans["dense"].tile_size, plans["dense"].overlap) == ((128, 128), (48, 48))  # radius 23 -> 24 on the grid of 4
    assert [(b.name, b.dimensions, b.pixel_type) for b in plans["pixel"].output_bands] == [
        ("probabilities", 1, "ee.PixelType.float()"), ("classes", 0, "ee.PixelType.uint8()")]
    fixed = unet((32, 32, 4), task="regression", depth=2, filters=4, band_names=BANDS)
    plan = plan_ee_hosting(fixed, signature_spec(fixed))
    assert (plan.tile_size, plan.overlap) == ((32, 32), (24, 24))  # as much as 32 px tiles allow, and said so
    assert "takes 32 px tiles only, too small for the overlap of 48 px" in plan.notes[0]
    with pytest.raises(ValueError, match="inputTileSize 30 is not a multiple of 4, the model's downsampling; use 32"):
        plan_ee_hosting(models["dense"], signature_spec(models["dense"]), tile_size=30)
    with pytest.raises(ValueError, match="inputTileSize 32 but the model takes 16 x 16 tiles only"):
        plan_ee_hosting(models["patch"], signature_spec(models["patch"]), tile_size=32)
    with pytest.raises(ValueError, match="inputOverlapSize 7 must be even"):
        plan_ee_hosting(models["dense"], signature_spec(models["dense"]), overlap=7)
    with pytest.raises(ValueError, match="unknown Earth Engine payload format 'JSON'; choose one of SERIALIZED_TF"):
        plan_ee_hosting(models["dense"], signature_spec(models["dense"]), "JSON")


class _Recorder:
    """A stand-in for earthengine-api that records the calls the generated file makes."""

    def __init__(self):
        self.calls = {}
        self.module = types.ModuleType("ee")
        self.module.Initialize = lambda **kw: self.calls.setdefault("Initialize", kw)
        self.module.Model = types.SimpleNamespace(fromVertexAi=lambda **kw: self.calls.setdefault("fromVertexAi", kw))
        self.module.Projection = lambda crs: types.SimpleNamespace(atScale=lambda scale: ("projection", crs, scale))
        self.module.PixelType = types.SimpleNamespace(float=lambda: "float", uint8=lambda: "uint8",
                                                      int32=lambda: "int32")


@pytest.mark.parametrize("kind", ["pixel", "patch", "dense"])
def test_generated_vertex_ai_call_and_commands(kind, exports, monkeypatch):
    folder = exports[kind]
    meta = read_export_metadata(folder)
    hosting = meta["ee_hosting"]
    recorder = _Recorder()
    monkeypatch.setitem(sys.modules, "ee", recorder.module)
    code = (folder / "assets.extra" / "earth_engine.py").read_text()
    namespace: dict = {}
    exec(compile(code, "earth_engine.py", "exec"), namespace)  # what a user runs, with ee recorded
    call = recorder.calls["fromVertexAi"]
    assert call["payloadFormat"] == hosting["payload_format"] and callable(namespace["predict"])
    assert call["inputTileSize"] == list(hosting["tile_size"])[::-1] and call["fixInputProj"] is True
    assert call["inputOverlapSize"] == {"pixel": [0, 0], "patch": [0, 0], "dense": [48, 48]}[kind]
    assert namespace["BANDS"] == BANDS and len(namespace["MEANS"]) == 4 and namespace["MEANS"][0] > 100
    expected = {"pixel": {"probabilities": {"type": "float", "dimensions": 1}, "classes": {"type": "uint8"}},
                "patch": {"output": {"type": "float", "dimensions": 1}},  # ND_ARRAYS: one nameless answer
                "dense": {"values": {"type": "float"}}}[kind]
    assert call["outputBands"] == expected
    assert ("outputTileSize" in call) == (kind == "patch")

    loaded = tf.saved_model.load(str(folder))
    assert {"serving_default", "serving_float", *EE_PAYLOAD_FORMATS.values()} == set(loaded.signatures)
    default = loaded.signatures["serving_default"].structured_input_signature[1]
    assert default.keys() == loaded.signatures[EE_PAYLOAD_FORMATS[hosting["payload_format"]]].structured_input_signature[1].keys()

    script = folder / "assets.extra" / "vertex_ai.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    assert "gcloud ai models upload" in text and "gcloud ai endpoints deploy-model" in text
    assert "--container-image-uri=\"$CONTAINER\"" in text and "vertex-ai/prediction/tf2-cpu.2-15:latest" in text
    assert ("--container-grpc-ports=8500" in text) == hosting["payload_format"].startswith("GRPC_")
    assert f'"$BUCKET/{kind}/1"' in text
