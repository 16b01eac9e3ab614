"""Upload predictions (TFRecord patches + their mixer.json, in Cloud Storage) as an Earth Engine image asset.

The files are the ones ``rskeras.data.predict_scene`` / ``write_scene_predictions`` writes: the
patches without kernel buffer, in the export's order, and the export's mixer.json. Copy them to
Cloud Storage first (``gsutil cp``); ingestion reads only ``gs://`` URLs. This is the request
``earthengine upload image --asset_id=ASSET predictions.tfrecord predictions-mixer.json`` sends
(``ee.data.startIngestion`` with an image manifest whose one source lists all the files).

    python pipelines/upload_predictions.py --dry-run
"""

from __future__ import annotations

import sys

from _common import run, setting

NAME = "upload_predictions"


class IngestionTask:
    """An image ingestion request, described and started like an ``ee.batch.Task``."""

    task_type = "INGEST_IMAGE"

    def __init__(self, manifest: dict):
        self.config = {"manifest": manifest, "description": manifest["name"]}
        self.id = None

    def start(self) -> None:
        import ee

        self.id = ee.data.newTaskId()[0]
        ee.data.startIngestion(self.id, self.config["manifest"])

    def status(self) -> dict:
        import ee

        return ee.data.getTaskStatus(self.id)[0]


def build(cfg: dict, dry_run: bool) -> tuple[list, dict]:
    from rskeras.ee_export.export_tasks import ingestion_manifest

    files, bands = setting(cfg, "files"), setting(cfg, "bands")
    for key, value in (("files", files), ("bands", bands)):
        if not (isinstance(value, list) and value and all(isinstance(v, str) and v for v in value)):
            raise ValueError(f"{key} must be a non-empty list of names, got {value!r}")
    uris = files + [str(setting(cfg, "mixer"))]
    manifest = ingestion_manifest(setting(cfg, "asset_id"), uris, bands, cfg.get("pyramiding_policy", "MEAN"), cfg.get("properties"))
    summary = {"asset": manifest["name"], "bands": bands, "files": uris, "pyramidingPolicy": manifest["pyramidingPolicy"]}
    return [IngestionTask(manifest)], summary


if __name__ == "__main__":
    sys.exit(run(NAME, __doc__, build))
