"""Earth Engine side (earthengine-api): image stacks, region splits, export and upload task configs.

Used by the scripts in ``pipelines/``. Nothing here imports TensorFlow; ``ee`` is imported lazily
by the functions that need it, and :func:`offline_session` lets the export requests be built and
printed (``--dry-run``) without credentials.
"""

from rskeras.earthengine.splits import GridCell, assign_grid_splits, grid_cells
from rskeras.earthengine.tasks import describe_task, ingestion_manifest, initialize, offline_session, start_tasks

__all__ = [
    "GridCell",
    "assign_grid_splits",
    "describe_task",
    "grid_cells",
    "ingestion_manifest",
    "initialize",
    "offline_session",
    "start_tasks",
]
