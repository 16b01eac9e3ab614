"""Export a Keras model as a versioned SavedModel that TF Serving loads as it is.

Layout written (``saved_models/NAME`` is ``base_dir``)::

    saved_models/
      models.config                 # serve every model of saved_models/ at once
      NAME/
        1/
          saved_model.pb            # signatures: serving_default and one per Earth Engine payload format
          variables/
          assets.extra/rskeras.json # task, class names, band names, signatures, input contract (TF Serving ignores it)
          assets.extra/earth_engine.py, vertex_ai.sh  # with ee_payload_format: the hosting call and commands

Each version is written to a hidden temporary folder inside ``base_dir`` (TF Serving
only looks at folders named by integers) and renamed when complete (:mod:`rskeras.io`:
an export killed outright leaves a hidden folder that the next export removes).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import keras
import tensorflow as tf

from rskeras._checks import check_integer
from rskeras.io import atomic_path, check_output
from rskeras.layers.input_contract import EXPORT_METADATA
from rskeras.models.metadata import input_contracts, model_metadata
from rskeras.serving.config import CONTAINER_ROOT, check_model_name, update_models_config
from rskeras.serving.ee_hosting import check_payload_format, plan_ee_hosting, write_hosting_files
from rskeras.serving.ee_payloads import ee_signatures, ee_signatures_json
from rskeras.serving.signatures import (
    DEFAULT_SIGNATURE,
    FLOAT_SIGNATURE,
    SignatureSpec,
    default_signature,
    describe_inputs,
    describe_outputs,
)

METADATA_FILE = EXPORT_METADATA


def existing_versions(base_dir: str | os.PathLike) -> list[int]:
    """The integer version folders under ``base_dir``, sorted."""
    base = Path(base_dir)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def _per_input_bands(model: keras.Model, band_names) -> list:
    n_inputs = len(model.inputs)
    if band_names is None:
        return model_metadata(model).band_names
    if isinstance(band_names, dict):
        names = [t.name for t in model.inputs]
        unknown = set(band_names) - set(names)
        if unknown:
            raise ValueError(f"band_names given for unknown inputs {sorted(unknown)}; the model's inputs are {names}")
        return [band_names.get(n) for n in names]
    band_names = list(band_names)
    if n_inputs == 1 and all(isinstance(b, str) for b in band_names):
        return [band_names]
    if len(band_names) != n_inputs:
        raise ValueError(f"band_names holds {len(band_names)} lists for a model with {n_inputs} inputs")
    return band_names


def _default_tile_size(spec_inputs) -> tuple[int, int] | None:
    sizes = {tuple(i.shape[1:3]) for i in spec_inputs if i.spatial}
    if len(sizes) == 1:
        size = sizes.pop()
        if None not in size:
            return (int(size[0]), int(size[1]))
    return None


def signature_spec(
    model: keras.Model,
    band_names=None,
    class_names: Sequence[str] | None = None,
    input_names: Sequence[str] | None = None,
    ee_tile_size: tuple[int, int] | None = None,
) -> SignatureSpec:
    """What the exported signatures of ``model`` take and return (see :func:`export_saved_model`)."""
    meta = model_metadata(model)
    class_names = [str(c) for c in class_names] if class_names is not None else meta.class_names
    inputs = describe_inputs(model, _per_input_bands(model, band_names), input_names)
    outputs = describe_outputs(model, meta.task, class_names)
    tile = tuple(int(v) for v in ee_tile_size) if ee_tile_size is not None else _default_tile_size(inputs)
    return SignatureSpec(meta.task, class_names, inputs, outputs, tile)


def export_saved_model(
    model: keras.Model,
    base_dir: str | os.PathLike,
    version: int | None = None,
    *,
    band_names=None,
    class_names: Sequence[str] | None = None,
    input_names: Sequence[str] | None = None,
    ee_signature: bool = True,
    ee_tile_size: tuple[int, int] | None = None,
    ee_payload_format: str | None = None,
    ee_overlap: int | None = None,
    overwrite: bool = False,
    models_config: bool = True,
    container_root: str = CONTAINER_ROOT,
) -> Path:
    """Write ``model`` as ``base_dir/<version>/`` for TF Serving (and Vertex AI / Earth Engine).

    Args:
        model: a Keras model; its inputs are float tensors ``(batch, bands)`` or
            ``(batch, H, W, bands)`` (any rank works for ``serving_default``).
        base_dir: the model's folder, e.g. ``"saved_models/landcover"``; its name is the
            model's name in TF Serving and in ``models.config``.
        version: the version number; None -> one more than the largest existing (1 first).
        band_names: band names of the input (a list), or one list per input (a list of
            lists, or a dict by Keras input name); default: those the model's
            ``BandNormalization`` layers hold, else ``b1, b2, ...``. They are the feature
            names of the Earth Engine signature and are recorded in the metadata.
        class_names: class names; default: those of the model's ``TaskOutput``.
        input_names: ``serving_default`` input names; default ``"pixels"``/``"image"`` for
            single-input models, the Keras input names for multi-input models.
        ee_signature: also write a signature per Earth Engine payload format
            (:mod:`rskeras.serving.ee_payloads`: ``serving_ee_serialized``, ``serving_ee_raw_json``,
            ``serving_ee_nd_arrays``, ``serving_ee_tensors``, ``serving_ee_examples``).
        ee_tile_size: ``(H, W)`` of the tiles Earth Engine sends (``inputTileSize``); default: the model's
            input size when fixed, else what :func:`rskeras.serving.ee_hosting.plan_ee_hosting` chooses.
        ee_payload_format: host the model for ``ee.Model.fromVertexAi`` with this ``payloadFormat``:
            ``serving_default`` answers it (the float-tensor signature moves to ``serving_float``) and
            ``assets.extra/`` gets ``earth_engine.py`` (the call) and ``vertex_ai.sh`` (the gcloud commands).
        ee_overlap: ``inputOverlapSize`` for hosting (default: from the model's receptive field).
        overwrite: replace an existing version folder (refused otherwise).
        models_config: add the model to ``models.config`` in ``base_dir``'s parent.
        container_root: where that parent folder is mounted in the serving container.

    Returns:
        The version folder written.
    """
    base = Path(base_dir)
    check_output(base, what="base_dir", folder=True)
    if models_config:
        check_model_name(base.name)
    if version is None:
        found = existing_versions(base)
        version = found[-1] + 1 if found else 1
    check_integer("version", version, minimum=0)
    target = base / str(int(version))
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} exists (versions there: {existing_versions(base)}); "
            "pass overwrite=True to replace it or version=None for the next one"
        )
    spec = signature_spec(model, band_names, class_names, input_names, ee_tile_size)
    hosting = None
    if ee_payload_format is not None:
        hosting = plan_ee_hosting(model, spec, check_payload_format(ee_payload_format),
                                  ee_tile_size[0] if ee_tile_size is not None else None, ee_overlap)

    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, (fn, input_signature) in _signatures(model, spec, ee_signature or hosting is not None, hosting).items():
        archive.add_endpoint(name, fn, input_signature=input_signature)

    with atomic_path(target) as tmp:  # a killed export leaves a hidden folder the next export removes
        archive.write_out(str(tmp), verbose=False)
        metadata = {
            "format": "rskeras-serving/1",
            "model_name": base.name,
            "version": int(version),
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
            **spec.to_json(),
            "input_contract": [contract.to_json() for contract in input_contracts(model)],
        }
        if ee_signature or hosting is not None:
            metadata["signatures"].update(ee_signatures_json(spec))
        if hosting is not None:
            metadata["ee_hosting"] = hosting.to_json()
            write_hosting_files(tmp, hosting, base.name, int(version))
        (tmp / METADATA_FILE).parent.mkdir(parents=True, exist_ok=True)
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
    if models_config:
        update_models_config(base.parent, base.name, container_root)
    return target


def _signatures(model: keras.Model, spec: SignatureSpec, ee: bool, hosting) -> dict:
    """``{signature name: (function, input signature)}``: float tensors as ``serving_default`` (or, when the
    model is hosted for Earth Engine, as ``serving_float`` and the hosting format's signature as the default)."""
    found = {DEFAULT_SIGNATURE: default_signature(model, spec)}
    if ee:
        found.update(ee_signatures(model, spec))
    if hosting is not None:
        found[FLOAT_SIGNATURE] = found[DEFAULT_SIGNATURE]
        found[DEFAULT_SIGNATURE] = found[hosting.signature]
    return found


def read_export_metadata(version_dir: str | os.PathLike) -> dict:
    """The ``assets.extra/rskeras.json`` of an exported version folder."""
    path = Path(version_dir) / METADATA_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: {version_dir} was not exported by rskeras.export_saved_model")
    return json.loads(path.read_text())
