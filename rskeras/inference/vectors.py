"""Class maps back to vectors and areas: polygons per class and a per-class area table (no TensorFlow).

:func:`vectorize` turns a class map (band 1 of integer classes, as ``predict_raster`` writes it)
into polygons, one per connected patch of a class, with the class value, the class name (the
map's ``CLASS_NAMES`` tag), the pixel count and the area in m² and hectares, in the map's CRS,
as GeoPackage or GeoJSON. :func:`class_areas` is the per-class table (pixels, m², hectares,
share of the mapped pixels) as JSON or CSV.

How large maps stay bounded: polygons come from GDAL's polygonizer (``GDALPolygonize`` through
``rasterio.features.shapes`` on the file's band), which reads the map one scanline at a time and
closes each polygon when the scan has passed it, so a polygon that spans the whole map is one
polygon (nothing is split at window edges and nothing needs merging). Memory grows with the
polygons' vertices, not with the map's pixels; features are written in batches. The area table
counts pixels strip by strip (:func:`rskeras.evaluation.class_maps.count_classes`).

Simplification (``simplify=`` in CRS units, metres for a projected map) keeps neighbours
sharing their boundary: each boundary line between two junctions of polygons is simplified once
(Douglas-Peucker, junctions kept) and used by both sides, so no gaps or overlaps open between
neighbouring polygons. A polygon that simplification would flatten keeps its pixel outline.
``min_area`` / ``min_pixels`` leave out smaller polygons (a gap in the layer where they were); to
merge small patches into their neighbours instead, sieve the map first (``rasterio.features.sieve``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
import rasterio.features

from rskeras.data.rasters import RasterLike, open_raster
from rskeras.evaluation.class_maps import check_class_map, class_names, count_classes, pixel_area_m2
from rskeras.io import atomic_path, atomic_write_text, check_output

#: Vector formats by file suffix -> OGR driver.
VECTOR_FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON"}
#: Area table formats by file suffix.
TABLE_SUFFIXES = (".json", ".csv")
#: Features written per call of the vector writer.
WRITE_BATCH = 10_000
SQUARE_METRES_PER_HECTARE = 1e4
FIELDS = ["class", "class_name", "pixels", "area_m2", "area_ha"]


@dataclass
class VectorizeResult:
    """What :func:`vectorize` wrote.

    Attributes:
        path: the vector file.
        polygons: polygons written.
        per_class: polygons written per class name.
        left_out: polygons smaller than the minimum area, not written.
    """

    path: Path
    polygons: int = 0
    per_class: dict[str, int] = field(default_factory=dict)
    left_out: int = 0


@dataclass
class _Polygon:
    """One patch of a class: its value, rings (exterior first) as closed ``(n, 2)`` arrays in pixel
    coordinates, and its pixels (counted on the pixel outline, so they stay exact after simplification)."""

    value: int
    rings: list[np.ndarray]
    pixels: int = 0

    @property
    def area(self) -> float:
        """Area of the rings in pixels."""
        return _ring_area(self.rings[0]) - sum(_ring_area(r) for r in self.rings[1:])


def vectorize(
    class_map: RasterLike,
    dst: str | os.PathLike,
    *,
    simplify: float | None = None,
    min_area: float | None = None,
    min_pixels: int | None = None,
    connectivity: int = 4,
    nodata: float | None = None,
    layer: str | None = None,
) -> VectorizeResult:
    """Polygons per class of ``class_map``, written to ``dst`` (GeoPackage or GeoJSON) atomically.

    Args:
        class_map: a class map (band 1 integer classes), path or open dataset.
        dst: ``.gpkg`` or ``.geojson``; written under a temporary name and renamed when complete.
        simplify: Douglas-Peucker tolerance in CRS units (metres), shared boundaries kept shared;
            None writes the pixel outlines.
        min_area: leave out polygons smaller than this many m².
        min_pixels: leave out polygons of fewer pixels.
        connectivity: 4 (edge neighbours form a patch) or 8 (corners too).
        nodata: a class value that is not mapped, besides the map's nodata (never a polygon).
        layer: the layer name (default: the file's stem).

    Fields of each polygon: ``class`` (value), ``class_name`` (``CLASS_NAMES`` tag, else the value),
    ``pixels`` (of the pixel outline), ``area_m2`` and ``area_ha`` (of the geometry written).

    Raises:
        ValueError: ``dst`` is the map, a folder or not ``.gpkg``/``.geojson``; the map holds no
            integers, has no CRS, a geographic CRS (areas in m² need a projected one; the CRS is
            named) or non-square pixels; a bad ``connectivity``, ``simplify`` or minimum area.
    """
    check_output(dst, suffixes=tuple(VECTOR_FORMATS), inputs=_paths(class_map), what="dst")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    for name, value in (("simplify", simplify), ("min_area", min_area), ("min_pixels", min_pixels)):
        if value is not None and not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    with open_raster(class_map) as ds:
        check_class_map(ds)
        pixel_m2 = pixel_area_m2(ds)
        names = class_names(ds)
        skip = {v for v in (ds.nodata, nodata) if v is not None}
        smallest = max(min_pixels or 0, (min_area or 0) / pixel_m2)
        polygons = _polygons(ds, connectivity)
        if simplify:
            polygons = _simplified(list(polygons), simplify / abs(ds.transform.a), (ds.width, ds.height))
        result = VectorizeResult(Path(dst))
        kept = _kept(polygons, skip, smallest, result)
        with atomic_path(dst) as tmp:
            _write(kept, tmp, ds, pixel_m2, names, layer or Path(dst).stem, result)
    return result


def _paths(raster: RasterLike) -> list[str]:
    return [os.fspath(raster)] if isinstance(raster, (str, os.PathLike)) else []


def _polygons(ds, connectivity: int) -> Iterator[_Polygon]:
    """Every patch of equal values (nodata too), rings in pixel-corner coordinates (integers)."""
    inverse = ~ds.transform
    for geometry, value in rasterio.features.shapes(rasterio.band(ds, 1), connectivity=connectivity):
        rings = []
        for ring in geometry["coordinates"]:
            xy = np.asarray(ring, np.float64)
            col, row = inverse @ (xy[:, 0], xy[:, 1])
            rings.append(np.round(np.column_stack([col, row])).astype(np.int64))
        polygon = _Polygon(int(value), rings)
        polygon.pixels = int(round(polygon.area))
        yield polygon


def _kept(polygons: Iterable[_Polygon], skip: set, smallest: float, result: VectorizeResult) -> Iterator[_Polygon]:
    """The polygons of mapped classes with at least ``smallest`` pixels; the others counted in ``result``."""
    for polygon in polygons:
        if polygon.value in skip:
            continue
        if polygon.pixels < smallest:
            result.left_out += 1
            continue
        yield polygon


def _write(polygons: Iterable[_Polygon], path, ds, pixel_m2: float, names: dict, layer: str,
           result: VectorizeResult) -> None:
    """Write ``polygons`` in batches of :data:`WRITE_BATCH`, in CRS coordinates, with their fields."""
    from pyogrio.raw import write

    driver = VECTOR_FORMATS[Path(path).suffix.lower()]
    batch: list[_Polygon] = []
    for polygon in polygons:
        batch.append(polygon)
        if len(batch) == WRITE_BATCH:
            _write_batch(write, batch, path, driver, layer, ds, pixel_m2, names, result)
            batch = []
    if batch or not result.polygons:
        _write_batch(write, batch, path, driver, layer, ds, pixel_m2, names, result)


def _write_batch(write, batch, path, driver: str, layer: str, ds, pixel_m2: float, names: dict,
                 result: VectorizeResult) -> None:
    t = ds.transform
    geometries, values, labels, pixels, areas = [], [], [], [], []
    for polygon in batch:
        rings = [np.column_stack([t.a * r[:, 0] + t.b * r[:, 1] + t.c, t.d * r[:, 0] + t.e * r[:, 1] + t.f])
                 for r in polygon.rings]
        geometries.append(_wkb_polygon(rings))
        values.append(polygon.value)
        labels.append(names.get(polygon.value, str(polygon.value)))
        pixels.append(polygon.pixels)
        areas.append(polygon.area * pixel_m2)
        result.per_class[labels[-1]] = result.per_class.get(labels[-1], 0) + 1
    area_m2 = np.asarray(areas, np.float64)
    fields = [np.asarray(values, np.int32), np.asarray(labels, object), np.asarray(pixels, np.int64), area_m2,
              area_m2 / SQUARE_METRES_PER_HECTARE]
    write(os.fspath(path), np.asarray(geometries, object), fields, FIELDS, layer=layer, driver=driver,
          geometry_type="Polygon", crs=ds.crs.to_wkt(), append=result.polygons > 0)
    result.polygons += len(batch)


def _ring_area(ring: np.ndarray) -> float:
    """Unsigned area of a closed ring (shoelace), in the ring's units squared."""
    x, y = ring[:, 0].astype(np.float64), ring[:, 1].astype(np.float64)
    return abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1]))) / 2


def _wkb_polygon(rings: list[np.ndarray]) -> bytes:
    """Well-known binary of a polygon (little-endian), exterior ring first."""
    parts = [struct.pack("<BII", 1, 3, len(rings))]
    for ring in rings:
        parts += [struct.pack("<I", len(ring)), np.ascontiguousarray(ring, "<f8").tobytes()]
    return b"".join(parts)


# ----- simplification that keeps shared boundaries shared ---------------------------------------

def _simplified(polygons: list[_Polygon], tolerance: float, size: tuple[int, int]) -> list[_Polygon]:
    """``polygons`` with every boundary line between junctions simplified once, for both its sides.

    ``tolerance`` in pixels; ``size`` the map's ``(width, height)``. Rings are first walked pixel
    edge by pixel edge; a junction is a pixel corner where other than two of those edges meet
    (three or four polygons, or a polygon's boundary meeting the map's edge), or a corner of the
    map. A ring with fewer than three junctions gets three of its corners as junctions, so that no
    ring flattens and both sides of it keep the same line.
    """
    dense = [[_unit_steps(ring) for ring in p.rings] for p in polygons]
    width, height = size
    junctions = _junctions([ring for rings in dense for ring in rings]) | {(0, 0), (width, 0), (0, height),
                                                                           (width, height)}
    for polygon in polygons:
        for ring in polygon.rings:
            corners = list(map(tuple, ring[:-1].tolist()))
            if sum(corner in junctions for corner in corners) < 3:
                junctions.update(corners[i * len(corners) // 3] for i in range(3))
    cache: dict[bytes, np.ndarray] = {}
    return [_Polygon(p.value, [_simplify_ring(ring, junctions, tolerance, cache) for ring in rings], p.pixels)
            for p, rings in zip(polygons, dense)]


def _unit_steps(ring: np.ndarray) -> np.ndarray:
    """The closed ring with a vertex at every pixel corner along its (axis-parallel) edges."""
    steps = np.diff(ring, axis=0)
    lengths = np.abs(steps).max(axis=1)
    direction = np.sign(steps)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    corners = np.repeat(ring[:-1], lengths, axis=0) + np.repeat(direction, lengths, axis=0) * offsets[:, None]
    return np.vstack([corners, corners[:1]])


def _junctions(rings: list[np.ndarray]) -> set[tuple[int, int]]:
    """Pixel corners where the number of distinct unit edges of all rings is not 2."""
    edges = np.concatenate([np.hstack([r[:-1], r[1:]]) for r in rings])
    a, b = edges[:, :2], edges[:, 2:]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    first, second = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    unique = np.unique(np.hstack([first, second]), axis=0)
    corners, degree = np.unique(np.vstack([unique[:, :2], unique[:, 2:]]), axis=0, return_counts=True)
    return {tuple(c) for c in corners[degree != 2].tolist()}


def _simplify_ring(ring: np.ndarray, junctions: set, tolerance: float, cache: dict) -> np.ndarray:
    """The ring split at its junctions, each piece simplified once, whichever side walks it."""
    cut = [i for i, corner in enumerate(map(tuple, ring[:-1].tolist())) if corner in junctions]
    ring = np.vstack([ring[cut[0]:-1], ring[:cut[0] + 1]])  # start at a junction
    cut = [i - cut[0] for i in cut] + [len(ring) - 1]
    pieces = [_shared_simplify(ring[i:j + 1], tolerance, cache) for i, j in zip(cut[:-1], cut[1:])]
    return np.vstack([pieces[0]] + [p[1:] for p in pieces[1:]])


def _shared_simplify(line: np.ndarray, tolerance: float, cache: dict) -> np.ndarray:
    """Douglas-Peucker of ``line``, computed once for the line and its reverse (the neighbour's walk)."""
    reverse = tuple(line[-1]) < tuple(line[0]) or (
        tuple(line[-1]) == tuple(line[0]) and tuple(line[-2]) < tuple(line[1]))
    canonical = line[::-1] if reverse else line
    key = canonical.tobytes()
    if key not in cache:
        cache[key] = _douglas_peucker(canonical, tolerance)
    return cache[key][::-1] if reverse else cache[key]


def _douglas_peucker(line: np.ndarray, tolerance: float) -> np.ndarray:
    """The corners of ``line`` Douglas-Peucker keeps at ``tolerance`` (its ends always)."""
    keep = np.zeros(len(line), bool)
    keep[[0, -1]] = True
    points = line.astype(np.float64)
    stack = [(0, len(line) - 1)]
    while stack:
        i, j = stack.pop()
        if j <= i + 1:
            continue
        distance = _distance_to_segment(points[i + 1:j], points[i], points[j])
        k = int(np.argmax(distance))
        if distance[k] > tolerance:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return line[keep]


def _distance_to_segment(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    length = float(np.dot(ab, ab))
    t = np.clip((points - a) @ ab / length, 0, 1) if length else np.zeros(len(points))
    return np.hypot(*(points - (a + t[:, None] * ab)).T)


# ----- the per-class area table ---------------------------------------------------------------

def class_areas(class_map: RasterLike, dst: str | os.PathLike | None = None, *,
                nodata: float | None = None) -> list[dict]:
    """Pixels, area and share of each class of ``class_map``; written to ``dst`` (JSON or CSV) when given.

    Args:
        class_map: a class map (band 1 integer classes), path or open dataset.
        dst: ``.json`` (the table with the map's CRS and pixel area) or ``.csv`` (one row per class),
            written atomically; None writes nothing.
        nodata: a class value that is not mapped, besides the map's nodata.

    Returns:
        One dict per class value present, in value order: ``class``, ``name`` (``CLASS_NAMES`` tag,
        else the value), ``pixels``, ``area_m2``, ``area_ha``, ``share`` (of the mapped pixels).

    Raises:
        ValueError: ``dst`` is the map, a folder or neither ``.json`` nor ``.csv``; the map holds no
            integers, has no CRS, a geographic CRS (the CRS is named) or non-square pixels.
    """
    if dst is not None:
        check_output(dst, suffixes=TABLE_SUFFIXES, inputs=_paths(class_map), what="dst")
    with open_raster(class_map) as ds:
        check_class_map(ds)
        pixel_m2, names, crs, source = pixel_area_m2(ds), class_names(ds), ds.crs.to_string(), ds.name
    counts = count_classes(class_map, nodata)
    total = sum(counts.values())
    rows = [{"class": value, "name": names.get(value, str(value)), "pixels": n, "area_m2": n * pixel_m2,
             "area_ha": n * pixel_m2 / SQUARE_METRES_PER_HECTARE, "share": n / total} for value, n in counts.items()]
    if dst is not None:
        table = {"source": source, "crs": crs, "pixel_area_m2": pixel_m2, "total_pixels": total, "classes": rows}
        atomic_write_text(dst, json.dumps(table, indent=2) if Path(dst).suffix.lower() == ".json" else _csv(rows))
    return rows


def _csv(rows: list[dict]) -> str:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()
