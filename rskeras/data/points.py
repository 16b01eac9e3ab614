"""Field data: point locations with attributes from CSV, GeoJSON or GeoPackage (no TensorFlow).

CSV files give coordinates in columns (``lon``/``lat`` in degrees, or projected ``x``/``y``
with ``crs=``); GeoJSON and GeoPackage files are read with pyogrio (GDAL) and must hold
Point geometries. All readers return :class:`Points`.

Blank cells and the texts of :data:`MISSING_VALUES` (any case) are missing values: NaN in
numeric columns, and :meth:`Points.missing` marks them. Each column also keeps the original
text of its values (:meth:`Points.text_column`), so class labels keep their spelling: an
integer column with a blank cell is numeric with NaN, and its labels stay ``"0"``, ``"1"``.
"""

from __future__ import annotations

import csv
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyogrio
import pyogrio.raw
from pyogrio.errors import DataSourceError
from rasterio.crs import CRS
from rasterio.warp import transform as warp_transform

from rskeras.io import atomic_path

CSV_SUFFIXES = (".csv", ".txt")
VECTOR_DRIVERS = {".geojson": "GeoJSON", ".json": "GeoJSON", ".gpkg": "GPKG"}
#: Texts that mean "no value" in a cell (compared after stripping, case-insensitive); blank cells too.
MISSING_VALUES = ("", "na", "n/a", "nan", "null", "none")
LON_NAMES = ("lon", "lng", "long", "longitude")
LAT_NAMES = ("lat", "latitude")
WGS84 = CRS.from_epsg(4326)
LONLAT_CRS = (WGS84, CRS.from_user_input("OGC:CRS84"))  # EPSG:4326 and its lon/lat-ordered twin
_WKB_TYPES = {1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
              6: "MultiPolygon", 7: "GeometryCollection"}  # fmt: skip


@dataclass
class Points:
    """Point locations with one attribute value per point per column.

    Attributes:
        x, y: coordinates, float64 arrays of shape (n,), in units of ``crs``
            (degrees of longitude/latitude for EPSG:4326, metres for UTM).
        crs: coordinate reference system of ``x`` and ``y``.
        attributes: column name -> array of shape (n,); numbers stay numeric
            (int64, or float64 with NaN for missing values), text stays text (numpy str arrays).
        source: the file the points came from (used in error messages).
        text: column name -> (n,) str array of the values as the file spells them ("" for a
            missing value); derived from ``attributes`` when not given.
    """

    x: np.ndarray
    y: np.ndarray
    crs: CRS
    attributes: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = "<points>"
    text: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = np.asarray(self.x, dtype=np.float64).reshape(-1)
        self.y = np.asarray(self.y, dtype=np.float64).reshape(-1)
        if self.crs is None:
            raise ValueError(f"{self.source}: points need a CRS; pass crs=, e.g. crs=\"EPSG:32614\" or \"EPSG:4326\"")
        self.crs = CRS.from_user_input(self.crs)
        self.attributes = {k: np.asarray(v) for k, v in self.attributes.items()}
        self.text = {k: np.asarray(self.text[k], dtype=str) if k in self.text else _as_text(v)
                     for k, v in self.attributes.items()}
        for name, values in {"y": self.y, **self.attributes}.items():
            if values.shape != self.x.shape or (name in self.text and self.text[name].shape != self.x.shape):
                raise ValueError(f"{self.source}: column {name!r} has {values.size} values for {self.x.size} points")

    def __len__(self) -> int:
        return self.x.size

    @property
    def columns(self) -> list[str]:
        """Attribute column names, in file order."""
        return list(self.attributes)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) of the finite coordinates, in ``crs`` units."""
        ok = np.isfinite(self.x) & np.isfinite(self.y)
        if not ok.any():
            return (np.nan,) * 4
        return self.x[ok].min(), self.y[ok].min(), self.x[ok].max(), self.y[ok].max()

    def column(self, name: str) -> np.ndarray:
        """The attribute array ``name``; KeyError naming the file and listing the columns."""
        if name not in self.attributes:
            raise KeyError(f"{self.source} has no column {name!r}; columns: {', '.join(self.columns) or '(none)'}")
        return self.attributes[name]

    def text_column(self, name: str) -> np.ndarray:
        """Column ``name`` as the file spells it (``"0"`` stays ``"0"``), ``""`` for missing values."""
        self.column(name)
        return np.where(self.missing(name), "", self.text[name])

    def missing(self, name: str) -> np.ndarray:
        """(n,) bool: the points whose value in column ``name`` is missing (blank, NA, n/a, null, None, NaN)."""
        return is_missing(self.column(name)) | is_missing(self.text[name])

    def to_crs(self, crs: str | CRS) -> Points:
        """These points reprojected to ``crs`` (a copy; attributes are shared).

        Points that PROJ cannot transform (e.g. latitude beyond 90 degrees after swapped
        lon/lat columns) get NaN coordinates; ValueError when no point can be transformed.
        """
        crs = CRS.from_user_input(crs)
        if crs == self.crs:
            return Points(self.x.copy(), self.y.copy(), crs, dict(self.attributes), self.source, dict(self.text))
        try:
            xs, ys = warp_transform(self.crs, crs, self.x, self.y)
        except Exception:  # rasterio fails the whole batch when one point fails: retry point by point
            xs, ys = np.array([self._transform_one(crs, x, y) for x, y in zip(self.x, self.y)]).reshape(-1, 2).T
            if len(self) and np.isnan(xs).all():
                raise ValueError(
                    f"none of the {len(self)} points of {self.source} can be transformed from "
                    f"{self.crs.to_string()} to {crs.to_string()}; is their CRS right (crs=, swapped lon/lat columns)?"
                ) from None
        return Points(np.asarray(xs), np.asarray(ys), crs, dict(self.attributes), self.source, dict(self.text))

    def _transform_one(self, crs: CRS, x: float, y: float) -> tuple[float, float]:
        try:
            (xs,), (ys,) = warp_transform(self.crs, crs, [x], [y])
        except Exception:
            return np.nan, np.nan
        return xs, ys

    def write(self, path: str | os.PathLike) -> Path:
        """Write the points to CSV, GeoJSON or GeoPackage, chosen by the file suffix.

        CSV files get ``lon``/``lat`` columns when the CRS is EPSG:4326, else ``x``/``y``
        (a CSV holds no CRS: read those back with ``crs=points.crs``). The file is
        written under a temporary name in the same folder and renamed when complete.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in CSV_SUFFIXES and suffix not in VECTOR_DRIVERS:
            raise ValueError(
                f"cannot write points to {path}: use one of {', '.join(CSV_SUFFIXES + tuple(VECTOR_DRIVERS))}"
            )
        with atomic_path(path) as tmp:
            if suffix in CSV_SUFFIXES:
                self._write_csv(tmp)
            else:
                wkb = np.array([struct.pack("<BIdd", 1, 1, x, y) for x, y in zip(self.x, self.y)], dtype=object)
                fields = [v.astype(object) if v.dtype.kind == "U" else v for v in self.attributes.values()]
                pyogrio.raw.write(tmp, wkb, fields, fields=self.columns, geometry_type="Point",
                                  crs=self.crs.to_wkt(), driver=VECTOR_DRIVERS[suffix], layer=path.stem)  # fmt: skip
        return path

    def _write_csv(self, path: Path) -> None:
        names = ["lon", "lat"] if self.crs in LONLAT_CRS else ["x", "y"]
        clash = set(names) & set(self.attributes)
        if clash:
            raise ValueError(
                f"cannot write {self.source} to CSV: attribute columns {sorted(clash)} clash with coordinates"
            )
        columns = [self.x.tolist(), self.y.tolist()] + [v.tolist() for v in self.attributes.values()]
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(names + self.columns)
            writer.writerows(zip(*columns))


def read_points(
    path: str | os.PathLike,
    *,
    x: str | None = None,
    y: str | None = None,
    crs: str | CRS | None = None,
    layer: str | None = None,
) -> Points:
    """Read field points from a CSV, GeoJSON (.geojson/.json) or GeoPackage (.gpkg) file.

    CSV: the coordinate columns are ``x``/``y`` when given, else found by name
    (case-insensitive): lon/lng/long/longitude or x, and lat/latitude or y. Lon/lat
    columns default to EPSG:4326; any other coordinates need ``crs=`` (e.g.
    ``crs="EPSG:32614"``). Every other column becomes an attribute.

    GeoJSON/GeoPackage: Point geometries of ``layer`` (required when a GeoPackage has
    several layers). The file's CRS is used; GeoJSON without a ``crs`` member is
    EPSG:4326 (RFC 7946); ``crs=`` supplies a CRS for files without one.

    Raises FileNotFoundError for a missing file and ValueError/KeyError naming the
    file and the column, layer or feature at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"points file not found: {path}")
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        if layer is not None:
            raise ValueError(f"{path}: layer= applies to GeoPackage files, not CSV")
        return _read_csv(path, x, y, crs)
    if suffix in VECTOR_DRIVERS:
        if x is not None or y is not None:
            raise ValueError(f"{path}: x= and y= name CSV columns; {suffix} files hold point geometries")
        return _read_vector(path, crs, layer)
    raise ValueError(f"{path}: unsupported points file type {suffix!r}; use .csv, .geojson, .json or .gpkg")


def _read_csv(path: Path, x: str | None, y: str | None, crs: str | CRS | None) -> Points:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [row for row in csv.reader(f) if any(cell.strip() for cell in row)]
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"cannot read points CSV {path}: {err}") from err
    if not rows:
        raise ValueError(f"points CSV {path} is empty")
    header, rows = [h.strip() for h in rows[0]], rows[1:]
    if not rows:
        raise ValueError(f"points CSV {path} has a header ({', '.join(header)}) but no rows")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}: row {line} has {len(row)} fields, the header has {len(header)}")
    x_col = _coordinate_column(path, header, x, LON_NAMES + ("x",), "x (longitude)")
    y_col = _coordinate_column(path, header, y, LAT_NAMES + ("y",), "y (latitude)")
    geographic = x_col.lower() in LON_NAMES and y_col.lower() in LAT_NAMES
    if crs is None and not geographic:
        raise ValueError(
            f'{path}: coordinates in columns {x_col!r}/{y_col!r} have no CRS; pass crs=, e.g. crs="EPSG:32614" '
            "(columns named lon/lat are read as EPSG:4326)"
        )
    crs = CRS.from_user_input(crs) if crs is not None else WGS84
    columns = {name: [row[i].strip() for row in rows] for i, name in enumerate(header)}
    xs, ys = (_coordinates(path, name, columns[name]) for name in (x_col, y_col))
    if crs.is_geographic and (np.abs(xs).max() > 180 or np.abs(ys).max() > 90):
        raise ValueError(
            f"{path}: columns {x_col!r}/{y_col!r} hold values outside longitude/latitude range; "
            f'if they are projected coordinates pass their crs=, e.g. crs="EPSG:32614"'
        )
    attributes = {name: _typed(values) for name, values in columns.items() if name not in (x_col, y_col)}
    text = {name: np.array(columns[name], dtype=str) for name in attributes}
    return Points(xs, ys, crs, attributes, str(path), text)


def _coordinate_column(path: Path, header: list[str], explicit: str | None, names: tuple[str, ...], what: str) -> str:
    if explicit is not None:
        if explicit not in header:
            raise KeyError(f"{path} has no column {explicit!r}; columns: {', '.join(header)}")
        return explicit
    found = [h for h in header if h.lower() in names]
    if len(found) != 1:
        problem = "several" if found else "no"
        raise KeyError(
            f"{path}: {problem} {what} coordinate columns ({', '.join(found) or 'looked for ' + ', '.join(names)}); "
            f"pass x= and y= to choose; columns: {', '.join(header)}"
        )
    return found[0]


def _coordinates(path: Path, name: str, values: list[str]) -> np.ndarray:
    out = np.empty(len(values))
    for i, value in enumerate(values):
        try:
            out[i] = float(value)
        except ValueError:
            out[i] = np.nan
        if not np.isfinite(out[i]):
            raise ValueError(f"{path}: row {i + 2} has no numeric coordinate in column {name!r} (got {value!r})")
    return out


def is_missing(values: np.ndarray) -> np.ndarray:
    """(n,) bool: NaN, None, blank or :data:`MISSING_VALUES` text (any case)."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, bool)
    return np.array([v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip().lower() in MISSING_VALUES
                     for v in values.tolist()], dtype=bool).reshape(values.shape)


def _typed(values: list[str]) -> np.ndarray:
    """int64 when every value is an integer, float64 (NaN for missing values) when every value present is
    numeric, else str (as written)."""
    missing = is_missing(np.array(values, dtype=str))
    if missing.all():
        return np.array(values, dtype=str)
    if not missing.any():
        try:
            return np.array([int(v) for v in values], dtype=np.int64)
        except (ValueError, OverflowError):
            pass
    try:  # integers with gaps become float64 with NaN; Points.text keeps their spelling ("1", "2")
        return np.array([np.nan if m else float(v) for v, m in zip(values, missing)])
    except ValueError:
        return np.array(values, dtype=str)


def _as_text(values: np.ndarray, integer: bool | None = None) -> np.ndarray:
    """The values of a column as text: ``""`` for missing values; whole numbers of an integer field
    (``integer``, default: the array's dtype) without ``.0``."""
    values = np.asarray(values)
    integer = values.dtype.kind in "iu" if integer is None else integer
    missing = is_missing(values)
    return np.array(["" if m else str(int(v)) if integer else str(v) for v, m in zip(values.tolist(), missing)],
                    dtype=str)


def _read_vector(path: Path, crs: str | CRS | None, layer: str | None) -> Points:
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
        if layer is None and len(layers) > 1:
            raise ValueError(f"{path} has several layers; choose one with layer=: {', '.join(layers)}")
        if layer is not None and layer not in layers:
            raise KeyError(f"{path} has no layer {layer!r}; layers: {', '.join(layers)}")
        meta, fids, geometries, values = pyogrio.raw.read(path, layer=layer, force_2d=True, return_fids=True)
    except DataSourceError as err:
        raise ValueError(f"cannot read points file {path}: {err}") from err
    where = f"{path}" + (f" layer {layer!r}" if layer else "")
    if len(geometries) == 0:
        raise ValueError(f"{where} has no features")
    xy = np.array([_point(where, i, fid, g) for i, (fid, g) in enumerate(zip(fids, geometries))])
    file_crs = CRS.from_user_input(meta["crs"]) if meta["crs"] else None
    if file_crs is None and path.suffix.lower() != ".gpkg":
        file_crs = WGS84  # RFC 7946: GeoJSON coordinates are WGS 84 longitude/latitude
    if crs is not None and file_crs is not None and CRS.from_user_input(crs) != file_crs:
        raise ValueError(f"{where} declares CRS {file_crs.to_string()}, which differs from crs={crs!r}")
    if file_crs is None and crs is None:
        raise ValueError(f'{where} has no CRS; pass crs=, e.g. crs="EPSG:32614"')
    attributes = {str(name): _attribute(column) for name, column in zip(meta["fields"], values)}
    text = {str(name): _as_text(column, integer=np.dtype(dtype).kind in "iu")
            for name, column, dtype in zip(meta["fields"], values, meta["dtypes"])}
    return Points(xy[:, 0], xy[:, 1], file_crs or crs, attributes, str(path), text)


def _point(where: str, i: int, fid: int, wkb: bytes | None) -> tuple[float, float]:
    """(x, y) of a WKB Point; ValueError naming the feature for anything else."""
    feature = f"{where}: feature {i} (FID {fid})"
    if wkb is None:
        raise ValueError(f"{feature} has no geometry")
    order = "<" if wkb[0] == 1 else ">"
    kind = struct.unpack(order + "I", wkb[1:5])[0]
    if kind != 1:
        name = _WKB_TYPES.get(kind % 1000, f"WKB type {kind}")
        raise ValueError(f"{feature} is a {name}; only Point geometries are supported (split MultiPoints into points)")
    xy = struct.unpack(order + "dd", wkb[5:21])
    if not np.isfinite(xy).all():
        raise ValueError(f"{feature} is an empty Point")
    return xy


def _attribute(column: np.ndarray) -> np.ndarray:
    """Text columns (object arrays from GDAL) as numpy str arrays, missing values as ''."""
    if column.dtype == object:
        return np.array(["" if v is None else str(v) for v in column], dtype=str)
    return column
