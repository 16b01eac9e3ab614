"""Labels on the scenes' grids, from a label raster or a vector layer (rasterio and pyogrio, no TensorFlow).

Two kinds of labels:

- **classes**: a labelled pixel holds the index (0 ... n-1) of its class in a :class:`ClassTable`;
  an unlabelled one (the label raster's nodata, no feature) is -1.
- **values** (regression): float32 values; unlabelled pixels are NaN.

Label rasters are read onto each scene's grid with nearest-neighbour resampling
(:class:`rskeras.data.raster_scenes.WindowReader`); vector layers are burnt onto each window
(:class:`rskeras.data.vector_labels.Features`). One label file serves every scene, or a list
gives one per scene.

Classes. A label raster's classes are its values other than nodata, found by :func:`census`
(one pass over every scene, strip by strip, so memory stays bounded); a vector layer's are the
distinct values of its column. They are ordered naturally (numbers by value, text alphabetically)
unless ``classes=`` fixes them: a list of label values in index order, or a mapping label value ->
class name. A value in the labels that is not in ``classes`` is an error naming the file, the
column and the values.

Census. :func:`census` counts the pixels of each class in each scene (within a subset of a
spatial split when given) and, for class-balanced
sampling, keeps a uniform random sample of at most ``sample_size`` pixel positions per class and
scene (each pixel gets a random key; the smallest keys are kept, strip by strip).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from rasterio.enums import Resampling
from rasterio.windows import Window

from rskeras.data.raster_scenes import (
    Scene,
    WindowReader,
    describe_bounds,
    file_bounds,
    overlaps,
)
from rskeras.data.samplers import SplitMap
from rskeras.data.vector_labels import Features, is_vector_file, read_features

STRIP_PIXELS = 1 << 20  # pixels of one census strip (8 MiB of int64 classes)
LabelInput = str | os.PathLike | Sequence[str | os.PathLike]
ClassesInput = Sequence | Mapping | None


@dataclass(frozen=True)
class ClassTable:
    """The classes of the labels: label value and name of each class index (0 ... n-1)."""

    values: tuple
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.values)

    def listing(self) -> str:
        """``"0=forest (1), 1=water (2)"``: index, name and label value of each class."""
        return ", ".join(f"{i}={name} ({value})" if str(value) != name else f"{i}={name}"
                         for i, (value, name) in enumerate(zip(self.values, self.names)))


def natural_order(values) -> list:
    """Distinct values sorted: numbers by value (as Python ints where integral), then text."""
    distinct = {v.item() if isinstance(v, np.generic) else v for v in values}
    numbers = sorted(v for v in distinct if not isinstance(v, str))
    return [int(v) if float(v).is_integer() else v for v in numbers] + sorted(v for v in distinct if isinstance(v, str))


def class_table(found: Sequence, classes: ClassesInput, source: str) -> ClassTable:
    """The class table of labels holding the values ``found`` (see the module's rules).

    Raises:
        ValueError: a value of ``found`` that ``classes`` lacks (naming ``source`` and the values), or
            fewer than one class.
    """
    if classes is None:
        values = natural_order(found)
        names = [str(v) for v in values]
    elif isinstance(classes, Mapping):
        values, names = list(classes), [str(n) for n in classes.values()]
    else:
        values = list(classes)
        names = [str(v) for v in values]
    keys = {_key(v) for v in values}
    missing = [v for v in natural_order(found) if _key(v) not in keys]
    if missing:
        raise ValueError(f"{source} holds values {missing} that are not in the given classes "
                         f"({', '.join(map(str, values))}); add them to classes= or fix the labels")
    if not values:
        raise ValueError(f"{source} holds no labelled pixel or feature")
    return ClassTable(tuple(values), tuple(names))


def _key(value):
    """Label values compare as numbers where they are numbers (``1``, ``1.0`` and ``"1"`` match), else as text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


class LabelSource:
    """Labels read onto windows of the scenes' grids (see the subclasses).

    Attributes:
        kind: ``"classes"`` or ``"values"``.
        paths: the label files.
        source: the label file(s), for messages.
        table: the classes (``"classes"``; set by :func:`open_labels`), else None.
    """

    kind: str
    paths: list[str]
    source: str
    table: ClassTable | None = None

    def read(self, scene_index: int, scene: Scene, window: Window) -> np.ndarray:
        """``(h, w)`` labels of a window: int64 class indices (-1 unlabelled) or float32 values (NaN)."""
        raise NotImplementedError

    def read_many(self, scene_index: int, scene: Scene, origins: Sequence[tuple[int, int]],
                  size: tuple[int, int]) -> np.ndarray:
        """``(k, h, w)``: :meth:`read` of the windows of ``size`` ``(h, w)`` at ``origins`` ``(row, col)``."""
        h, w = size
        return np.stack([self.read(scene_index, scene, Window(col, row, w, h)) for row, col in origins])

    def check_overlap(self, scenes: Sequence[Scene]) -> None:
        """Raise ValueError naming both bounds when the labels and the scenes do not overlap."""
        raise NotImplementedError


class RasterLabels(LabelSource):
    """A label raster (one for all scenes, or one per scene), read with nearest-neighbour resampling."""

    def __init__(self, paths: list[str], kind: str, reader: WindowReader):
        self.paths, self.kind, self.reader = paths, kind, reader
        self.source = paths[0] if len(paths) == 1 else ", ".join(paths)
        self._lookups: dict[np.dtype, np.ndarray] = {}

    def path(self, scene_index: int) -> str:
        return self.paths[scene_index if len(self.paths) > 1 else 0]

    def raw(self, scene_index: int, scene: Scene, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """``(values, labelled)``: the raster's values in the window and where they are labels (not
        nodata, inside the raster)."""
        values, valid = self.reader.read(self.path(scene_index), [1], scene.grid, window, Resampling.nearest)
        return values[0], valid

    def set_table(self, table: ClassTable) -> None:
        keys = [_key(v) for v in table.values]
        text = [v for v, k in zip(table.values, keys) if isinstance(k, str)]
        if text:
            raise ValueError(f"classes {text} are text, but the labels of raster {self.source} are numbers")
        self.table = table
        self._order = np.argsort(keys)
        self._sorted = np.asarray(keys, dtype=np.float64)[self._order]

    def read(self, scene_index: int, scene: Scene, window: Window) -> np.ndarray:
        values, labelled = self.raw(scene_index, scene, window)
        return self._labels(values, labelled)

    def read_many(self, scene_index: int, scene: Scene, origins: Sequence[tuple[int, int]],
                  size: tuple[int, int]) -> np.ndarray:
        values, labelled = self.reader.read_many(self.path(scene_index), [1], scene.grid, origins, size,
                                                 Resampling.nearest)
        return self._labels(values[:, 0], labelled)

    def _labels(self, values: np.ndarray, labelled: np.ndarray) -> np.ndarray:
        """Class indices (-1 unlabelled) or float32 values (NaN unlabelled) of raw label values, any shape."""
        if self.kind == "values":
            return np.where(labelled, values, np.nan).astype(np.float32)
        classes = self._classes(values)
        if not labelled.all():
            classes[~labelled] = -1
        return classes

    def _classes(self, values: np.ndarray) -> np.ndarray:
        """int64 class index of each value, -1 for a value that is no class."""
        if values.dtype.kind in "iu" and values.dtype.itemsize <= 2:  # one lookup in a table of every value
            offset = int(np.iinfo(values.dtype).min)
            if values.dtype not in self._lookups:
                lookup = np.full(int(np.iinfo(values.dtype).max) - offset + 1, -1, dtype=np.int64)
                for value, index in zip(self._sorted, self._order):
                    if float(value).is_integer() and 0 <= value - offset < len(lookup):
                        lookup[int(value) - offset] = index
                self._lookups[values.dtype] = lookup
            return self._lookups[values.dtype][values if offset == 0 else values.astype(np.int32) - offset]
        position = np.clip(np.searchsorted(self._sorted, values), 0, len(self._sorted) - 1)
        return np.where(self._sorted[position] == values, self._order[position], -1).astype(np.int64)

    def check_overlap(self, scenes: Sequence[Scene]) -> None:
        for i, scene in enumerate(scenes):
            path = self.path(i)
            box = file_bounds(path, scene.grid.crs)
            if len(self.paths) > 1 and not overlaps(box, scene.grid.bounds):
                raise ValueError(_no_overlap(f"label raster {path}", box, [scene]))
        if len(self.paths) == 1:
            box = file_bounds(self.paths[0], scenes[0].grid.crs)
            if not any(overlaps(box, s.grid.bounds) for s in scenes):
                raise ValueError(_no_overlap(f"label raster {self.paths[0]}", box, scenes))


class VectorLabels(LabelSource):
    """A vector layer burnt onto each window: class indices or values of one column per feature."""

    def __init__(self, path: str, features: Features, kind: str, buffer: float):
        self.paths, self.features, self.kind, self.buffer = [path], features, kind, buffer
        self.source = f"{features.source} column {features.column!r}"
        if kind == "values" and features.values.dtype.kind not in "iuf":
            raise ValueError(f"labels: column {features.column!r} of {features.source} holds text "
                             f"({', '.join(map(str, natural_order(features.values)[:5]))}, ...); values (regression) "
                             "need a numeric column")
        self._burn = features.values.astype(np.float32) if kind == "values" else None

    def set_table(self, table: ClassTable) -> None:
        self.table = table
        index = {_key(v): i for i, v in enumerate(table.values)}
        self._burn = np.array([index[_key(v)] for v in self.features.values.tolist()], dtype=np.int64)

    def read(self, scene_index: int, scene: Scene, window: Window) -> np.ndarray:
        shape = (int(window.height), int(window.width))
        transform = scene.grid.window_transform(int(window.row_off), int(window.col_off))
        if self.kind == "values":
            return self.features.burn(self._burn, shape, transform, scene.grid.crs, np.nan, "float32", self.buffer)
        return self.features.burn(self._burn, shape, transform, scene.grid.crs, -1, "int64", self.buffer)

    def check_overlap(self, scenes: Sequence[Scene]) -> None:
        crs = scenes[0].grid.crs
        boxes = self.features.projected(crs)[1]
        inside = [any(overlaps(box, s.grid.bounds) for s in scenes) for box in boxes]
        if not any(inside):
            raise ValueError(_no_overlap(f"labels: no feature of vector file {self.features.source}",
                                         self.features.bounds(crs), scenes, verb="lies inside"))


def _no_overlap(what: str, box, scenes: Sequence[Scene], verb: str = "does not overlap") -> str:
    crs = scenes[0].grid.crs
    listing = "; ".join(f"{s.name}: {describe_bounds(s.grid.bounds, crs)}" for s in scenes)
    if verb == "lies inside":
        return f"{what} lies inside the images (features: {describe_bounds(box, crs)}; images: {listing})"
    return f"{what} ({describe_bounds(box, crs)}) does not overlap the images ({listing})"


def open_labels(labels: LabelInput, scenes: Sequence[Scene], reader: WindowReader, *, column: str | None = None,
                kind: str = "classes", classes: ClassesInput = None, buffer: float = 0.0,
                layer: str | int | None = None, find_classes: bool = True) -> LabelSource:
    """A label raster or vector layer on ``scenes``, its classes found or checked.

    Args:
        labels: a label raster or a vector file; or a list of label rasters, one per scene.
        scenes: the scenes the labels are read onto.
        reader: the window reader shared with the images.
        column: the vector layer's class or value column (required for vector files).
        kind: ``"classes"`` or ``"values"``.
        classes: see the module (classes only).
        buffer: buffer of vector points and lines, in target CRS units.
        layer: the vector layer of a file with several.
        find_classes: find a label raster's classes (a pass over it); False leaves its ``table``
            unset (a check of the inputs without reading pixels).

    Raises:
        ValueError naming the labels for labels that do not overlap the images (both bounds),
        a vector file without CRS or without features inside the images, values not in
        ``classes``; KeyError listing the columns for a missing ``column``.
    """
    paths = [os.fspath(labels)] if isinstance(labels, (str, os.PathLike)) else [os.fspath(p) for p in labels]
    if kind not in ("classes", "values"):
        raise ValueError(f"label kind must be 'classes' or 'values', got {kind!r}")
    if len(paths) not in (1, len(scenes)):
        raise ValueError(f"labels: give one label file, or one per scene ({len(scenes)}); got {len(paths)}")
    if is_vector_file(paths[0]):
        source = _vector_labels(paths, column, kind, buffer, layer)
    else:
        if column is not None:
            raise ValueError(f"labels: label_column={column!r} names a column of a vector file, but {paths[0]} is a "
                             "raster (its pixel values are the labels)")
        source = RasterLabels(paths, kind, reader)
    source.check_overlap(scenes)
    if kind == "classes" and isinstance(source, VectorLabels):
        source.set_table(class_table(source.features.values, classes, f"labels {source.source}"))
    elif kind == "classes" and find_classes:
        source.set_table(class_table(raster_values(source, scenes), classes, f"labels {source.source}"))
    return source


def _vector_labels(paths: list[str], column, kind, buffer, layer) -> VectorLabels:
    if len(paths) > 1:
        raise ValueError(f"labels: give one vector file for all scenes, got {len(paths)}: {', '.join(paths)}")
    if buffer < 0:
        raise ValueError(f"buffer must be >= 0 (target CRS units), got {buffer!r}")
    return VectorLabels(paths[0], read_features(paths[0], column, layer=layer), kind, buffer)


def strips(scene: Scene) -> list[Window]:
    """Full-width windows of at most :data:`STRIP_PIXELS` pixels covering the scene, top to bottom."""
    height, width = scene.shape
    rows = max(1, min(height, STRIP_PIXELS // max(width, 1)))
    return [Window(0, r, width, min(rows, height - r)) for r in range(0, height, rows)]


def raster_values(labels: RasterLabels, scenes: Sequence[Scene]) -> list:
    """The distinct labelled values of a label raster over every scene (strip by strip)."""
    found: set = set()
    for i, scene in enumerate(scenes):
        for window in strips(scene):
            values, labelled = labels.raw(i, scene, window)
            found.update(np.unique(values[labelled]).tolist())
    return natural_order(found)


@dataclass
class Census:
    """Pixels per class in each scene and, for balanced sampling, some of their positions.

    Attributes:
        counts: ``(n_scenes, n_classes)`` int64 labelled pixels per class.
        pixels: ``pixels[scene][class]``: ``(k, 2)`` int64 ``(row, col)`` of up to ``sample_size``
            pixels of that class drawn uniformly at random; None when not asked for.
    """

    counts: np.ndarray
    pixels: list[list[np.ndarray]] | None


def census(labels: LabelSource, scenes: Sequence[Scene], sample_size: int = 0, seed: int = 0,
           maps: Sequence[SplitMap] | None = None, code: int = 0) -> Census:
    """Count each class's pixels in every scene; keep up to ``sample_size`` random positions per class and scene.

    With a split's cell ``maps``, only the pixels in cells of subset ``code`` count.
    """
    n = len(labels.table)
    counts = np.zeros((len(scenes), n), dtype=np.int64)
    pixels = [] if sample_size else None
    rng = np.random.default_rng(seed)
    for i, scene in enumerate(scenes):
        kept = [(np.empty(0), np.empty((0, 2), np.int64)) for _ in range(n)]
        for window in strips(scene):
            classes = labels.read(i, scene, window)
            if maps is not None:
                row, col, height, width = (int(v) for v in (window.row_off, window.col_off, *classes.shape))
                classes[~maps[i].mask(row, col, height, width, code)] = -1
            counts[i] += np.bincount(classes[classes >= 0], minlength=n)[:n]
            if sample_size:
                kept = [_keep_smallest(kept[c], classes == c, int(window.row_off), rng, sample_size)
                        for c in range(n)]
        if pixels is not None:
            pixels.append([positions for _, positions in kept])
    return Census(counts, pixels)


def _keep_smallest(kept, mask: np.ndarray, row0: int, rng: np.random.Generator, size: int):
    """Merge a strip's pixels of one class into a reservoir: the ``size`` pixels with the smallest random keys."""
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return kept
    keys = np.concatenate([kept[0], rng.random(rows.size)])
    positions = np.concatenate([kept[1], np.stack([rows + row0, cols], axis=1)])
    if keys.size > size:
        best = np.argpartition(keys, size)[:size]
        keys, positions = keys[best], positions[best]
    return keys, positions
