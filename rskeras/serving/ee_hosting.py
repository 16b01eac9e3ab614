"""A model hosted on Vertex AI for Earth Engine: the tiles it is sent, the files written beside its export.

:func:`plan_ee_hosting` chooses how Earth Engine tiles an image for the model (``inputTileSize``,
``inputOverlapSize``, ``outputTileSize``) from its kind and its layers (:mod:`rskeras.inference.model_probe`):

- pixel models: any tile (default 128 x 128), no overlap;
- patch classifiers: tiles of the model's input size, no overlap, one answer pixel per tile
  (``outputTileSize: [1, 1]``), i.e. ``predict_raster``'s ``patch_output="coarse"`` map;
- dense models: tiles that are multiples of the model's downsampling, overlapping by twice the model's
  receptive radius rounded up to that multiple. Neighbouring tiles share ``inputOverlapSize`` pixels and
  Earth Engine keeps the centre of each answer (half the overlap is dropped at each edge), so every kept pixel
  saw all the context that changes it, on the model's pooling grid: the mosaic equals a whole-image
  prediction. (The guide leaves the meaning of ``inputOverlapSize`` implicit; this reading is the one under
  which Google's own hosted-model examples keep pixels: 144 px tiles with 8, 64 with 32, 128 with 64.)

Earth Engine sends masked pixels as 0 and masks an answer where any input band is masked. ``predict_raster``
fills nodata with the model's band means instead; the ``predict`` function written beside the export does the
same before calling the model (``unmask`` with the means) and masks the answer again, so both agree.

:func:`write_hosting_files` writes ``assets.extra/earth_engine.py`` (the ``ee.Model.fromVertexAi`` call) and
``assets.extra/vertex_ai.sh`` (``gcloud ai models upload`` / ``endpoints create`` / ``endpoints deploy-model``
with Vertex AI's pre-built TensorFlow serving container). Neither is run by the tests: they need Google Cloud.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras

from rskeras.inference.model_probe import probe_model
from rskeras.inference.model_spec import ModelSpec
from rskeras.inference.runner import describe_model
from rskeras.inference.tiling import round_up
from rskeras.serving.ee_payloads import (
    EE_PAYLOAD_FORMATS,
    HTTP_FORMATS,
    EeBand,
    check_ee_model,
    ee_output_bands,
    model_kind,
)
from rskeras.serving.signatures import SignatureSpec

#: Vertex AI's newest pre-built TensorFlow prediction container (TF Serving 2.15, CPU); ``us`` may be
#: ``europe`` or ``asia``, the registry nearest the region.
CONTAINER = "us-docker.pkg.dev/vertex-ai/prediction/tf2-cpu.2-15:latest"
#: TF Serving's gRPC port, which Vertex AI must be told for the GRPC_* payload formats.
GRPC_PORT = 8500
DEFAULT_TILE = 128
EE_PYTHON_FILE = "assets.extra/earth_engine.py"
GCLOUD_FILE = "assets.extra/vertex_ai.sh"


@dataclass(frozen=True)
class EeHosting:
    """How Earth Engine calls a hosted model (recorded in the export's metadata under ``ee_hosting``).

    Attributes:
        payload_format: what ``serving_default`` answers (one of :data:`EE_PAYLOAD_FORMATS`).
        kind: ``"pixel"``, ``"patch"`` or ``"dense"``.
        input_bands: the bands Earth Engine sends, in the model's order.
        output_bands: the answers, as ``outputBands`` declares them.
        tile_size: ``inputTileSize`` as ``(rows, cols)`` (Earth Engine lists ``[x, y]``).
        overlap: ``inputOverlapSize`` as ``(rows, cols)``: pixels shared by neighbouring tiles.
        output_tile_size: ``outputTileSize`` ``(rows, cols)`` when it differs from the tile (patch models).
        band_means: the values masked pixels are filled with (the model's normalisation means).
        class_names: the classes of the ``probabilities`` array, or None.
        notes: what the plan could not promise (e.g. a model with global context).
    """

    payload_format: str
    kind: str
    input_bands: list[str]
    output_bands: list[EeBand]
    tile_size: tuple[int, int]
    overlap: tuple[int, int]
    output_tile_size: tuple[int, int] | None
    band_means: list[float]
    class_names: list[str] | None
    notes: list[str] = field(default_factory=list)

    @property
    def signature(self) -> str:
        return EE_PAYLOAD_FORMATS[self.payload_format]

    def to_json(self) -> dict:
        return {**asdict(self), "signature": self.signature}

    @classmethod
    def from_json(cls, data: dict) -> EeHosting:
        data = {k: v for k, v in data.items() if k != "signature"}
        data["output_bands"] = [EeBand(**b) for b in data["output_bands"]]
        for key in ("tile_size", "overlap", "output_tile_size"):
            data[key] = tuple(data[key]) if data[key] is not None else None
        return cls(**data)


def check_payload_format(payload_format: str) -> str:
    """``payload_format`` upper-cased, or a ValueError listing Earth Engine's formats."""
    name = str(payload_format).upper()
    if name not in EE_PAYLOAD_FORMATS:
        raise ValueError(f"unknown Earth Engine payload format {payload_format!r}; choose one of "
                         f"{', '.join(EE_PAYLOAD_FORMATS)}")
    return name


def plan_ee_hosting(
    model: keras.Model,
    spec: SignatureSpec,
    payload_format: str = "SERIALIZED_TF_TENSORS",
    tile_size: int | None = None,
    overlap: int | None = None,
) -> EeHosting:
    """The tiles Earth Engine sends ``model`` (see the module docstring); sizes are checked, not rounded.

    Raises:
        ValueError: a tile or overlap the model cannot take, naming the sizes that work.
    """
    payload_format = check_payload_format(payload_format)
    check_ee_model(model, spec)
    kind = model_kind(spec)
    tile, overlap, out_tile, notes = _tiles(model, spec, kind, tile_size, overlap)
    means = [float(v) for fill in ModelSpec.from_description(describe_model(model)).fills for v in fill]
    return EeHosting(payload_format, kind, [b for i in spec.inputs for b in i.band_names], ee_output_bands(spec),
                     (tile, tile), (overlap, overlap), out_tile, means, spec.class_names, notes)


def _tiles(model: keras.Model, spec: SignatureSpec, kind: str, tile_size: int | None,
           overlap: int | None) -> tuple[int, int, tuple[int, int] | None, list[str]]:
    """``(tile, overlap, output tile, notes)`` for a model of ``kind``."""
    fixed = spec.inputs[0].shape[1] if spec.inputs[0].spatial else None
    if kind == "pixel":
        _check_overlap(overlap, 0, "a pixel model sees one pixel at a time")
        return tile_size or DEFAULT_TILE, 0, None, []
    if kind == "patch":
        _check_tile(tile_size, fixed, 1)
        _check_overlap(overlap, 0, "a patch classifier answers one pixel per tile")
        return fixed, 0, (1, 1), []
    probe = probe_model(model)
    multiple, notes = probe.multiple, []
    if math.isfinite(probe.receptive_radius):
        needed = 2 * round_up(math.ceil(probe.receptive_radius), multiple)
    else:
        needed = round_up(max((tile_size or fixed or DEFAULT_TILE) // 4, 1), 2 * multiple)
        notes.append(f"model {model.name!r} sees the whole tile (global pooling): its answers depend on the tile, "
                     "and no overlap makes the mosaic equal a whole-image prediction")
    if overlap is None and fixed is not None and needed > fixed - multiple:
        overlap = (fixed - multiple) // (2 * multiple) * 2 * multiple
        notes.append(f"model {model.name!r} takes {fixed} px tiles only, too small for the overlap of {needed} px its "
                     "receptive field needs: rebuild it with a free input size (None, None, bands) for seamless maps")
    overlap = needed if overlap is None else overlap
    if overlap % 2:
        raise ValueError(f"inputOverlapSize {overlap} must be even: Earth Engine drops half of it at each edge")
    tile = fixed or tile_size or round_up(max(DEFAULT_TILE, overlap + 4 * multiple), multiple)
    _check_tile(tile_size, fixed, multiple)
    if tile - overlap < multiple:
        raise ValueError(f"inputTileSize {tile} leaves {tile - overlap} px after the overlap of {overlap} "
                         f"(twice the model's receptive radius {probe.receptive_radius:g} px, on its grid of "
                         f"{multiple}); use a tile of at least {overlap + multiple}")
    if overlap < needed:
        notes.append(f"inputOverlapSize {overlap} is less than {needed}, twice the receptive radius of "
                     f"{probe.receptive_radius:g} px: pixels near tile edges differ from a whole-image prediction")
    return tile, overlap, None, notes


def _check_tile(tile_size: int | None, fixed: int | None, multiple: int) -> None:
    if tile_size is None:
        return
    if fixed is not None and tile_size != fixed:
        raise ValueError(f"inputTileSize {tile_size} but the model takes {fixed} x {fixed} tiles only (its input size)")
    if tile_size < 1 or tile_size % multiple:
        raise ValueError(f"inputTileSize {tile_size} is not a multiple of {multiple}, the model's downsampling; "
                         f"use {round_up(max(tile_size, 1), multiple)}")


def _check_overlap(overlap: int | None, allowed: int, why: str) -> None:
    if overlap not in (None, allowed):
        raise ValueError(f"inputOverlapSize must be {allowed}: {why}; got {overlap}")


# ----- the files written beside the export ----------------------------------------------------------------------

def _xy(size: tuple[int, int]) -> list[int]:
    """``(rows, cols)`` -> Earth Engine's ``[x, y]``."""
    return [int(size[1]), int(size[0])]


def vertex_ai_call(hosting: EeHosting, model_name: str) -> str:
    """Python (earthengine-api) that connects Earth Engine to the deployed model and predicts an image."""
    bands = ",\n".join(f"        {json.dumps(b.name)}: {{\"type\": {b.pixel_type}"
                       + (", \"dimensions\": 1}" if b.dimensions else "}") for b in hosting.output_bands)
    if hosting.payload_format == "ND_ARRAYS":  # one nameless answer: the first band
        first = hosting.output_bands[0]
        bands = f"        \"output\": {{\"type\": {first.pixel_type}" + (", \"dimensions\": 1}" if first.dimensions else "}")
    out_tile = f"    outputTileSize={_xy(hosting.output_tile_size)},\n" if hosting.output_tile_size else ""
    flatten = ""
    if hosting.class_names and any(b.name == "probabilities" for b in hosting.output_bands):
        flatten = ("\n# one float band per class:\n"
                   f"# predict(image).select(\"probabilities\").arrayFlatten([{json.dumps(hosting.class_names)}])\n")
    return f'''"""Earth Engine predictions from {model_name} hosted on Vertex AI (written by rskeras.export_saved_model).

Deploy the export first (vertex_ai.sh beside this file), then set PROJECT, ENDPOINT and SCALE.
Payload format {hosting.payload_format}: TF Serving answers it with the signature {hosting.signature}.
"""
import ee

PROJECT = "my-project"
ENDPOINT = "projects/my-project/locations/us-central1/endpoints/ENDPOINT_ID"
SCALE = None  # metres per pixel of the model's training data: required
BANDS = {json.dumps(hosting.input_bands)}  # the model's input bands, in its order
MEANS = {json.dumps([round(m, 6) for m in hosting.band_means])}  # what masked pixels become (as predict_raster fills them)

ee.Initialize(project=PROJECT)
model = ee.Model.fromVertexAi(
    endpoint=ENDPOINT,
    inputTileSize={_xy(hosting.tile_size)},
    inputOverlapSize={_xy(hosting.overlap)},
{out_tile}    proj=ee.Projection("EPSG:4326").atScale(SCALE),
    fixInputProj=True,
    outputBands={{
{bands},
    }},
    payloadFormat={json.dumps(hosting.payload_format)},
)


def predict(image):
    """The model's answers for ``image`` (holding BANDS); masked input pixels stay masked."""
    inputs = image.select(BANDS).float()
    filled = inputs.unmask(ee.Image.constant(MEANS).rename(BANDS).float(), False)
    return model.predictImage(filled).updateMask(inputs.mask().reduce(ee.Reducer.min()))
{flatten}'''


def gcloud_commands(hosting: EeHosting, model_name: str, version: int) -> str:
    """The shell commands that copy the export to Cloud Storage and deploy it on a Vertex AI endpoint."""
    grpc = f" \\\n  --container-grpc-ports={GRPC_PORT}" if hosting.payload_format not in HTTP_FORMATS else ""
    name = shlex.quote(model_name)
    return f'''#!/bin/sh
# Host {model_name} version {version} on Vertex AI for ee.Model.fromVertexAi (payload format {hosting.payload_format}).
# Written by rskeras.export_saved_model; needs gcloud and gsutil, logged in to your project. Then see earth_engine.py.
set -e
PROJECT=my-project
REGION=us-central1
BUCKET=gs://my-bucket/saved_models
CONTAINER={CONTAINER}  # us-, europe- or asia-docker: the one nearest REGION

gsutil -m cp -r "$(dirname "$0")/.." "$BUCKET/{name}/{version}"
gcloud ai models upload --project="$PROJECT" --region="$REGION" \\
  --display-name={name} --artifact-uri="$BUCKET/{name}/{version}" \\
  --container-image-uri="$CONTAINER"{grpc}
gcloud ai endpoints create --project="$PROJECT" --region="$REGION" --display-name={name}-endpoint
ENDPOINT=$(gcloud ai endpoints list --project="$PROJECT" --region="$REGION" \\
  --filter=display_name={name}-endpoint --format="value(name)" | head -n 1)
MODEL=$(gcloud ai models list --project="$PROJECT" --region="$REGION" \\
  --filter=display_name={name} --format="value(name)" | head -n 1)
gcloud ai endpoints deploy-model "$ENDPOINT" --project="$PROJECT" --region="$REGION" \\
  --model="$MODEL" --display-name={name} --machine-type=n1-standard-4 --min-replica-count=1
echo "ENDPOINT = projects/$PROJECT/locations/$REGION/endpoints/$ENDPOINT  (put it in earth_engine.py)"
'''


def write_hosting_files(version_dir: str | Path, hosting: EeHosting, model_name: str, version: int) -> list[Path]:
    """Write :data:`EE_PYTHON_FILE` and :data:`GCLOUD_FILE` into a version folder being exported."""
    folder = Path(version_dir)
    python, shell = folder / EE_PYTHON_FILE, folder / GCLOUD_FILE
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(vertex_ai_call(hosting, model_name))
    shell.write_text(gcloud_commands(hosting, model_name, version))
    shell.chmod(0o755)
    return [python, shell]
