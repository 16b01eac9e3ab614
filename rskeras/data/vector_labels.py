"""Vector features burnt onto raster windows: labels and regions from polygons, lines and points (no TensorFlow).

:func:`read_features` reads a vector file (GeoPackage, Shapefile, GeoJSON, anything GDAL reads)
with pyogrio: every feature's geometry and the value of one column. :class:`Features` then
burns them onto any window of a target grid with ``rasterio.features``:

- Polygons cover the pixels whose centre lies inside them (GDAL's default rule, the rule by
  which label rasters are usually made from polygons).
- Points and lines without a buffer cover the pixels they touch (a point: the pixel that holds
  it). With ``buffer`` (in units of the target CRS, metres for UTM) they cover the pixels whose
  centre lies within ``buffer`` of them; buffered points and lines are drawn over polygons.
- Where features overlap, the later feature in the file wins.

Geometries are reprojected to the target CRS once per CRS (``rasterio.warp.transform_geom``) and
a window burns only the features whose bounding box meets it, so a window costs what its own
features cost, whatever the size of the file.
"""

from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass, field

import numpy as np
import pyogrio
import pyogrio.raw
from pyogrio.errors import DataSourceError
from rasterio.crs import CRS
from rasterio.features import rasterize
from rasterio.transform import Affine
from rasterio.warp import transform_geom

VECTOR_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json", ".fgb", ".gml", ".kml", ".sqlite", ".geojsonl")
#: rasterio's rasterize run from several threads at once warns "Dataset has no geotransform" (its GDAL error
#: state is shared; the rasters come out right): burning is serialised, reading stays parallel.
_RASTERIZE_LOCK = threading.Lock()
_POINT, _LINE, _POLYGON, _MULTIPOINT, _MULTILINE, _MULTIPOLYGON, _COLLECTION = range(1, 8)
_GEOJSON_TYPES = {_POINT: "Point", _LINE: "LineString", _POLYGON: "Polygon", _MULTIPOINT: "MultiPoint",
                  _MULTILINE: "MultiLineString", _MULTIPOLYGON: "MultiPolygon"}


def is_vector_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a vector file by its suffix (see :data:`VECTOR_SUFFIXES`)."""
    return os.fspath(path).lower().endswith(VECTOR_SUFFIXES)


@dataclass
class Features:
    """The features of one vector layer: GeoJSON-like geometries and one column's values.

    Attributes:
        geometries: one GeoJSON-like mapping per feature, in ``crs``.
        values: ``(n,)`` the column's value per feature (numbers, or str).
        crs: the layer's CRS.
        source: ``"path"`` or ``"path layer 'name'"``, for messages.
        column: the column the values come from.
    """

    geometries: list[dict]
    values: np.ndarray
    crs: CRS
    source: str
    column: str
    _projected: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.geometries)

    def projected(self, crs: CRS) -> tuple[list[dict], np.ndarray]:
        """The geometries in ``crs`` and their ``(n, 4)`` bounding boxes ``(left, bottom, right, top)``."""
        key = crs.to_wkt()
        if key not in self._projected:
            geometries = self.geometries if crs == self.crs else transform_geom(self.crs, crs, self.geometries)
            self._projected[key] = (geometries, np.array([_bbox(g) for g in geometries]).reshape(-1, 4))
        return self._projected[key]

    def bounds(self, crs: CRS) -> tuple[float, float, float, float]:
        """The bounds of all features in ``crs``."""
        boxes = self.projected(crs)[1]
        return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()

    def burn(self, burn_values: np.ndarray, shape: tuple[int, int], transform: Affine, crs: CRS, fill: float,
             dtype: str, buffer: float = 0.0) -> np.ndarray:
        """The features burnt onto a window: ``(height, width)`` of ``dtype``, ``fill`` where none lies.

        Args:
            burn_values: ``(n,)`` the value each feature burns.
            shape: ``(height, width)`` of the window in pixels.
            transform: the window's transform (its top-left pixel) in ``crs``.
            crs: the target CRS.
            fill: the value of pixels no feature covers.
            dtype: the output dtype.
            buffer: the buffer of points and lines in units of ``crs`` (see the module).
        """
        geometries, boxes = self.projected(crs)
        height, width = shape
        left, top = transform.c, transform.f
        right, bottom = left + width * transform.a, top + height * transform.e
        margin = max(buffer, 0.0)
        near = np.flatnonzero((boxes[:, 0] - margin < right) & (boxes[:, 2] + margin > left)
                              & (boxes[:, 1] - margin < top) & (boxes[:, 3] + margin > bottom))
        out = np.full(shape, fill, dtype=dtype)
        buffered = {i for i in near if buffer > 0 and geometries[i]["type"] not in ("Polygon", "MultiPolygon")}
        plain = [(geometries[i], burn_values[i]) for i in near if i not in buffered]
        if plain:
            with _RASTERIZE_LOCK:
                rasterize(plain, out=out, transform=transform)
        for i in sorted(buffered):
            _burn_buffered(out, geometries[i], burn_values[i], transform, buffer)
        return out


def read_features(path: str | os.PathLike, column: str | None, *, layer: str | int | None = None,
                  what: str = "labels", key: str = "label_column") -> Features:
    """The features of a vector file with the values of ``column``.

    Args:
        path: a vector file GDAL reads (GeoPackage, Shapefile, GeoJSON, ...).
        column: the attribute column (None is an error listing the columns).
        layer: the layer of a file with several (name or index).
        what: how errors name the argument (``"labels"``, ``"regions"``).
        key: how errors name the column argument.

    Raises:
        FileNotFoundError for a missing file; ValueError naming the file for a file without CRS,
        without features, with several layers and no ``layer``, or with a feature without
        geometry; KeyError naming the file and listing its columns for a missing column.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
        raise FileNotFoundError(f"{what}: vector file not found: {path}")
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        if layer is None and len(layers) > 1:
            raise ValueError(f"{what}: {path} has several layers; choose one with layer=: {', '.join(layers)}")
        meta, _, wkbs, columns = pyogrio.raw.read(path, layer=layer, force_2d=True, return_fids=True)
    except DataSourceError as err:
        raise ValueError(f"{what}: cannot read vector file {path}: {err}") from err
    source = path + (f" layer {layer!r}" if layer is not None else "")
    if not meta["crs"]:
        raise ValueError(f"{what}: vector file {source} has no CRS; give the file its CRS (e.g. a .prj beside a "
                         "shapefile, or ogr2ogr -a_srs EPSG:32615)")
    fields = [str(f) for f in meta["fields"]]
    if len(wkbs) == 0:
        raise ValueError(f"{what}: vector file {source} has no features")
    if column is None or column not in fields:
        problem = f"has no column {column!r}" if column is not None else f"needs {key}= (the column to use)"
        raise KeyError(f"{what}: vector file {source} {problem}; columns: {', '.join(fields) or '(none)'}")
    values = _column(columns[fields.index(column)])
    geometries = []
    for i, wkb in enumerate(wkbs):
        if wkb is None:
            raise ValueError(f"{what}: feature {i} of {source} has no geometry")
        geometries.append(wkb_to_geojson(wkb))
    return Features(geometries, values, CRS.from_user_input(meta["crs"]), source, column)


def _column(values: np.ndarray) -> np.ndarray:
    """Text columns as numpy str arrays (missing values as ''), numbers as they are."""
    if values.dtype == object:
        return np.array(["" if v is None else str(v) for v in values], dtype=str)
    return values


def wkb_to_geojson(wkb: bytes) -> dict:
    """A 2-D WKB geometry as a GeoJSON-like mapping (Point ... MultiPolygon, GeometryCollection)."""
    geometry, _ = _parse_wkb(memoryview(wkb), 0)
    return geometry


def _parse_wkb(data: memoryview, pos: int) -> tuple[dict, int]:
    order = "<" if data[pos] == 1 else ">"
    kind = struct.unpack_from(order + "I", data, pos + 1)[0] % 1000
    pos += 5
    if kind == _POINT:
        x, y = struct.unpack_from(order + "dd", data, pos)
        return {"type": "Point", "coordinates": (x, y)}, pos + 16
    if kind == _LINE:
        points, pos = _parse_points(data, pos, order)
        return {"type": "LineString", "coordinates": points}, pos
    if kind == _POLYGON:
        (n,) = struct.unpack_from(order + "I", data, pos)
        pos += 4
        rings = []
        for _ in range(n):
            ring, pos = _parse_points(data, pos, order)
            rings.append(ring)
        return {"type": "Polygon", "coordinates": rings}, pos
    if kind in (_MULTIPOINT, _MULTILINE, _MULTIPOLYGON, _COLLECTION):
        (n,) = struct.unpack_from(order + "I", data, pos)
        pos += 4
        parts = []
        for _ in range(n):
            part, pos = _parse_wkb(data, pos)
            parts.append(part)
        if kind == _COLLECTION:
            return {"type": "GeometryCollection", "geometries": parts}, pos
        return {"type": _GEOJSON_TYPES[kind], "coordinates": [p["coordinates"] for p in parts]}, pos
    raise ValueError(f"unsupported WKB geometry type {kind}")


def _parse_points(data: memoryview, pos: int, order: str) -> tuple[list, int]:
    (n,) = struct.unpack_from(order + "I", data, pos)
    coords = np.frombuffer(data, dtype=order + "f8", count=2 * n, offset=pos + 4).reshape(n, 2)
    return coords.tolist(), pos + 4 + 16 * n


def _coordinates(geometry: dict) -> np.ndarray:
    """All vertices of a geometry as ``(n, 2)``."""
    kind = geometry["type"]
    if kind == "GeometryCollection":
        parts = [_coordinates(g) for g in geometry["geometries"]]
    elif kind in ("Point", "LineString", "MultiPoint"):
        parts = [geometry["coordinates"]]
    else:
        parts = _rings(geometry)
    arrays = [np.asarray(part, dtype=np.float64).reshape(-1, 2) for part in parts]
    return np.concatenate(arrays) if arrays else np.empty((0, 2))


def _rings(geometry: dict) -> list:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [ring for polygon in geometry["coordinates"] for ring in polygon]
    return geometry["coordinates"]  # MultiLineString: its lines


def _bbox(geometry: dict) -> tuple[float, float, float, float]:
    xy = _coordinates(geometry)
    if len(xy) == 0:
        return (np.inf, np.inf, -np.inf, -np.inf)
    return xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()


def _segments(geometry: dict) -> np.ndarray:
    """``(n, 2, 2)`` segments of a point or line geometry (a point is a segment of length 0)."""
    kind = geometry["type"]
    if kind in ("Point", "MultiPoint"):
        xy = _coordinates(geometry)
        return np.stack([xy, xy], axis=1)
    lines = [geometry["coordinates"]] if kind == "LineString" else geometry["coordinates"]
    parts = [np.asarray(line, dtype=np.float64).reshape(-1, 2) for line in lines]
    return np.concatenate([np.stack([p[:-1], p[1:]], axis=1) for p in parts if len(p) > 1] or [np.empty((0, 2, 2))])


def _burn_buffered(out: np.ndarray, geometry: dict, value, transform: Affine, buffer: float) -> None:
    """Set ``out`` to ``value`` where a pixel centre lies within ``buffer`` of a point or line geometry."""
    if geometry["type"] == "GeometryCollection":
        for part in geometry["geometries"]:
            _burn_buffered(out, part, value, transform, buffer)
        return
    rows, cols = np.mgrid[0:out.shape[0], 0:out.shape[1]] + 0.5
    x = transform.c + cols * transform.a
    y = transform.f + rows * transform.e
    near = np.zeros(out.shape, dtype=bool)
    for (x0, y0), (x1, y1) in _segments(geometry):
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = np.zeros_like(x) if length2 == 0 else np.clip(((x - x0) * dx + (y - y0) * dy) / length2, 0, 1)
        near |= (x - x0 - t * dx) ** 2 + (y - y0 - t * dy) ** 2 <= buffer * buffer
    out[near] = value

