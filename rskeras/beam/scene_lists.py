"""Scene lists for the Beam pipelines: a list, a glob (local or ``gs://``) or a CSV of scene and label paths.

A CSV has a ``scene`` column (one raster per row) and, optionally, a ``label`` column (that scene's label
raster); relative paths are read from the CSV's folder. Scenes that cannot be opened are set aside with the
reason (the file named) so the others can still be processed (:func:`readable`).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence

from rskeras.io import expand_inputs, is_url

PathLike = str | os.PathLike


def read_scene_list(scenes: PathLike | Sequence[PathLike]) -> tuple[list[str], list[str] | None]:
    """``(scenes, labels)``: one raster path per scene, and one label raster per scene from a CSV (else None).

    Args:
        scenes: a raster, a glob pattern, a ``.csv`` scene list, or a list of rasters and patterns.

    Raises:
        FileNotFoundError: a pattern that matches nothing, or a CSV that does not exist (named).
        ValueError: a CSV without a ``scene`` column (its columns listed), or no scene at all.
    """
    items = [scenes] if isinstance(scenes, (str, os.PathLike)) else list(scenes)
    found, labels = [], []
    for item in map(os.fspath, items):
        if item.lower().endswith(".csv"):
            rows = _csv_rows(item)
            found += [row[0] for row in rows]
            labels += [row[1] for row in rows]
        else:
            paths = _expand(item)
            found += paths
            labels += [None] * len(paths)
    if not found:
        raise ValueError(f"scenes: no scene given in {scenes!r}; give rasters, a glob pattern or a CSV")
    if all(label is None for label in labels):
        return found, None
    missing = [scene for scene, label in zip(found, labels) if not label]
    if missing:
        raise ValueError(f"scenes: a label raster is given for some scenes but not for {', '.join(missing[:3])}")
    return found, labels


def _expand(pattern: str) -> list[str]:
    """A pattern's files, sorted (``gs://`` through ``tf.io.gfile``); a plain path as it is."""
    found = sorted(expand_inputs([pattern]))
    if not found:
        raise FileNotFoundError(f"scenes: the pattern {pattern!r} matches no file")
    return found


def _read_text(path: str) -> str:
    if is_url(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path) as f:
            return f.read()
    if not os.path.exists(path):
        raise FileNotFoundError(f"scene list {path} does not exist")
    with open(path, newline="") as f:
        return f.read()


def _csv_rows(path: str) -> list[tuple[str, str | None]]:
    """``(scene, label or None)`` of each row of a scene list CSV, relative paths from the CSV's folder."""
    reader = csv.DictReader(io.StringIO(_read_text(path)))
    columns = reader.fieldnames or []
    if "scene" not in columns:
        raise ValueError(f"scene list {path} has no 'scene' column; its columns: {', '.join(columns) or 'none'}")
    folder = os.path.dirname(path)
    rows = []
    for row in reader:
        label = (row.get("label") or "").strip() or None
        rows.append((_beside(folder, row["scene"].strip()), _beside(folder, label) if label else None))
    return rows


def _beside(folder: str, path: str) -> str:
    return path if is_url(path) or os.path.isabs(path) or not folder else os.path.join(folder, path)


def readable(paths: Sequence[str]) -> tuple[list[int], dict[int, str]]:
    """``(indexes of the rasters that open, {index: why not} of the others)``; the reasons name the file."""
    from rskeras.data.rasters import open_raster

    ok, failed = [], {}
    for i, path in enumerate(paths):
        try:
            with open_raster(path):
                ok.append(i)
        except (OSError, ValueError) as err:
            failed[i] = str(err)
    return ok, failed
