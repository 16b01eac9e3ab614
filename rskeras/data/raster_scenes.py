"""Scenes on one target grid, read window by window (rasterio, no TensorFlow).

A *scene* is the imagery of one place, given as

- one multi-band file (``"scene.tif"``; a glob pattern gives one scene per file);
- several files whose bands are stacked in the order given (``["s2.tif", "s1.tif"]`` inside
  the list of scenes: ``[["s2.tif", "s1.tif"], ...]``);
- a mapping band name -> one-band file (``{"B02": "B02_10m.tif", "B8A": "B8A_20m.tif"}``), as
  Sentinel-2 products and BigEarthNet deliver bands at 10, 20 and 60 m.

Band names of a scene. A scene of one file names its bands as
:func:`rskeras.data.rasters.band_names` does (descriptions, else ``sensor=``'s names, else
``band_<i>``). A mapping names them by its keys. A stack of several files takes the files'
descriptions when every band has one and no name repeats, else ``band_1`` ... ``band_<n>``
over the whole stack. Bands are chosen with :func:`rskeras.data.rasters.resolve_bands` (1-based
index or name), so the same rules and errors apply everywhere.

The target grid. Every scene is read onto a grid of one CRS and one pixel size:

1. CRS: ``crs=``, else the CRS of the first file of the first scene.
2. Pixel size: ``resolution=`` (units of the CRS; one number or ``(x, y)``), else the first
   file's pixel size when it is in that CRS, else the size GDAL proposes for reprojecting it
   (``calculate_default_transform``).
3. A scene's extent is the intersection of its files' bounds in the target CRS, snapped
   outwards to whole pixels of a lattice anchored at the top-left corner of the scene's first
   file when that file is in the target CRS (so at its own pixel size it is read without
   resampling), else at the CRS's origin (GDAL's ``-tap``).

Reading. A file on the grid's lattice (same CRS and pixel size, origin a whole number of pixels
away) is read directly; any other through a ``WarpedVRT`` onto the grid (bilinear for images,
nearest for labels). Only the window asked for is read, so memory does not grow with the scene.
Pixels outside a file, its nodata, masked pixels and NaN are invalid. Every thread keeps its own
open datasets (GDAL handles are not shared between threads), so windows can be read in parallel.
"""

from __future__ import annotations

import glob
import math
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.vrt import WarpedVRT
from rasterio.warp import calculate_default_transform, transform_bounds
from rasterio.windows import Window

from rskeras.data.rasters import (
    Masking,
    band_names,
    bands_dtype,
    mask_kind,
    open_raster,
    read_bands,
    resolve_bands,
    valid_pixels,
)
from rskeras.data.sensors import SensorSpec

PathLike = str | os.PathLike
#: A scene as given: one file, files stacked band-wise, or band name -> one-band file.
SceneSpec = PathLike | Sequence[PathLike] | Mapping[str, PathLike]
BandSelection = Sequence[int | str] | Mapping[str, Sequence[int | str]] | None
_ALIGN_TOLERANCE = 1e-6  # pixels


@dataclass(frozen=True)
class Grid:
    """A north-up pixel grid: ``crs``, ``transform`` (pixel -> CRS coordinates) and size in pixels."""

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` in CRS units."""
        left, top = self.transform.c, self.transform.f
        return left, top + self.height * self.transform.e, left + self.width * self.transform.a, top

    def window_transform(self, row: int, col: int) -> Affine:
        """The transform of a window whose top-left pixel is ``(row, col)``."""
        return self.transform @ Affine.translation(col, row)


@dataclass(frozen=True)
class SceneBand:
    """One channel of a scene's image: band ``index`` (1-based) of file ``path``, called ``name``."""

    path: str
    index: int
    name: str


@dataclass(frozen=True)
class Scene:
    """One scene on its target grid with the bands chosen from it.

    Attributes:
        name: how errors name the scene (its file, or its files joined by ``+``).
        files: the scene's files in stacking order.
        grid: the target grid of the scene.
        bands: the chosen channels, in the image's channel order.
    """

    name: str
    files: tuple[str, ...]
    grid: Grid
    bands: tuple[SceneBand, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` in target pixels."""
        return self.grid.height, self.grid.width


@dataclass(frozen=True)
class _BandTable:
    """The bands of a stacked scene, shaped like a rasterio dataset for :func:`resolve_bands`."""

    name: str
    count: int
    descriptions: tuple[str | None, ...]


def expand_scenes(images: SceneSpec | Sequence[SceneSpec]) -> list[list[str] | dict[str, str]]:
    """The scenes of ``images``: each a list of stacked files, or a mapping band name -> file.

    A path or glob pattern is one scene per file; a mapping is one scene; a list holds scenes
    (paths, patterns, mappings, or lists of files stacked into one scene).

    Raises:
        FileNotFoundError: a file or pattern that matches nothing (named).
        ValueError: no scene at all.
    """
    if isinstance(images, Mapping):
        return [{str(name): _existing(path) for name, path in images.items()}]
    items = [images] if isinstance(images, (str, os.PathLike)) else list(images)
    scenes: list[list[str] | dict[str, str]] = []
    for item in items:
        if isinstance(item, Mapping):
            scenes += expand_scenes(item)
        elif isinstance(item, (str, os.PathLike)):
            scenes += [[path] for path in _expand_pattern(item)]
        else:
            scenes.append([_existing(path) for path in item])
    if not scenes or any(not scene for scene in scenes):
        raise ValueError(f"images: no scene given in {images!r}; give a file, a glob pattern or a list of scenes")
    return scenes


def _expand_pattern(item: PathLike) -> list[str]:
    path = os.fspath(item)
    if any(c in path for c in "*?["):
        found = sorted(glob.glob(path))
        if not found:
            raise FileNotFoundError(f"images: the pattern {path!r} matches no file")
        return found
    return [_existing(path)]


def _existing(path: PathLike) -> str:
    path = os.fspath(path)
    if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
        raise FileNotFoundError(f"raster not found: {path}")
    return path


def open_scenes(
    images: SceneSpec | Sequence[SceneSpec],
    bands: BandSelection = None,
    *,
    sensor: str | SensorSpec | None = None,
    crs: str | CRS | None = None,
    resolution: float | tuple[float, float] | None = None,
) -> tuple[list[Scene], dict[str, list[str]] | None]:
    """The scenes of ``images`` on their target grids, with the chosen bands.

    Args:
        images: see :func:`expand_scenes`.
        bands: band indexes (1-based) or names; ``{input: bands}`` for a model with several
            inputs (the image's channels are the groups' bands in order); None: all bands.
        sensor: names the bands of one-file scenes without descriptions (:data:`rskeras.data.SENSORS`).
        crs, resolution: the target grid (see the module's rules).

    Returns:
        ``(scenes, groups)`` where ``groups`` maps each input name to its band names (None
        without groups).

    Raises:
        KeyError naming the scene and band that is missing, with the scene's bands;
        ValueError for scenes with different band counts (bands chosen by index or all), files
        of a scene that do not overlap, or a mapping value that is not a one-band file.
    """
    specs = expand_scenes(images)
    target_crs, res = _target_crs_resolution(specs[0], crs, resolution)
    selection = _flat_selection(bands)
    scenes, counts = [], []
    for spec in specs:
        files = list(spec.values()) if isinstance(spec, Mapping) else list(spec)
        table, local = _band_table(spec, sensor)
        indexes, names = _resolve(spec, table, selection, sensor)
        grid = _scene_grid(files, target_crs, res)
        chosen = tuple(SceneBand(*local[i - 1], name) for i, name in zip(indexes, names))
        scenes.append(Scene(" + ".join(files), tuple(files), grid, chosen))
        counts.append(table.count)
    _check_band_counts(scenes, counts, selection)
    return scenes, _groups(bands, scenes[0])


def _flat_selection(bands: BandSelection) -> list[int | str] | None:
    if bands is None:
        return None
    if isinstance(bands, Mapping):
        empty = [name for name, group in bands.items() if not group]
        if not bands or empty:
            raise ValueError(f"bands: every input must name at least one band; none for {empty or 'any input'}")
        return [band for group in bands.values() for band in group]
    if isinstance(bands, (str, int)):
        return [bands]
    if not bands:
        raise ValueError("bands: name at least one band (or None for all)")
    return list(bands)


def _groups(bands: BandSelection, first: Scene) -> dict[str, list[str]] | None:
    if not isinstance(bands, Mapping):
        return None
    names = [band.name for band in first.bands]
    groups, start = {}, 0
    for key, group in bands.items():
        groups[str(key)] = names[start:start + len(group)]
        start += len(group)
    return groups


def _band_table(spec: list[str] | dict[str, str], sensor) -> tuple[_BandTable, list[tuple[str, int]]]:
    """The stacked bands of a scene as ``(table, [(file, band index), ...])`` (see the module's naming rules)."""
    if not isinstance(spec, Mapping) and len(spec) == 1:
        with open_raster(spec[0]) as ds:
            return _BandTable(ds.name, ds.count, tuple(band_names(ds, sensor))), [(spec[0], i) for i in
                                                                                range(1, ds.count + 1)]
    if sensor is not None:
        raise ValueError(f"sensor= names the bands of a one-file scene; scene {' + '.join(_files(spec))} stacks "
                         f"{len(spec)} files: choose its bands by index, or name them with a mapping band -> file")
    local, descriptions = [], []
    for key, path in (spec.items() if isinstance(spec, Mapping) else ((None, p) for p in spec)):
        with open_raster(path) as ds:
            if key is not None and ds.count != 1:
                raise ValueError(f"images: band {key!r} maps to {path}, which has {ds.count} bands; a mapping "
                                 "names one-band files (list a multi-band file in a list of stacked files)")
            local += [(path, i) for i in range(1, ds.count + 1)]
            descriptions += [key] if key is not None else list(ds.descriptions)
    if not all(descriptions) or len(set(descriptions)) < len(descriptions):
        descriptions = [None] * len(descriptions)
    return _BandTable(" + ".join(_files(spec)), len(local), tuple(descriptions)), local


def _files(spec: list[str] | dict[str, str]) -> list[str]:
    return list(spec.values()) if isinstance(spec, Mapping) else list(spec)


def _resolve(spec, table: _BandTable, selection, sensor) -> tuple[list[int], list[str]]:
    """1-based stack indexes and names of the chosen bands (:func:`resolve_bands` on the file or the stack)."""
    files = _files(spec)
    if len(files) == 1 and not isinstance(spec, Mapping):
        with open_raster(files[0]) as ds:
            return resolve_bands(ds, selection, sensor)
    return resolve_bands(table, selection)


def _check_band_counts(scenes: list[Scene], counts: list[int], selection) -> None:
    """Scenes must have the same band count unless every band is chosen by name."""
    by_name = selection is not None and all(isinstance(b, str) for b in selection)
    if by_name or len(set(counts)) == 1:
        return
    listing = "; ".join(f"{scene.name}: {count}" for scene, count in zip(scenes, counts))
    raise ValueError(f"images: the scenes have different band counts ({listing}); choose the same bands of each "
                     "by name with bands=, or give scenes of one product")


def _target_crs_resolution(first: list[str] | dict[str, str], crs, resolution) -> tuple[CRS, tuple[float, float]]:
    """The target CRS and pixel size ``(x, y)`` (rules 1 and 2 of the module)."""
    with open_raster(_files(first)[0]) as ds:
        if ds.crs is None and crs is None:
            raise ValueError(f"raster {ds.name} has no CRS; give the target grid's crs= (and the file a CRS)")
        target = CRS.from_user_input(crs) if crs is not None else ds.crs
        if resolution is not None:
            res = (resolution, resolution) if isinstance(resolution, (int, float)) else tuple(resolution)
            if len(res) != 2 or min(res) <= 0:
                raise ValueError(f"resolution must be a positive pixel size or (x, y), got {resolution!r}")
            return target, (float(res[0]), float(res[1]))
        if ds.crs == target:
            return target, (abs(ds.transform.a), abs(ds.transform.e))
        transform, _, _ = calculate_default_transform(ds.crs, target, ds.width, ds.height, *ds.bounds)
        return target, (abs(transform.a), abs(transform.e))


def _scene_grid(files: list[str], crs: CRS, res: tuple[float, float]) -> Grid:
    """The grid of a scene: its files' common extent on the target lattice (rule 3 of the module)."""
    boxes, anchor = [], (0.0, 0.0)
    for i, path in enumerate(files):
        with open_raster(path) as ds:
            if ds.crs is None:
                raise ValueError(f"raster {ds.name} has no CRS, so it cannot be placed on the target grid")
            boxes.append(ds.bounds if ds.crs == crs else transform_bounds(ds.crs, crs, *ds.bounds, densify_pts=21))
            if i == 0 and ds.crs == crs:
                anchor = (ds.transform.c, ds.transform.f)
    left, bottom = max(b[0] for b in boxes), max(b[1] for b in boxes)
    right, top = min(b[2] for b in boxes), min(b[3] for b in boxes)
    if left >= right or bottom >= top:
        listing = "; ".join(f"{path}: {_format_bounds(box)}" for path, box in zip(files, boxes))
        raise ValueError(f"images: the files of scene {' + '.join(files)} do not overlap ({listing})")
    col0 = math.floor((left - anchor[0]) / res[0] + _ALIGN_TOLERANCE)
    col1 = math.ceil((right - anchor[0]) / res[0] - _ALIGN_TOLERANCE)
    row0 = math.floor((anchor[1] - top) / res[1] + _ALIGN_TOLERANCE)
    row1 = math.ceil((anchor[1] - bottom) / res[1] - _ALIGN_TOLERANCE)
    transform = Affine(res[0], 0.0, anchor[0] + col0 * res[0], 0.0, -res[1], anchor[1] - row0 * res[1])
    return Grid(crs, transform, col1 - col0, row1 - row0)


def _format_bounds(box) -> str:
    return f"x {box[0]:.10g}..{box[2]:.10g}, y {box[1]:.10g}..{box[3]:.10g}"


def describe_bounds(box: Sequence[float], crs: CRS) -> str:
    """``"x 462405..469905, y 1734315..1741815 (EPSG:32615)"``: bounds for error messages."""
    return f"{_format_bounds(box)} ({crs.to_string()})"


def file_bounds(path: PathLike, crs: CRS) -> tuple[float, float, float, float]:
    """The bounds of raster ``path`` in ``crs``."""
    with open_raster(path) as ds:
        if ds.crs is None:
            raise ValueError(f"raster {ds.name} has no CRS, so it cannot be placed on the target grid")
        return tuple(ds.bounds) if ds.crs == crs else transform_bounds(ds.crs, crs, *ds.bounds, densify_pts=21)


def overlaps(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether two ``(left, bottom, right, top)`` boxes share area."""
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class WindowReader:
    """Reads windows of files on target grids, each thread with its own open datasets.

    A file on the grid's lattice is read directly; any other through a ``WarpedVRT`` onto the
    grid with the given resampling (see the module). Datasets stay open for the reader's life.
    """

    def __init__(self):
        self._sources: dict[tuple, _Source] = {}
        self._lock = threading.Lock()
        self._all: list = []

    def read(self, path: str, indexes: Sequence[int], grid: Grid, window: Window,
             resampling: Resampling) -> tuple[np.ndarray, np.ndarray]:
        """``(values, valid)``: bands ``indexes`` of ``path`` in ``window`` of ``grid``.

        Returns:
            values ``(len(indexes), h, w)`` in the file's dtype (0 where invalid) and
            valid ``(h, w)`` bool: inside the file, not nodata, not masked, not NaN in any band.
        """
        return _read_window(self._source(path, grid, resampling), indexes, window)

    def read_many(self, path: str, indexes: Sequence[int], grid: Grid, origins: Sequence[tuple[int, int]],
                  size: tuple[int, int], resampling: Resampling) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`read` of the windows of ``size`` ``(h, w)`` at ``origins`` ``(row, col)``, stacked.

        Returns:
            values ``(k, len(indexes), h, w)`` in the file's dtype (0 where invalid) and valid ``(k, h, w)``.
            Windows read whole from a file on the lattice get their validity in one NumPy call for all.
        """
        source = self._source(path, grid, resampling)
        ds, (h, w), bands = source.dataset, size, list(indexes)
        values = np.empty((len(origins), len(bands), h, w), dtype=bands_dtype(ds, bands))
        valid = np.empty((len(origins), h, w), dtype=bool)
        whole = np.zeros(len(origins), dtype=bool)
        for i, (row, col) in enumerate(origins):
            inside = _inside_window(source, row, col, h, w)
            if inside is not None and source.masks.kind != "masks":
                read_bands(ds, bands, inside, values[i])
                whole[i] = True
            else:
                values[i], valid[i] = _read_window(source, bands, Window(col, row, w, h))
        if whole.all():
            valid = valid_pixels(ds, bands, values, None, source.masks)
        elif whole.any():
            valid[whole] = valid_pixels(ds, bands, values[whole], None, source.masks)
        return values, valid

    def _source(self, path: str, grid: Grid, resampling: Resampling) -> _Source:
        # keyed by the OS thread: tf.data calls Python from C++ threads, and each call gets a fresh Python
        # thread state, so threading.local would open the files again for every call
        key = (threading.get_ident(), path, id(grid), resampling)  # grids live as long as their scenes
        source = self._sources.get(key)
        if source is None:
            ds = rasterio.open(path)
            offset = lattice_offset(ds, grid)
            handles = [ds]
            if offset is None:
                handles.append(WarpedVRT(ds, crs=grid.crs, transform=grid.transform, width=grid.width,
                                         height=grid.height, resampling=resampling, add_alpha=True))
            source = _Source(handles[-1], offset, mask_kind(ds))
            with self._lock:
                self._sources[key] = source
                self._all += handles
        return source

    def __reduce__(self):
        """Pickled as a fresh reader: open datasets stay with their process, another one opens its own."""
        return WindowReader, ()

    def close(self) -> None:
        """Close every dataset any thread opened."""
        with self._lock:
            for handle in reversed(self._all):  # a WarpedVRT before its dataset
                handle.close()
            self._all.clear()
            self._sources.clear()

    def __del__(self):
        self.close()


def lattice_offset(ds, grid: Grid) -> tuple[int, int] | None:
    """``(row, col)`` of the grid's origin in ``ds``'s pixels when ``ds`` lies on the grid's lattice, else None."""
    t, g = ds.transform, grid.transform
    if ds.crs != grid.crs or t.b or t.d or g.b or g.d:
        return None
    if not (math.isclose(t.a, g.a, rel_tol=1e-9) and math.isclose(t.e, g.e, rel_tol=1e-9)):
        return None
    col, row = (g.c - t.c) / t.a, (g.f - t.f) / t.e
    if abs(col - round(col)) > _ALIGN_TOLERANCE or abs(row - round(row)) > _ALIGN_TOLERANCE:
        return None
    return round(row), round(col)


@dataclass(frozen=True)
class _Source:
    """An open file (or its WarpedVRT), its offset on the grid's lattice (None: warped) and how it masks."""

    dataset: object
    offset: tuple[int, int] | None
    masks: Masking


def _inside_window(source: _Source, row: int, col: int, h: int, w: int) -> Window | None:
    """The file's window for the grid window at ``(row, col)`` when it lies on the lattice and wholly inside the file,
    else None."""
    if source.offset is None:
        return None
    row, col = row + source.offset[0], col + source.offset[1]
    ds = source.dataset
    if row < 0 or col < 0 or row + h > ds.height or col + w > ds.width:
        return None
    return Window(col, row, w, h)


def _read_window(source: _Source, indexes: Sequence[int], window: Window) -> tuple[np.ndarray, np.ndarray]:
    """One window of ``source``: through its ``WarpedVRT``, or directly from a file on the grid's lattice."""
    if source.offset is None:
        return _read_warped(source.dataset, indexes, window)
    return _read_direct(source, indexes, window)


def _read_direct(source: _Source, indexes: Sequence[int], window: Window):
    """A window of a file on the grid's lattice: the part inside the file, invalid elsewhere."""
    ds = source.dataset
    h, w = int(window.height), int(window.width)
    whole = _inside_window(source, int(window.row_off), int(window.col_off), h, w)
    if whole is not None:
        values = read_bands(ds, indexes, whole, np.empty((len(indexes), h, w), bands_dtype(ds, indexes)))
        return values, valid_pixels(ds, indexes, values, whole, source.masks)
    row0, col0 = int(window.row_off) + source.offset[0], int(window.col_off) + source.offset[1]
    r0, c0 = max(row0, 0), max(col0, 0)
    r1, c1 = min(row0 + h, ds.height), min(col0 + w, ds.width)
    inside = Window(c0, r0, c1 - c0, r1 - r0)
    values = np.zeros((len(indexes), h, w), dtype=bands_dtype(ds, indexes))
    valid = np.zeros((h, w), dtype=bool)
    if r0 < r1 and c0 < c1:
        part = (slice(r0 - row0, r1 - row0), slice(c0 - col0, c1 - col0))
        read_bands(ds, indexes, inside, values[(slice(None), *part)])
        valid[part] = valid_pixels(source.dataset, indexes, values[(slice(None), *part)], inside,
                                   source.masks)
        values[:, ~valid] = 0
    return values, valid


def _read_warped(vrt: WarpedVRT, indexes: Sequence[int], window: Window):
    """A window of a ``WarpedVRT`` with an alpha band: invalid where alpha is below half."""
    block = vrt.read([*indexes, vrt.count], window=window)
    alpha = block[-1].astype(np.float64)
    values = block[:-1]
    full = np.iinfo(block.dtype).max if block.dtype.kind in "iu" else 255  # GDAL's opaque alpha
    valid = alpha >= 0.5 * full
    if vrt.src_nodata is not None:
        valid &= ~(values == vrt.src_nodata).any(axis=0)
    if values.dtype.kind == "f":
        valid &= ~np.isnan(values).any(axis=0)
    return np.where(valid, values, 0).astype(values.dtype), valid
