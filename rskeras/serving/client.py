"""A TF Serving REST client on the standard library (urllib, json, base64); no TensorFlow.

Follows TF Serving's RESTful API:

* ``POST /v1/models/NAME[/versions/N]:predict`` with ``{"signature_name": ..., "instances": ...}``
  (row format, answered as ``{"predictions": ...}``) or ``{"inputs": ...}`` (columnar,
  answered as ``{"outputs": ...}``); a single named output comes back bare, several as
  objects keyed by output name.
* binary values travel as ``{"b64": "<standard base64>"}`` both ways (outputs whose
  name ends in ``_bytes``).
* ``GET /v1/models/NAME[/versions/N]`` (status) and ``GET .../metadata`` (signatures).
* errors are ``{"error": "<message>"}`` with an HTTP status; ``503`` is UNAVAILABLE.

Given the model's input contract, requests are checked before they are sent
(:func:`rskeras.layers.input_contract.check_inputs`, NumPy only).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from rskeras.layers.input_contract import InputContract, check_inputs, read_contracts

# HTTP statuses worth retrying: TF Serving's UNAVAILABLE (503) and a proxy's 502/504
RETRY_STATUSES = frozenset({502, 503, 504})


class ServingError(RuntimeError):
    """A TF Serving request failed.

    Attributes:
        message: the server's ``{"error": ...}`` message (or the transport error).
        status: the HTTP status, None when no answer came back.
        url: the URL requested.
    """

    def __init__(self, message: str, status: int | None, url: str):
        self.message = message
        self.status = status
        self.url = url
        where = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"TF Serving {where} from {url}: {message}")


class ServingTimeoutError(ServingError, TimeoutError):
    """No answer within the client's timeout."""


def _encode(value: Any) -> Any:
    """Request values -> JSON: arrays to nested lists, bytes to ``{"b64": ...}``."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "OSV":
            return [_encode(v) for v in value]
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode_b64(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def _to_array(value: Any) -> np.ndarray:
    value = _decode_b64(value)
    return np.asarray(value, dtype=object if _holds_bytes(value) else None)


def _holds_bytes(value: Any) -> bool:
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, (bytes, str))


def _rows_to_columns(rows: list) -> dict[str, np.ndarray] | np.ndarray:
    """Row-format predictions -> one array, or ``{output: array}`` for several outputs."""
    if rows and all(isinstance(r, dict) and not set(r) == {"b64"} for r in rows):
        return {k: _to_array([r[k] for r in rows]) for k in rows[0]}
    return _to_array(rows)


def _parse_outputs(outputs: Any) -> dict[str, np.ndarray] | np.ndarray:
    if isinstance(outputs, dict) and set(outputs) != {"b64"}:
        return {k: _to_array(v) for k, v in outputs.items()}
    return _to_array(outputs)


class Client:
    """Talk to one model on a TF Serving REST endpoint.

    Args:
        url: the server, e.g. ``"http://localhost:8501"``.
        model_name: the model's name (its folder name under ``/models``).
        version: a version number, or None for the latest one the server loaded.
        timeout: seconds to wait for each answer.
        retries: further attempts after a connection error or a 502/503/504 answer.
        backoff: seconds before the first retry, doubled for each next one.
        contract: what the model was trained on, to check numeric requests against before they are
            sent: an export's version folder (``saved_models/landcover/1``, whose ``rskeras.json`` holds
            it) or :func:`rskeras.models.metadata.input_contracts` of the model; None checks nothing.
            Values far outside the training ranges give an ``InputRangeWarning`` naming the band.

    Example::

        client = Client("http://localhost:8501", "landcover")
        out = client.predict(inputs={"image": tiles})  # {"probabilities": ..., "classes": ...}
    """

    def __init__(
        self,
        url: str,
        model_name: str,
        version: int | None = None,
        timeout: float = 30.0,
        retries: int = 3,
        backoff: float = 0.5,
        contract: str | os.PathLike | Sequence[InputContract] | None = None,
    ):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, got {url!r}")
        if retries < 0 or timeout <= 0:
            raise ValueError(f"need retries >= 0 and timeout > 0, got retries={retries}, timeout={timeout}")
        self.url = url.rstrip("/")
        self.model_name = model_name
        self.version = version
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.contract = read_contracts(contract) if isinstance(contract, (str, os.PathLike)) else contract

    @property
    def model_url(self) -> str:
        """``{url}/v1/models/NAME[/versions/N]``."""
        version = f"/versions/{int(self.version)}" if self.version is not None else ""
        return f"{self.url}/v1/models/{self.model_name}{version}"

    def _request(self, url: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        attempt = 0
        while True:
            request = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as error:
                status, message = error.code, _error_message(error)
                retry = status in RETRY_STATUSES
            except (TimeoutError, socket.timeout) as error:
                raise ServingTimeoutError(f"no answer within {self.timeout} s ({error})", None, url) from None
            except urllib.error.URLError as error:
                if isinstance(error.reason, (TimeoutError, socket.timeout)):
                    raise ServingTimeoutError(f"no answer within {self.timeout} s", None, url) from None
                status, message, retry = None, f"cannot connect: {error.reason}", True
            except ConnectionError as error:
                status, message, retry = None, f"connection failed: {error}", True
            if not retry or attempt >= self.retries:
                if retry and attempt:
                    message = f"{message} (after {attempt + 1} attempts)"
                raise ServingError(message, status, url)
            time.sleep(self.backoff * 2**attempt)
            attempt += 1

    def predict(
        self,
        instances: Any = None,
        *,
        inputs: Any = None,
        signature_name: str | None = None,
        band_names: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    ) -> dict[str, np.ndarray] | np.ndarray:
        """Run the model on ``instances`` (row format) or ``inputs`` (columnar format).

        Args:
            instances: a batch: an array / list (single-input models), or a list of
                ``{input_name: value}`` per instance.
            inputs: a tensor, or ``{input_name: batch array}`` (inputs may differ in length).
            signature_name: the signature to call; None -> ``serving_default``.
            band_names: with a ``contract``, the names of the bands the values hold, in order (a dict by
                input name for several inputs): refused with a ``BandError`` naming both lists unless
                they are the model's, in its order.

        Values: numpy arrays become nested lists; ``bytes`` become ``{"b64": ...}``.

        Returns:
            One array when the signature has a single output, else ``{output_name: array}``
            (bytes outputs as object arrays of ``bytes``).
        """
        if (instances is None) == (inputs is None):
            raise ValueError("give either instances= (row format) or inputs= (columnar format), not both")
        if self.contract is not None:
            check_inputs(self.contract, _request_values(self.contract, instances, inputs),
                         _per_input(self.contract, band_names), [self.model_url] * len(self.contract))
        body: dict[str, Any] = {}
        if signature_name is not None:
            body["signature_name"] = signature_name
        if instances is not None:
            body["instances"] = _encode(instances)
        else:
            body["inputs"] = _encode(inputs)
        answer = self._request(f"{self.model_url}:predict", body)
        if "predictions" in answer:
            return _rows_to_columns(answer["predictions"])
        if "outputs" in answer:
            return _parse_outputs(answer["outputs"])
        raise ServingError(f"answer has neither 'predictions' nor 'outputs': {sorted(answer)}", 200, self.model_url)

    def status(self) -> dict:
        """The model's version states (``GetModelStatusResponse`` as JSON)."""
        return self._request(self.model_url)

    def metadata(self) -> dict:
        """The model's signatures (``GetModelMetadataResponse`` as JSON)."""
        return self._request(f"{self.model_url}/metadata")

    def is_available(self) -> bool:
        """Whether every version the server reports for this model is ``AVAILABLE``."""
        states = [v.get("state") for v in self.status().get("model_version_status", [])]
        return bool(states) and all(s == "AVAILABLE" for s in states)


def _request_values(contract: Sequence[InputContract], instances: Any, inputs: Any) -> list[np.ndarray | None]:
    """Per contract input, the numbers a request sends (None where it sends none, e.g. Earth Engine records)."""
    data = inputs if inputs is not None else instances
    if inputs is None and isinstance(instances, list) and instances and all(isinstance(i, dict) for i in instances):
        data = {key: [instance[key] for instance in instances] for key in instances[0]}
    if not isinstance(data, Mapping):
        data = {contract[0].name: data} if len(contract) == 1 else {}
    elif len(contract) == 1 and len(data) == 1:
        data = {contract[0].name: next(iter(data.values()))}
    return [_numbers(data.get(item.name)) for item in contract]


def _numbers(value: Any) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.ndim else None


def _per_input(contract: Sequence[InputContract], band_names) -> list[Sequence[str] | None] | None:
    """``band_names`` as one list (or None) per contract input."""
    if band_names is None:
        return None
    if isinstance(band_names, Mapping):
        return [band_names.get(item.name) for item in contract]
    if len(contract) != 1:
        raise ValueError(f"the model has inputs {[item.name for item in contract]}: "
                         "give band_names= as a dict by input name")
    return [list(band_names)]


def _error_message(error: urllib.error.HTTPError) -> str:
    raw = error.read()
    try:
        return str(json.loads(raw)["error"])
    except (ValueError, KeyError, TypeError):
        text = raw.decode("utf-8", "replace").strip()
        return text or str(error.reason)
