"""TEST DOUBLE of TensorFlow Serving's REST API (not a server to deploy).

The real ``tensorflow_model_server`` cannot be installed on the test machines, so the
client tests talk to this stand-in: an ``http.server`` on 127.0.0.1 (port 0) in a
thread that answers the documented REST formats (model status, metadata, predict in
row and columnar formats, ``{"b64": ...}`` values, outputs named ``*_bytes`` returned as
``{"b64": ...}``, errors as ``{"error": ...}`` with TF Serving's HTTP statuses).
Predictions are computed by the exported SavedModels' signatures, loaded with the
``serve`` tag as the real server does. Knobs for failure tests: ``unavailable_first``
answers that many requests with 503 UNAVAILABLE first, ``delay`` sleeps before each answer.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

_ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<rest>/metadata|:predict)?$")


class _Error(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _b64_decode(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_b64_decode(v) for v in value]
    return value


def _to_json(name: str, array):
    """One output (or one row of it) as TF Serving writes it; ``*_bytes`` strings as ``{"b64": ...}``."""
    array = np.asarray(array)
    if name.endswith("_bytes"):
        encoded = np.vectorize(lambda v: {"b64": base64.b64encode(v).decode()}, otypes=[object])(array)
        return encoded.tolist() if array.ndim else encoded.item()
    if array.dtype.kind in "OS":  # strings, also one row's scalar string
        decoded = np.vectorize(lambda v: v.decode("utf-8", "replace"), otypes=[object])(array)
        return decoded.tolist() if array.ndim else decoded.item()
    return array.tolist()


def _tensor_info(spec: tf.TensorSpec, key: str, prefix: str) -> dict:
    unknown = spec.shape.rank is None  # a signature input of any rank, as TF Serving reports it
    dims = [] if unknown else [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape]
    return {
        "dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
        "tensor_shape": {"dim": dims, "unknown_rank": unknown},
        "name": f"{prefix}_{key}:0",
    }


class FakeTFServing:
    """A TF Serving REST test double serving ``{model_name: base_dir}`` (all integer versions).

    Use as a context manager; ``url`` is ``http://127.0.0.1:<port>``.
    """

    def __init__(self, models: dict[str, Path], unavailable_first: int = 0, delay: float = 0.0):
        self.loaded = {
            name: {int(p.name): tf.saved_model.load(str(p), tags=["serve"]) for p in Path(base).iterdir() if p.name.isdigit()}
            for name, base in models.items()
        }
        self.unavailable_first = unavailable_first
        self.delay = delay
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeTFServing":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # ----- request handling -----------------------------------------------------------

    def _servable(self, name: str, version: str | None):
        versions = self.loaded.get(name)
        if not versions:
            raise _Error(404, f"Servable not found for request: Latest({name})")
        if version is None:
            number = max(versions)
        elif int(version) in versions:
            number = int(version)
        else:
            raise _Error(404, f"Servable not found for request: Specific({name}, {version})")
        return number, versions[number]

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        with self._lock:
            self.requests.append((method, path))
            if self.unavailable_first > 0:
                self.unavailable_first -= 1
                return 503, {"error": "Model is not available yet: UNAVAILABLE"}
        if self.delay:
            time.sleep(self.delay)
        match = _ROUTE.match(path)
        if match is None:
            return 404, {"error": f"Malformed request: {method} {path}"}
        name, version, rest = match.group("name"), match.group("version"), match.group("rest")
        try:
            if method == "GET" and rest is None:
                return 200, self._status(name, version)
            if method == "GET" and rest == "/metadata":
                return 200, self._metadata(name, version)
            if method == "POST" and rest == ":predict":
                return 200, self._predict(name, version, body)
            return 404, {"error": f"Malformed request: {method} {path}"}
        except _Error as error:
            return error.status, {"error": error.message}

    def _status(self, name: str, version: str | None) -> dict:
        versions = self.loaded.get(name)
        if not versions:
            raise _Error(404, f"Could not find any versions of model {name}")
        if version is not None and int(version) not in versions:
            raise _Error(404, f"Could not find version {version} of model {name}")
        numbers = [int(version)] if version is not None else sorted(versions, reverse=True)
        return {
            "model_version_status": [
                {"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
                for v in numbers
            ]
        }

    def _metadata(self, name: str, version: str | None) -> dict:
        number, model = self._servable(name, version)
        signature_def = {}
        for key, fn in model.signatures.items():
            inputs = fn.structured_input_signature[1]
            outputs = fn.structured_outputs
            signature_def[key] = {
                "inputs": {k: _tensor_info(s, k, key) for k, s in inputs.items()},
                "outputs": {
                    k: _tensor_info(tf.TensorSpec(t.shape, t.dtype), k, "StatefulPartitionedCall")
                    for k, t in outputs.items()
                },
                "method_name": "tensorflow/serving/predict",
            }
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(number)},
            "metadata": {"signature_def": {"signature_def": signature_def}},
        }

    def _predict(self, name: str, version: str | None, body: bytes) -> dict:
        _, model = self._servable(name, version)
        try:
            request = json.loads(body)
        except ValueError as error:
            raise _Error(400, f"JSON Parse error: {error}") from None
        signature_name = request.get("signature_name", "serving_default")
        if signature_name not in model.signatures:
            raise _Error(400, f'Serving signature name: "{signature_name}" not found in signature def')
        fn = model.signatures[signature_name]
        specs = fn.structured_input_signature[1]
        if ("instances" in request) == ("inputs" in request):
            raise _Error(400, "Missing 'inputs' or 'instances' key" if "instances" not in request else
                         "Request must have either 'inputs' or 'instances', not both")
        row = "instances" in request
        data = request["instances"] if row else request["inputs"]
        if row and data and isinstance(data[0], dict) and set(data[0]) != {"b64"}:
            columns = {k: [instance[k] for instance in data] for k in data[0]}
        elif isinstance(data, dict) and set(data) != {"b64"}:
            columns = data
        elif len(specs) == 1:
            columns = {next(iter(specs)): data}
        else:
            raise _Error(400, f"Signature has {len(specs)} inputs {sorted(specs)}; name them")
        missing, unknown = set(specs) - set(columns), set(columns) - set(specs)
        if missing or unknown:
            raise _Error(400, f"Failed to process input: missing {sorted(missing)}, unknown {sorted(unknown)}")
        tensors = {}
        for key, spec in specs.items():
            value = _b64_decode(columns[key])
            try:
                tensors[key] = tf.constant(value, dtype=spec.dtype)
            except (TypeError, ValueError) as error:
                raise _Error(400, f"Input {key!r} cannot be read as {spec.dtype.name}: {error}") from None
            if not spec.shape.is_compatible_with(tensors[key].shape):
                raise _Error(
                    400, f"input tensor alias {key} has shape {tensors[key].shape.as_list()}, "
                    f"expected {spec.shape.as_list()}"
                )
        try:
            outputs = {k: v.numpy() for k, v in fn(**tensors).items()}
        except tf.errors.OpError as error:
            raise _Error(400, error.message) from None
        if row:
            if len(outputs) == 1:
                (key, array), = outputs.items()
                return {"predictions": _to_json(key, array)}
            n = len(next(iter(outputs.values())))
            return {"predictions": [{k: _to_json(k, v[i]) for k, v in outputs.items()} for i in range(n)]}
        if len(outputs) == 1:
            (key, array), = outputs.items()
            return {"outputs": _to_json(key, array)}
        return {"outputs": {k: _to_json(k, v) for k, v in outputs.items()}}

    def _handler_class(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                status, payload = double.handle(method, self.path, self.rfile.read(length))
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def do_GET(self):  # noqa: N802
                self._answer("GET")

            def do_POST(self):  # noqa: N802
                self._answer("POST")

            def log_message(self, *args):
                pass

        return Handler
