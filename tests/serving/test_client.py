"""rskeras.serving.Client against a TF Serving REST test double (tests/serving/fake_tf_serving.py)."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from rskeras.heads import output_head
from rskeras.layers import BandNormalization
from rskeras.serving import Client, ServingError, ServingTimeoutError, export_saved_model, float_examples

BANDS = ["blue", "green", "red", "nir"]
CLASSES = ["water", "forest", "urban"]


def _load_double():
    path = Path(__file__).with_name("fake_tf_serving.py")
    spec = importlib.util.spec_from_file_location("fake_tf_serving", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fake_tf_serving", module)
    spec.loader.exec_module(module)
    return module


FakeTFServing = _load_double().FakeTFServing


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A pixel classifier and a patch model exported to saved_models/, and the Keras models."""
    keras.utils.set_random_seed(3)
    root = tmp_path_factory.mktemp("client") / "saved_models"
    x = keras.Input((4,))
    h = BandNormalization([500.0] * 4, [200.0] * 4, band_names=BANDS)(x)
    pixel = keras.Model(x, output_head(keras.layers.Dense(6, activation="relu")(h), "multiclass", 3, CLASSES))
    x = keras.Input((4, 4, 4))
    h = BandNormalization([500.0] * 4, [200.0] * 4, band_names=BANDS)(x)
    patch = keras.Model(x, output_head(keras.layers.Conv2D(3, 1)(h), "regression", 1, kind="conv"))
    export_saved_model(pixel, root / "landcover")
    export_saved_model(pixel, root / "landcover")  # version 2
    export_saved_model(patch, root / "ndvi")
    return {"root": root, "pixel": pixel, "patch": patch}


@pytest.fixture(scope="module")
def server(served):
    with FakeTFServing({"landcover": served["root"] / "landcover", "ndvi": served["root"] / "ndvi"}) as double:
        yield double


@pytest.fixture
def pixels() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 1000, (5, 4)).astype("float32")


def test_predict_row_format(server, served, pixels):
    client = Client(server.url, "landcover")
    out = client.predict(pixels)
    expected = served["pixel"].predict(pixels, verbose=0)
    assert set(out) == {"probabilities", "classes"}
    assert out["probabilities"].shape == (5, 3) and np.allclose(out["probabilities"], expected, atol=1e-5)
    assert np.array_equal(out["classes"], expected.argmax(-1))
    # the same as a list of named instances
    named = client.predict([{"pixels": row} for row in pixels])
    assert np.allclose(named["probabilities"], out["probabilities"])
    assert server.requests[-1] == ("POST", "/v1/models/landcover:predict")


def test_predict_columnar_format_and_version(server, served, pixels):
    client = Client(server.url + "/", "ndvi", version=1)
    image = np.random.default_rng(1).uniform(0, 1000, (2, 4, 4, 4)).astype("float32")
    out = client.predict(inputs={"image": image})
    assert isinstance(out, np.ndarray) and out.shape == (2, 4, 4, 1)  # a single output comes back bare
    assert np.allclose(out, served["patch"].predict(image, verbose=0), atol=1e-4)
    assert server.requests[-1] == ("POST", "/v1/models/ndvi/versions/1:predict")


def test_earth_engine_records_travel_as_b64(server, served, pixels):
    client = Client(server.url, "landcover")
    tile = pixels[:4].reshape(2, 2, len(BANDS))  # one 2 x 2 tile, as Earth Engine sends it
    records = float_examples({band: tile[None, ..., i] for i, band in enumerate(BANDS)})
    out = client.predict(records, signature_name="serving_ee_examples")
    expected = served["pixel"].predict(pixels[:4], verbose=0).reshape(1, 2, 2, len(CLASSES))
    assert np.allclose(out["probabilities"], expected, atol=1e-5)
    assert np.array_equal(out["classes"], expected.argmax(-1))
    columnar = client.predict(inputs={"input": records}, signature_name="serving_ee_examples")
    assert np.array_equal(columnar["classes"], out["classes"])


def test_status_and_metadata(server):
    client = Client(server.url, "landcover")
    status = client.status()
    assert [v["version"] for v in status["model_version_status"]] == ["2", "1"]
    assert status["model_version_status"][0]["state"] == "AVAILABLE" and client.is_available()
    assert Client(server.url, "landcover", version=1).status()["model_version_status"][0]["version"] == "1"
    meta = client.metadata()
    assert meta["model_spec"]["version"] == "2"
    signatures = meta["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == {"serving_default", "serving_ee_examples", "serving_ee_serialized", "serving_ee_raw_json",
                               "serving_ee_nd_arrays", "serving_ee_tensors"}
    default = signatures["serving_default"]
    assert default["inputs"]["pixels"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in default["inputs"]["pixels"]["tensor_shape"]["dim"]] == ["-1", "4"]
    assert default["outputs"]["classes"]["dtype"] == "DT_INT64"
    assert server.requests[-1] == ("GET", "/v1/models/landcover/metadata")


def test_errors_carry_server_message_and_status(server, pixels):
    client = Client(server.url, "landcover", retries=0)
    with pytest.raises(ServingError, match='Serving signature name: "nope" not found') as info:
        client.predict(pixels, signature_name="nope")
    assert info.value.status == 400 and info.value.url.endswith("/v1/models/landcover:predict")
    with pytest.raises(ServingError, match=r"HTTP 400 .*input tensor alias pixels has shape \[5, 3\]"):
        client.predict(pixels[:, :3])
    with pytest.raises(ServingError, match=r"Servable not found for request: Latest\(roads\)") as info:
        Client(server.url, "roads").predict(pixels)
    assert info.value.status == 404
    with pytest.raises(ServingError, match="Could not find version 9 of model landcover"):
        Client(server.url, "landcover", version=9).status()
    with pytest.raises(ValueError, match="either instances= .* or inputs="):
        client.predict(pixels, inputs={"pixels": pixels})


def test_retries_after_unavailable(served, pixels):
    with FakeTFServing({"landcover": served["root"] / "landcover"}, unavailable_first=2) as double:
        out = Client(double.url, "landcover", retries=2, backoff=0.01).predict(pixels)
        assert out["probabilities"].shape == (5, 3)
        assert len(double.requests) == 3
    with FakeTFServing({"landcover": served["root"] / "landcover"}, unavailable_first=5) as double:
        with pytest.raises(ServingError, match=r"UNAVAILABLE \(after 3 attempts\)") as info:
            Client(double.url, "landcover", retries=2, backoff=0.01).predict(pixels)
        assert info.value.status == 503 and len(double.requests) == 3


def test_timeout(served, pixels):
    with FakeTFServing({"landcover": served["root"] / "landcover"}, delay=1.5) as double:
        client = Client(double.url, "landcover", timeout=0.3, retries=2, backoff=0.01)
        with pytest.raises(ServingTimeoutError, match="no answer within 0.3 s") as info:
            client.predict(pixels)
        assert isinstance(info.value, TimeoutError) and len(double.requests) == 1  # a slow model is not retried


def test_connection_refused_is_retried_then_reported(pixels):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", "landcover", retries=1, backoff=0.01)
    with pytest.raises(ServingError, match=r"cannot connect: .*\(after 2 attempts\)") as info:
        client.status()
    assert info.value.status is None
    with pytest.raises(ValueError, match="must start with http"):
        Client("localhost:8501", "landcover")
