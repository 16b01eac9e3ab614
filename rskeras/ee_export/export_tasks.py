"""Earth Engine sessions and tasks: offline (dry-run) initialisation, task descriptions, start, upload manifest."""

from __future__ import annotations

import json
from typing import Any, Sequence

from rskeras._compat import ee_initialize_offline


def offline_session(project: str = "dry-run") -> None:
    """Initialise ``ee`` without credentials or network, to build and print export requests.

    Uses the algorithm signatures that earthengine-api ships for its own tests (``ee/apitestcase.py``),
    the way those tests initialise the library. Tasks built this way can be described, not started.
    """
    ee_initialize_offline(project)


def initialize(project: str | None) -> None:
    """``ee.Initialize`` with the user's credentials (``earthengine authenticate`` first)."""
    import ee

    try:
        ee.Initialize(project=project)
    except Exception as err:  # ee raises EEException or google.auth errors
        raise RuntimeError(f"Earth Engine could not be initialised ({err}); run `earthengine authenticate` or use --dry-run") from err


def _functions(node: Any, found: set[str]) -> set[str]:
    """Names of the Earth Engine algorithms used in a serialised expression."""
    if isinstance(node, dict):
        if "functionName" in node:
            found.add(node["functionName"])
        for value in node.values():
            _functions(value, found)
    elif isinstance(node, list):
        for value in node:
            _functions(value, found)
    return found


def describe_task(task, show_graph: bool = False) -> dict:
    """A JSON-ready description of an unstarted ``ee.batch.Task``: its type and request.

    The computation (``expression``) is summarised by the algorithms it calls, or given in full
    (Earth Engine's Cloud API JSON) with ``show_graph``.
    """
    from ee import serializer

    config = dict(task.config)
    expression = config.pop("expression", None)
    out = {"task_type": str(task.task_type.value if hasattr(task.task_type, "value") else task.task_type), "config": config}
    if expression is not None:
        graph = json.loads(serializer.toJSON(expression, for_cloud_api=True))
        out["algorithms"] = sorted(_functions(graph, set()))
        if show_graph:
            out["expression"] = graph
    return out


def start_tasks(tasks: Sequence) -> list[dict]:
    """Start ``tasks`` and return ``{"id", "description", "state"}`` for each."""
    out = []
    for task in tasks:
        task.start()
        status = task.status()
        out.append({"id": task.id, "description": task.config.get("description"), "state": status.get("state")})
    return out


def ingestion_manifest(asset_id: str, uris: Sequence[str], bands: Sequence[str], pyramiding_policy: str = "MEAN", properties: dict | None = None) -> dict:
    """The image manifest that uploads prediction TFRecord(s) plus their mixer.json as one asset.

    As ``earthengine upload image`` does for TFRecords, all files form one source of one tileset.
    """
    import ee

    if not any(u.endswith(".json") for u in uris):
        raise ValueError(f"a TFRecord upload needs its mixer.json among the files, got {list(uris)}")
    if not any(u.endswith((".tfrecord", ".tfrecord.gz")) for u in uris):
        raise ValueError(f"no .tfrecord or .tfrecord.gz among the files {list(uris)}")
    bad = [u for u in uris if not u.startswith("gs://")]
    if bad:
        raise ValueError(f"Earth Engine ingests from Cloud Storage only; these are not gs:// URLs: {bad}")
    manifest = {
        "name": ee.data.convert_asset_id_to_asset_name(asset_id),
        "tilesets": [{"id": "ts", "sources": [{"uris": list(uris)}]}],
        "bands": [{"id": b, "tilesetId": "ts", "tilesetBandIndex": i} for i, b in enumerate(bands)],
        "pyramidingPolicy": pyramiding_policy.upper(),
    }
    if properties:
        manifest["properties"] = dict(properties)
    return manifest
