"""The earthengine-api side of Earth Engine: image stacks, region splits, export and upload task configs.

Used by the scripts in ``pipelines/``. Nothing here imports TensorFlow; ``ee`` is imported lazily
by the functions that need it, and :func:`offline_session` lets the export requests be built and
printed (``--dry-run``) without credentials. The TensorFlow side (reading and writing the
exported TFRecords) is :mod:`rskeras.data.ee_records`.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.ee_export.splits": ["GridCell", "assign_grid_splits", "grid_cells"],
        "rskeras.ee_export.export_tasks": ["describe_task", "ingestion_manifest", "initialize", "offline_session",
                                           "start_tasks"],
    },
)
