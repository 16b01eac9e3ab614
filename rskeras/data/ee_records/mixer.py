"""The ``mixer.json`` sidecar of Earth Engine TFRecord image exports: read, validate, write.

Earth Engine writes it beside the patches of ``Export.image`` in TFRecord format and needs it
back, with the prediction patches, to upload them as an image asset::

    {"projection": {"crs": "EPSG:32614",
                    "affine": {"doubleMatrix": [30.0, 0.0, 500000.0, 0.0, -30.0, 4000000.0]}},
     "patchDimensions": [256, 256], "patchesPerRow": 8, "totalPatches": 48}

``doubleMatrix`` is the affine transform ``[a, b, c, d, e, f]`` (x = a*col + b*row + c, y = d*col +
e*row + f; the order of ``rasterio.Affine``) of the grid whose first patch starts at pixel (0, 0);
``patchDimensions`` is ``[width, height]`` without the kernel buffer. Patches run row by row,
``patchesPerRow`` to a row.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import tensorflow as tf

from rskeras.data.ee_records._io import read_json_object
from rskeras.io import atomic_write_text, check_output

MIXER_SUFFIX = "mixer.json"


@dataclass(frozen=True)
class Mixer:
    """A validated ``mixer.json``.

    Attributes:
        crs: coordinate reference system, e.g. ``"EPSG:4326"``.
        transform: affine ``(a, b, c, d, e, f)`` of the patch grid (pixel size and origin, CRS units).
        patch_size: ``(height, width)`` of a patch without the kernel buffer, pixels.
        patches_per_row: patches in each row of the grid.
        total_patches: patches in the export.
        source: the file it was read from (for messages; not part of equality), None when built in code.
    """

    crs: str
    transform: tuple[float, float, float, float, float, float]
    patch_size: tuple[int, int]
    patches_per_row: int
    total_patches: int
    source: str | None = field(default=None, compare=False)

    @property
    def rows(self) -> int:
        """Rows of patches in the grid."""
        return math.ceil(self.total_patches / self.patches_per_row)

    def to_dict(self) -> dict:
        """The ``mixer.json`` content, in Earth Engine's field names."""
        h, w = self.patch_size
        return {
            "projection": {"crs": self.crs, "affine": {"doubleMatrix": [float(v) for v in self.transform]}},
            "patchDimensions": [int(w), int(h)],
            "patchesPerRow": int(self.patches_per_row),
            "totalPatches": int(self.total_patches),
        }

    @classmethod
    def from_dict(cls, data: dict, source: str | None = None) -> "Mixer":
        """Validate ``data`` (parsed JSON); errors name ``source`` (the file) and the field at fault."""
        name = source or "mixer.json"
        if not isinstance(data, dict):
            raise ValueError(f"{name} holds {type(data).__name__}, not a mixer.json object")
        required = ("projection", "patchDimensions", "patchesPerRow", "totalPatches")
        missing = [k for k in required if k not in data]
        if missing:
            raise ValueError(f"{name} lacks {missing}; it has {sorted(data)} (is it an Earth Engine mixer.json?)")
        proj = data["projection"]
        try:
            crs = str(proj["crs"])
            matrix = [float(v) for v in proj["affine"]["doubleMatrix"]]
        except (KeyError, TypeError) as err:
            raise ValueError(f"{name}: 'projection' must hold 'crs' and 'affine': {{'doubleMatrix': [6 numbers]}}, got {proj!r}") from err
        if len(matrix) != 6:
            raise ValueError(f"{name}: projection.affine.doubleMatrix must have 6 numbers, got {len(matrix)}")
        dims = data["patchDimensions"]
        if not (isinstance(dims, list) and len(dims) == 2 and all(isinstance(v, int) and v > 0 for v in dims)):
            raise ValueError(f"{name}: patchDimensions must be [width, height] positive integers, got {dims!r}")
        per_row, total = data["patchesPerRow"], data["totalPatches"]
        if not (isinstance(per_row, int) and isinstance(total, int) and per_row > 0 and total > 0):
            raise ValueError(f"{name}: patchesPerRow and totalPatches must be positive integers, got {per_row!r}, {total!r}")
        if total % per_row and total > per_row:
            raise ValueError(f"{name}: totalPatches {total} is not whole rows of patchesPerRow {per_row}")
        return cls(crs, tuple(matrix), (dims[1], dims[0]), per_row, total, source)


def read_mixer(path: str | os.PathLike) -> Mixer:
    """Read and validate a ``mixer.json`` (local or ``gs://``)."""
    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"mixer file {path!r} does not exist")
    return Mixer.from_dict(read_json_object(path, "mixer file"), source=path)


def mixer_json(mixer: Mixer) -> str:
    """The ``mixer.json`` text of ``mixer``."""
    return json.dumps(mixer.to_dict(), indent=2) + "\n"


def write_mixer(path: str | os.PathLike, mixer: Mixer) -> str:
    """Write ``mixer`` as ``mixer.json`` content to ``path`` (a ``.json`` name; atomically); returns the path.

    Raises:
        ValueError: ``path`` is the mixer's own source file, an existing folder, or not ``*.json``.
    """
    check_output(path, suffixes=(".json",), inputs=[mixer.source] if mixer.source else [], what="mixer path")
    return os.fspath(atomic_write_text(path, mixer_json(mixer)))


def find_mixer(paths: list[str]) -> str:
    """The one ``*mixer.json`` beside the TFRecord files ``paths`` (Earth Engine names it ``<prefix>mixer.json``)."""
    folders = sorted({os.path.dirname(p) for p in paths})
    found = sorted({m for d in folders for m in tf.io.gfile.glob(os.path.join(d, "*" + MIXER_SUFFIX))})
    if len(found) != 1:
        what = "no" if not found else f"{len(found)} ({found})"
        raise FileNotFoundError(f"found {what} *{MIXER_SUFFIX} beside the TFRecord files in {folders}; pass mixer= explicitly")
    return found[0]
