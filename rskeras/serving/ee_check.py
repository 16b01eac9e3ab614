"""Replay the requests Earth Engine sends a hosted model, and compare its answers with ``predict_raster``.

:func:`check_ee_hosting` takes a window of a real raster (the model's bands, with some pixels masked), tiles it
as ``ee.Model.fromVertexAi`` does (:mod:`rskeras.serving.ee_hosting`: tiles of ``inputTileSize`` sharing
``inputOverlapSize`` pixels, masked and outside pixels filled with the model's band means as the generated
``predict`` function does), encodes every tile in the payload format, sends it to the exported SavedModel and
decodes the answers into a mosaic:

- HTTP formats (``SERIALIZED_TF_TENSORS``, ``RAW_JSON``, ``ND_ARRAYS``): the JSON body Earth Engine posts, to a
  TF Serving REST endpoint (``url=``, e.g. the test double of ``tests/serving``) or, without one, parsed as TF
  Serving parses it and fed to the signature in this process; the JSON answer decoded likewise;
- gRPC formats: the tensors of the ``PredictRequest``, fed to the signature in this process
  (``tf.saved_model.load``).

The mosaic is compared with ``predict_raster`` on the same window (one tile covering it: a whole-image
prediction) where the answer is defined: every unmasked pixel for pixel models, every unmasked pixel at least the
model's receptive radius from the window's edge for dense models (outside the window Earth Engine sends the
means, ``predict_raster`` mirrors the scene), every complete cell for patch classifiers.
"""

from __future__ import annotations

import base64
import json
import math
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import rasterio
import tensorflow as tf

from rskeras.data.ee_records.example_codec import float_examples
from rskeras.data.rasters import match_model_bands, open_raster
from rskeras.inference.model_probe import probe_model
from rskeras.inference.predict import predict_raster
from rskeras.inference.runner import load_model
from rskeras.serving.client import Client
from rskeras.serving.ee_hosting import EeHosting, check_payload_format, plan_ee_hosting
from rskeras.serving.ee_payloads import EE_PAYLOAD_FORMATS, EXAMPLES_INPUT, HTTP_FORMATS
from rskeras.serving.export import read_export_metadata, signature_spec

NODATA = -9999.0


@dataclass
class HostingCheck:
    """One replay: a payload format with one tile and overlap size.

    Attributes:
        max_abs_diff: largest difference from ``predict_raster`` over the compared pixels (probabilities or values).
        class_agreement: share of compared pixels whose class equals ``predict_raster``'s (classifiers), else None.
        n_compared, n_masked: pixels compared, and masked input pixels (left out).
        n_tiles, n_requests: tiles sent and the requests that carried them.
    """

    payload_format: str
    tile_size: int
    overlap: int
    max_abs_diff: float
    class_agreement: float | None
    n_compared: int
    n_masked: int
    n_tiles: int
    n_requests: int

    def passed(self, tolerance: float) -> bool:
        return self.max_abs_diff <= tolerance and self.class_agreement in (None, 1.0)


@dataclass
class EeHostingReport:
    """Every replay of :func:`check_ee_hosting`, with the tolerance they were held to."""

    checks: list[HostingCheck]
    tolerance: float
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed(self.tolerance) for c in self.checks)

    @property
    def max_abs_diff(self) -> float:
        return max(c.max_abs_diff for c in self.checks)

    def summary(self) -> str:
        lines = [f"{c.payload_format:<28} tile {c.tile_size:>4} overlap {c.overlap:>3}: max |diff| {c.max_abs_diff:.2e}"
                 + (f", classes agree {c.class_agreement:.4f}" if c.class_agreement is not None else "")
                 + f" on {c.n_compared} px ({c.n_masked} masked, {c.n_tiles} tiles in {c.n_requests} requests)"
                 for c in self.checks]
        return "\n".join(lines + self.notes)


@dataclass
class _Window:
    """The raster window replayed: values ``(bands, H, W)`` float32, masked pixels, the GeoTIFF holding both."""

    values: np.ndarray
    masked: np.ndarray
    path: Path


def check_ee_hosting(
    export_dir: str | os.PathLike,
    model: keras.Model | str | os.PathLike,
    raster: str | os.PathLike,
    payload_format: str | Sequence[str] = "SERIALIZED_TF_TENSORS",
    *,
    tile_sizes: Sequence[int] | None = None,
    overlaps: Sequence[int] | None = None,
    window: tuple[int, int, int, int] | None = None,
    bands: Sequence[int | str] | None = None,
    sensor: str | None = None,
    masked_fraction: float = 0.02,
    tiles_per_request: int = 4,
    url: str | None = None,
    model_name: str | None = None,
    tolerance: float = 1e-4,
    seed: int = 0,
) -> EeHostingReport:
    """Replay Earth Engine's requests for a window of ``raster`` against an export and compare with ``predict_raster``.

    Args:
        export_dir: a version folder written by :func:`~rskeras.serving.export_saved_model` with the Earth Engine
            signatures.
        model: the Keras model (or ``.keras`` file) that was exported: ``predict_raster``'s reference.
        raster: a raster holding the model's bands (by name, or ``bands=`` / ``sensor=`` as for ``predict_raster``).
        payload_format: one format, a list, or ``"all"`` (:data:`~rskeras.serving.ee_payloads.EE_PAYLOAD_FORMATS`).
        tile_sizes, overlaps: ``inputTileSize`` and ``inputOverlapSize`` values to replay (every pair); default
            the export's hosting plan.
        window: ``(row, col, height, width)`` of the raster (default: the whole raster).
        masked_fraction: share of the window's pixels masked at random (as a cloud mask would), besides the
            raster's own nodata.
        tiles_per_request: instances per request.
        url, model_name: a TF Serving REST endpoint to send the HTTP formats to (default: in this process).
        tolerance: the largest difference from ``predict_raster`` that :attr:`EeHostingReport.passed` accepts.

    Raises:
        ValueError: a model with several inputs or outputs (``predict_raster`` takes one raster and writes one
            output here), an export without Earth Engine signatures, a window outside the raster.
    """
    model = load_model(model)
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(f"check_ee_hosting compares one raster in, one output out; model {model.name!r} has "
                         f"{len(model.inputs)} inputs and {len(model.outputs)} outputs")
    formats = list(EE_PAYLOAD_FORMATS) if payload_format == "all" else (
        [payload_format] if isinstance(payload_format, str) else list(payload_format))
    formats = [check_payload_format(f) for f in formats]
    export_dir = Path(export_dir)
    metadata = read_export_metadata(export_dir)
    missing = sorted({EE_PAYLOAD_FORMATS[f] for f in formats} - set(metadata["signatures"]))
    if missing:
        raise ValueError(f"{export_dir} has no signature {missing}; export with ee_signature=True")
    spec = signature_spec(model)
    plan = (EeHosting.from_json(metadata["ee_hosting"]) if "ee_hosting" in metadata
            else plan_ee_hosting(model, spec, formats[0]))
    loaded = tf.saved_model.load(str(export_dir))
    checks, notes = [], list(plan.notes)
    with tempfile.TemporaryDirectory(prefix="rskeras-ee-check-") as tmp:
        win = _read_window(raster, model, spec.inputs[0].band_names, bands, sensor, window, masked_fraction, seed,
                           Path(tmp))
        for tile in tile_sizes or [plan.tile_size[0]]:
            for overlap in overlaps if overlaps is not None else [plan.overlap[0]]:
                tiles = plan_ee_hosting(model, spec, formats[0], tile, overlap)
                notes += [n for n in tiles.notes if n not in notes]
                reference = _reference(model, win, tiles, Path(tmp) / f"ref-{tile}-{overlap}.tif")
                for name in formats:
                    sender = _Sender(loaded, name, url, model_name or export_dir.parent.name, tiles)
                    mosaic, n_tiles = _replay(win, tiles, sender, tiles_per_request)
                    checks.append(_compare(name, tiles, mosaic, reference, win, _margin(model, tiles), n_tiles,
                                           sender.requests))
    return EeHostingReport(checks, tolerance, notes)


# ----- the window and the reference -------------------------------------------------------------------------------

def _read_window(raster, model, model_bands, bands, sensor, window, masked_fraction, seed, folder: Path) -> _Window:
    """The model's bands of ``raster`` in ``window`` with extra masked pixels, also written as a GeoTIFF."""
    with open_raster(raster) as ds:
        indexes, _ = match_model_bands(ds, model_bands, len(model_bands), bands, sensor)
        row, col, height, width = window or (0, 0, ds.height, ds.width)
        if row < 0 or col < 0 or row + height > ds.height or col + width > ds.width:
            raise ValueError(f"window {window} reaches outside {raster} ({ds.height} x {ds.width} px)")
        win = rasterio.windows.Window(col, row, width, height)
        data = ds.read(indexes, window=win, masked=True)
        profile = {"driver": "GTiff", "height": height, "width": width, "count": len(indexes), "dtype": "float32",
                   "crs": ds.crs, "transform": ds.window_transform(win), "nodata": NODATA}
    values = np.asarray(data.data, np.float32)
    masked = np.ma.getmaskarray(data).any(axis=0) | np.isnan(values).any(axis=0)
    masked |= np.random.default_rng(seed).random(masked.shape) < masked_fraction
    path = folder / "window.tif"
    with rasterio.open(path, "w", **profile) as out:
        out.write(np.where(masked, np.float32(NODATA), values))
        out.descriptions = tuple(model_bands)
    return _Window(values, masked, path)


def _reference(model: keras.Model, win: _Window, tiles: EeHosting, path: Path) -> dict[str, np.ndarray]:
    """``predict_raster`` on the window: ``{"classes"|"values": (h, w), "probabilities": (h, w, k)}``."""
    height, width = win.masked.shape
    patch = tiles.kind == "patch"
    options = ({"kind": "patch", "tile_size": tiles.tile_size[0], "overlap": 0, "patch_output": "coarse"} if patch
               else {"tile_size": max(height, width) + 64 if tiles.kind == "dense" else None})
    classifier = any(b.name == "probabilities" for b in tiles.output_bands)
    with warnings.catch_warnings():  # the one tile covering the window is what is wanted here
        warnings.simplefilter("ignore", UserWarning)
        result = predict_raster(model, win.path, path, probabilities=classifier, progress=False, **options)
    with rasterio.open(result.dst) as src:
        main = src.read(1, masked=True)
    out = {"classes" if classifier else "values": main}
    if classifier:
        with rasterio.open(result.probabilities) as src:
            out["probabilities"] = np.ma.masked_array(np.moveaxis(src.read(), 0, -1), np.repeat(
                np.ma.getmaskarray(main)[..., None], src.count, axis=-1))
    return out


def _margin(model: keras.Model, tiles: EeHosting) -> int:
    """Pixels at the window's edge left out of the comparison (where outside pixels reach an answer)."""
    if tiles.kind != "dense":
        return 0
    radius = probe_model(model).receptive_radius
    return math.ceil(radius) if math.isfinite(radius) else 0


# ----- tiling and the requests ------------------------------------------------------------------------------------

def _tile_origins(n: int, tile: int, overlap: int) -> list[int]:
    """Earth Engine's tiles along an axis of ``n`` px: kept cores of ``tile - overlap`` px from pixel 0."""
    core = tile - overlap
    return [k * core - overlap // 2 for k in range(math.ceil(n / core))]


def _cut(filled: np.ndarray, top: int, left: int, tile: int, fill: np.ndarray) -> np.ndarray:
    """A ``(bands, tile, tile)`` tile of ``filled`` starting at ``(top, left)``; pixels outside are ``fill``."""
    bands, height, width = filled.shape
    out = np.broadcast_to(fill[:, None, None], (bands, tile, tile)).copy()
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + tile, height), min(left + tile, width)
    if y1 > y0 and x1 > x0:
        out[:, y0 - top:y1 - top, x0 - left:x1 - left] = filled[:, y0:y1, x0:x1]
    return out


def _replay(win: _Window, tiles: EeHosting, sender: _Sender, per_request: int) -> tuple[dict, int]:
    """Send every tile of the window and mosaic the kept part of each answer: ``({band: array}, n_tiles)``."""
    fill = np.asarray(tiles.band_means, np.float32)
    filled = np.where(win.masked[None], fill[:, None, None], win.values)
    height, width = win.masked.shape
    tile, overlap = tiles.tile_size[0], tiles.overlap[0]
    cells = [(top, left) for top in _tile_origins(height, tile, overlap) for left in _tile_origins(width, tile, overlap)]
    mosaic: dict[str, np.ndarray] = {}
    for start in range(0, len(cells), per_request):
        batch = cells[start:start + per_request]
        answers = sender(np.stack([_cut(filled, top, left, tile, fill) for top, left in batch]))
        for name, values in answers.items():
            for (top, left), answer in zip(batch, values):
                _place(mosaic, name, answer, top, left, tiles, (height, width))
    return mosaic, len(cells)


def _place(mosaic: dict, name: str, answer: np.ndarray, top: int, left: int, tiles: EeHosting,
           size: tuple[int, int]) -> None:
    """Put the kept centre of one answer (``(h, w[, k])``) into ``mosaic[name]``."""
    half, core = tiles.overlap[0] // 2, tiles.tile_size[0] - tiles.overlap[0]
    if tiles.output_tile_size:  # a patch classifier: one pixel per tile, on the coarse grid
        grid = (math.ceil(size[0] / core), math.ceil(size[1] / core))
        target = mosaic.setdefault(name, np.full(grid + answer.shape[2:], np.nan, np.float32))
        target[top // core, left // core] = answer[0, 0]
        return
    target = mosaic.setdefault(name, np.full(size + answer.shape[2:], np.nan, np.float32))
    y, x = top + half, left + half
    kept = answer[half:half + core, half:half + core]
    h, w = min(core, size[0] - y), min(core, size[1] - x)
    target[y:y + h, x:x + w] = kept[:h, :w]


class _Sender:
    """Encodes tiles ``(n, bands, H, W)`` as Earth Engine does in one payload format and decodes the answers
    into ``{output band: (n, H, W[, k])}``."""

    def __init__(self, loaded, payload_format: str, url: str | None, model_name: str, tiles: EeHosting):
        self.format, self.tiles = payload_format, tiles
        self.signature = EE_PAYLOAD_FORMATS[payload_format]
        self.function = loaded.signatures[self.signature]
        self.client = Client(url, model_name) if url and payload_format in HTTP_FORMATS else None
        self.requests = 0

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.requests += 1
        bands = self.tiles.input_bands
        if self.format in HTTP_FORMATS:
            return self._http(self._instances(batch))
        if self.format == "GRPC_SERIALIZED_TF_EXAMPLES":
            records = float_examples({b: batch[:, i] for i, b in enumerate(bands)})
            return self._numbers(self.function(**{EXAMPLES_INPUT: tf.constant(records)}))
        if self.format == "GRPC_SERIALIZED_TF_TENSORS":
            strings = {b: tf.constant([_serialize(tile) for tile in batch[:, i]]) for i, b in enumerate(bands)}
            return self._deserialize(self._numbers(self.function(**strings)))
        return self._numbers(self.function(**{b: tf.constant(batch[:, i]) for i, b in enumerate(bands)}))

    def _instances(self, batch: np.ndarray) -> list:
        """The JSON instances Earth Engine posts for ``batch``."""
        bands = self.tiles.input_bands
        if self.format == "SERIALIZED_TF_TENSORS":
            return [{b: _serialize(tile[i]) for i, b in enumerate(bands)} for tile in batch]
        if self.format == "RAW_JSON":  # every number as a JSON string
            return [{b: [[repr(float(v)) for v in row] for row in tile[i]] for i, b in enumerate(bands)} for tile in batch]
        return [tile.tolist() for tile in batch]  # ND_ARRAYS: (bands, H, W) per instance

    def _http(self, instances: list) -> dict[str, np.ndarray]:
        """Post ``instances`` (to the server, or parsed as TF Serving parses them) and decode the JSON answer."""
        named = None if self.signature == self.tiles.signature else self.signature  # Earth Engine names none
        if self.client is not None:
            answer = self.client.predict(instances, signature_name=named)
        else:
            answer = _rest_in_process(self.function, json.loads(json.dumps({"instances": instances})))
        if not isinstance(answer, dict):  # one nameless output (ND_ARRAYS)
            answer = {self.tiles.output_bands[0].name: answer}
        answer = {k: np.asarray(v) for k, v in answer.items()}
        return self._deserialize(answer) if self.format == "SERIALIZED_TF_TENSORS" else \
            {k: v.astype(np.float32) for k, v in answer.items()}

    def _numbers(self, outputs) -> dict[str, np.ndarray]:
        return {k: v.numpy() for k, v in outputs.items()}

    def _deserialize(self, outputs: dict) -> dict[str, np.ndarray]:
        return {k: np.stack([_parse(s) for s in v]) for k, v in outputs.items()}


def _serialize(tile: np.ndarray) -> str:
    """A float32 tile as Earth Engine sends it: web-safe base64 of the serialized TensorProto."""
    return base64.urlsafe_b64encode(tf.io.serialize_tensor(tf.constant(tile, tf.float32)).numpy()).decode("ascii")


def _parse(value) -> np.ndarray:
    text = value.decode() if isinstance(value, bytes) else str(value)
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return tf.io.parse_tensor(raw, tf.float32).numpy()


def _rest_in_process(function, body: dict):
    """What TF Serving's REST API does with a row-format body: columns by input name, tensors of the
    signature's dtypes, the answer as JSON (one nameless output as a list)."""
    specs = function.structured_input_signature[1]
    rows = body["instances"]
    columns = ({k: [r[k] for r in rows] for k in rows[0]} if isinstance(rows[0], dict)
               else {next(iter(specs)): rows})
    outputs = function(**{k: tf.constant(v, dtype=specs[k].dtype) for k, v in columns.items()})
    answer = {k: [x.decode() if isinstance(x, bytes) else x for x in v.numpy().tolist()] for k, v in outputs.items()}
    answer = json.loads(json.dumps(answer))
    return next(iter(answer.values())) if len(answer) == 1 else answer


# ----- the comparison ---------------------------------------------------------------------------------------------

def _compare(name: str, tiles: EeHosting, mosaic: dict, reference: dict, win: _Window, margin: int,
             n_tiles: int, n_requests: int) -> HostingCheck:
    """Differences between the replayed mosaic and ``predict_raster`` where both are defined."""
    main = "classes" if "classes" in reference else "values"
    valid = ~np.ma.getmaskarray(reference[main])
    if tiles.output_tile_size:  # complete cells only: a partial one is mirrored by predict_raster
        cell = tiles.tile_size[0]
        valid[win.masked.shape[0] // cell:] = False
        valid[:, win.masked.shape[1] // cell:] = False
    elif margin:
        inner = np.zeros_like(valid)
        inner[margin:-margin, margin:-margin] = True
        valid &= inner
    diffs, agreement = [0.0], None
    for band, values in mosaic.items():
        ref, got = np.ma.getdata(reference[band]).astype(np.float32), values
        if band == "classes":
            agreement = float(np.mean(got[valid] == ref[valid])) if valid.any() else 1.0
        else:
            diffs.append(float(np.max(np.abs(got[valid] - ref[valid]))) if valid.any() else 0.0)
    return HostingCheck(name, tiles.tile_size[0], tiles.overlap[0], max(diffs), agreement, int(valid.sum()),
                        int(win.masked.sum()), n_tiles, n_requests)
