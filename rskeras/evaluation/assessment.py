"""Accuracy and class areas of a map from a labelled probability sample (no TensorFlow).

Estimators (Olofsson et al. 2014, "Good practices for estimating area and assessing accuracy
of land change", RSE 148; Stehman 2014, "Estimating area and map accuracy for stratified random
sampling when the strata are different from the map classes", IJRS 35)
    Stratum ``h`` holds ``N_h`` pixels (``N = sum N_h``) and ``n_h`` labelled points; point ``u``
    has a map class ``m_u`` and a reference class ``r_u``. For a 0/1 indicator ``y``, the
    population share and its variance are estimated as
        ``ybar = sum_h W_h ybar_h``,  ``V(ybar) = sum_h W_h**2 s2_y,h / n_h``  (``W_h = N_h / N``)
    and a ratio of two totals ``R = Y / X`` as
        ``R = sum_h N_h ybar_h / sum_h N_h xbar_h``,
        ``V(R) = sum_h N_h**2 (s2_y,h + R**2 s2_x,h - 2 R s_xy,h) / n_h / X**2``
    with the sample variances and covariance of stratum ``h`` (denominator ``n_h - 1``).

    ==========================  =====================================================
    estimate                    indicator(s)
    ==========================  =====================================================
    error matrix cell ``p_ij``  ``y = [m = i and r = j]`` (rows map, columns reference)
    area share of class ``k``   ``y = [r = k]``; pixels ``N * share``; ha ``pixels * a``
    overall accuracy            ``y = [m = r]``
    user's accuracy of ``k``    ratio, ``y = [m = k and r = k]``, ``x = [m = k]``
    producer's accuracy of k    ratio, ``y = [m = k and r = k]``, ``x = [r = k]``
    ==========================  =====================================================

    Where the strata are the map classes these are exactly the estimators of Olofsson et al.
    (2014) (area shares, overall, user's and producer's accuracy and their variances; the
    worked example of their Section 5 is a test); where they are not, Stehman's (2014).
    Simple random and systematic samples are analysed the same way with the map classes as
    strata (post-stratification). There is no finite-population correction, as in the paper
    (the variances are slightly conservative; the difference vanishes when ``n_h << N_h``).
    A 95 % confidence interval is ``estimate +- z SE`` with ``z`` the normal quantile rounded to
    two decimals (1.96), as the paper prints them.

Inputs
    The sample: a points file (:func:`rskeras.data.read_points`), :class:`Points`, or a table (a
    mapping or DataFrame of columns). Map classes come from ``map_column`` or, read at the
    points, from ``class_map`` (:func:`rskeras.data.sample_raster`). Stratum sizes ``N_h`` come
    from ``strata_areas`` (pixels per stratum, or a raster to count) or from ``class_map``.
    Labels match classes by value or by name (``CLASS_NAMES`` tag or ``class_names=``), so a
    reference column may hold "forest" where the map holds 1.

Bad input
    Points without a reference label are counted, listed in ``notes`` and left out (never
    counted as agreement); points off the map likewise. A class in the sample that the map
    does not have, a stratum with fewer than two labelled points, a stratum without a size:
    ValueError naming them. Areas in ha need a pixel area: a map without CRS, in a geographic
    CRS or with non-square pixels gives areas in pixels and shares, with a note (an error when
    ``area_unit`` asks for ha, km2 or m2).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np

from rskeras.data.points import Points, read_points
from rskeras.data.rasters import RasterLike, open_raster
from rskeras.data.sampling import sample_raster
from rskeras.evaluation.class_maps import class_names as read_class_names
from rskeras.evaluation.class_maps import count_classes, pixel_area_m2
from rskeras.io import atomic_path, atomic_write_text

AREA_UNITS = {"ha": 1e4, "km2": 1e6, "m2": 1.0}  # square metres per unit
ESTIMATORS = {"olofsson2014": "Olofsson et al. (2014)", "stehman2014": "Stehman (2014)"}
Label = int | float | str


@dataclass(frozen=True)
class Estimate:
    """An estimate and its standard error; both None where it is undefined (nothing to divide by)."""

    value: float | None
    se: float | None

    def scaled(self, factor: float) -> Estimate:
        """The estimate and its SE times ``factor`` (shares to pixels or hectares)."""
        if self.value is None:
            return self
        return Estimate(self.value * factor, self.se * factor)

    def to_dict(self, z: float) -> dict:
        """``{"estimate", "se", "ci_low", "ci_high"}`` with ``ci = estimate +- z se``."""
        if self.value is None:
            return {"estimate": None, "se": None, "ci_low": None, "ci_high": None}
        return {"estimate": self.value, "se": self.se, "ci_low": self.value - z * self.se,
                "ci_high": self.value + z * self.se}


@dataclass
class Assessment:
    """Accuracy and class areas of a map, with standard errors (see the module for the estimators).

    Per-class lists and the ``(K, K)`` matrices follow ``classes``; matrix rows are map classes,
    columns reference classes.

    Attributes:
        classes: class values (or labels) in table order; ``class_names`` their names.
        estimator: ``"olofsson2014"`` (strata are the map classes) or ``"stehman2014"``.
        counts: sample counts, int64 ``(K, K)``.
        proportions: estimated shares of the map's area, float64 ``(K, K)``.
        overall_accuracy: an :class:`Estimate`.
        users_accuracy, producers_accuracy, area_share: one :class:`Estimate` per class.
        map_share: ``(K,)`` share of the map's pixels mapped as each class.
        total_pixels: ``N``, pixels of the assessed population.
        pixel_area_m2: area of one pixel in m², None when unknown.
        area_unit: unit of the areas besides pixels (``"ha"``, ``"km2"``, ``"m2"``) or None.
        strata, stratum_pixels, stratum_points: the strata, ``N_h`` and labelled ``n_h``.
        confidence, z: confidence level of the intervals and its normal quantile.
        n_points: points in the sample; n_used: points in the estimates.
        missing_reference: point ids without a reference label (left out).
        n_off_map: points outside the map or on nodata (left out).
        notes: what was left out or could not be computed, in words.
        source: the sample's file (or ``<table>``).
    """

    classes: list[Label]
    class_names: list[str]
    estimator: str
    counts: np.ndarray
    proportions: np.ndarray
    overall_accuracy: Estimate
    users_accuracy: list[Estimate]
    producers_accuracy: list[Estimate]
    area_share: list[Estimate]
    map_share: np.ndarray
    total_pixels: float
    pixel_area_m2: float | None
    area_unit: str | None
    strata: list[Label]
    stratum_pixels: np.ndarray
    stratum_points: np.ndarray
    confidence: float
    z: float
    n_points: int
    n_used: int
    missing_reference: list = field(default_factory=list)
    n_off_map: int = 0
    notes: list[str] = field(default_factory=list)
    source: str = "<table>"

    @property
    def unit_per_pixel(self) -> float | None:
        """Area of one pixel in ``area_unit``, None without a unit."""
        return None if self.area_unit is None else self.pixel_area_m2 / AREA_UNITS[self.area_unit]

    def area(self, k: int, unit: str = "pixels") -> Estimate:
        """Estimated area of class index ``k`` in ``"pixels"``, ``"share"`` or ``area_unit``."""
        if unit == "share":
            return self.area_share[k]
        pixels = self.area_share[k].scaled(self.total_pixels)
        if unit == "pixels":
            return pixels
        if unit != self.area_unit:
            raise ValueError(f"areas of this assessment are in pixels, share or {self.area_unit}, not {unit!r}")
        return pixels.scaled(self.unit_per_pixel)

    def to_dict(self) -> dict:
        """JSON-ready results: settings, counts, error matrices, overall and per-class estimates with CIs."""
        units = ["pixels", "share"] + ([self.area_unit] if self.area_unit else [])
        per_class = []
        for k, (value, name) in enumerate(zip(self.classes, self.class_names)):
            map_pixels = self.map_share[k] * self.total_pixels
            per_class.append({
                "value": value, "name": name,
                "sample_mapped": int(self.counts[k].sum()), "sample_reference": int(self.counts[:, k].sum()),
                "map_area": {"pixels": map_pixels, "share": float(self.map_share[k]),
                             **({self.area_unit: map_pixels * self.unit_per_pixel} if self.area_unit else {})},
                "area": {unit: self.area(k, unit).to_dict(self.z) for unit in units},
                "users_accuracy": self.users_accuracy[k].to_dict(self.z),
                "producers_accuracy": self.producers_accuracy[k].to_dict(self.z),
            })
        return {
            "source": self.source, "estimator": ESTIMATORS[self.estimator], "confidence": self.confidence,
            "z": self.z, "n_points": self.n_points, "n_used": self.n_used,
            "n_missing_reference": len(self.missing_reference), "missing_reference": self.missing_reference,
            "n_off_map": self.n_off_map, "notes": self.notes,
            "total_pixels": self.total_pixels, "pixel_area_m2": self.pixel_area_m2, "area_unit": self.area_unit,
            "strata": [{"value": s, "pixels": float(N), "points": int(n)}
                       for s, N, n in zip(self.strata, self.stratum_pixels, self.stratum_points)],
            "error_matrix": {"rows": "map class", "columns": "reference class", "classes": self.classes,
                             "counts": self.counts.tolist(), "area_proportions": self.proportions.tolist()},
            "overall_accuracy": self.overall_accuracy.to_dict(self.z),
            "classes": per_class,
        }

    def summary(self) -> str:
        """A few lines: overall accuracy, then per class user's, producer's, map and estimated area."""
        unit = self.area_unit or "pixels"
        oa = self.overall_accuracy
        where = "" if self.source == "<table>" else f" of {self.source}"
        lines = [f"accuracy and area of the map from {self.n_used} labelled points{where} "
                 f"({ESTIMATORS[self.estimator]} estimators, ± = {100 * self.confidence:g} % CI):",
                 f"overall accuracy {oa.value:.3f} ± {self.z * oa.se:.3f}",
                 f"{'class':<20} {'user':>13} {'producer':>13} {f'map ({unit})':>14} {f'estimated ({unit})':>22}"]
        for k, name in enumerate(self.class_names):
            area = self.area(k, unit)
            map_area = self.map_share[k] * self.total_pixels * (self.unit_per_pixel or 1.0)
            lines.append(f"{name[:20]:<20} {_pm(self.users_accuracy[k], self.z, 3):>13} "
                         f"{_pm(self.producers_accuracy[k], self.z, 3):>13} {map_area:>14,.0f} "
                         f"{_pm(area, self.z, 0):>22}")
        return "\n".join(lines + self.notes)


def _pm(estimate: Estimate, z: float, digits: int) -> str:
    if estimate.value is None:
        return "n/a"
    return f"{estimate.value:,.{digits}f} ± {z * estimate.se:,.{digits}f}"


def assess_map(
    sample: str | os.PathLike | Points | Mapping,
    reference_column: str,
    map_column: str | None = None,
    *,
    class_map: RasterLike | None = None,
    strata_column: str | None = None,
    strata_areas: Mapping[Label, float] | RasterLike | None = None,
    pixel_area: float | None = None,
    class_names: Mapping[Label, str] | None = None,
    area_unit: str = "auto",
    confidence: float = 0.95,
    layer: str | None = None,
) -> Assessment:
    """Error matrix, accuracies and error-adjusted class areas with standard errors and CIs.

    Args:
        sample: labelled points: a CSV/GeoJSON/GeoPackage path, :class:`Points`, or a table
            (mapping or DataFrame of equal-length columns).
        reference_column: the column of reference classes (what the point really is).
        map_column: the column of map classes; None reads them from ``class_map`` at the points.
        class_map: the class map: map classes at the points, pixels per class (the strata sizes
            when the strata are the map classes), class names and the pixel area.
        strata_column: the column of strata when they are not the map classes (Stehman 2014);
            then ``strata_areas`` gives their sizes.
        strata_areas: pixels per stratum, ``{stratum: pixels}``, or a raster whose pixels to count.
        pixel_area: area of one pixel in m² (for ha with a ``strata_areas`` mapping).
        class_names: ``{class value: name}`` (default: the class map's ``CLASS_NAMES`` tag).
        area_unit: ``"auto"`` (ha when the pixel area is known), ``"ha"``, ``"km2"``, ``"m2"`` or ``"pixels"``.
        confidence: confidence level of the intervals.
        layer: layer of a GeoPackage sample.

    Raises:
        ValueError / KeyError naming the column, class, stratum or file at fault (see the module).
    """
    if area_unit not in ("auto", "pixels", *AREA_UNITS):
        raise ValueError(f"area_unit={area_unit!r} is not known; choose auto, pixels, {', '.join(AREA_UNITS)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence={confidence!r} must lie between 0 and 1, e.g. 0.95")
    table = _SampleTable.read(sample, layer)
    reference_raw = table.column(reference_column)
    map_info = _MapInfo.read(class_map, class_names)
    map_raw, on_map = _map_labels(table, map_column, class_map)
    classes, names = _class_list(map_info, strata_areas if strata_column is None else None, class_names,
                                 map_raw[on_map], reference_raw)
    map_index = _class_indices(map_raw, classes, names, map_column or "map class at the points", table.source,
                               ~on_map)
    reference_index = _class_indices(reference_raw, classes, names, reference_column, table.source, ~on_map)
    strata, stratum_pixels, stratum_index, area_source = _strata(table, strata_column, strata_areas, map_info,
                                                                 classes, names, map_index)
    unit, pixel_m2, notes = _area_unit(area_unit, pixel_area, area_source)
    used = on_map & (reference_index >= 0)
    missing = [table.ids[i] for i in np.flatnonzero(on_map & (reference_index < 0))]
    notes = _left_out_notes(table, reference_column, missing, int((~on_map).sum())) + notes
    if map_info.pixels is None and strata_column is not None:
        notes.append("map areas are estimated from the sample (row totals of the error matrix): give class_map= "
                     "to count them")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    labels = _describe(strata, names if strata_column is None else [str(k) for k in strata])
    points = _check_strata(labels, stratum_pixels, stratum_index[used], table.source)
    estimates = _estimate(map_index[used], reference_index[used], stratum_index[used], stratum_pixels, len(classes))
    map_share = _map_share(map_info, strata_column, classes, stratum_pixels, estimates["proportions"])
    return Assessment(
        classes=classes, class_names=names, estimator="stehman2014" if strata_column else "olofsson2014",
        map_share=map_share, total_pixels=float(stratum_pixels.sum()), pixel_area_m2=pixel_m2, area_unit=unit,
        strata=strata, stratum_pixels=stratum_pixels, stratum_points=points, confidence=confidence,
        z=round(NormalDist().inv_cdf(0.5 + confidence / 2), 2), n_points=len(table), n_used=int(used.sum()),
        missing_reference=missing, n_off_map=int((~on_map).sum()), notes=notes, source=table.source, **estimates,
    )


@dataclass
class _SampleTable:
    """The sample's columns, its points (None for a plain table) and an id per point."""

    columns: dict[str, np.ndarray]
    points: Points | None
    source: str
    ids: list

    @classmethod
    def read(cls, sample, layer: str | None) -> _SampleTable:
        points = None
        if isinstance(sample, (str, os.PathLike)):
            sample = read_points(sample, layer=layer)
        if isinstance(sample, Points):
            points, columns, source = sample, dict(sample.attributes), sample.source
        elif hasattr(sample, "columns") or isinstance(sample, Mapping):
            names = list(sample.columns) if hasattr(sample, "columns") else list(sample)
            columns, source = {str(c): np.asarray(sample[c]) for c in names}, "<table>"
        else:
            raise TypeError(f"sample must be a points file, Points or a table of columns, not {type(sample).__name__}")
        lengths = {c: v.shape[0] for c, v in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"{source}: columns differ in length: {lengths}")
        n = len(points) if points is not None else next(iter(lengths.values()), 0)
        ids = columns["point_id"].tolist() if "point_id" in columns else list(range(1, n + 1))
        return cls(columns, points, source, ids)

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> np.ndarray:
        if name not in self.columns:
            raise KeyError(f"{self.source} has no column {name!r}; columns: {', '.join(self.columns) or '(none)'}")
        return self.columns[name]


@dataclass
class _MapInfo:
    """What the class map tells: pixels per class, names, and the pixel area (or why not)."""

    path: RasterLike | None = None
    pixels: dict[int, int] | None = None
    names: dict = field(default_factory=dict)

    @classmethod
    def read(cls, class_map: RasterLike | None, class_names: Mapping | None) -> _MapInfo:
        if class_map is None:
            return cls(names={_label_key(k): str(v) for k, v in (class_names or {}).items()})
        with open_raster(class_map) as ds:
            names = read_class_names(ds)
        names.update({_label_key(k): str(v) for k, v in (class_names or {}).items()})
        return cls(class_map, count_classes(class_map), names)


def _map_labels(table: _SampleTable, map_column: str | None, class_map: RasterLike | None):
    """Map class of each point (from the column or read from the map) and a mask of points on the map."""
    if map_column is not None:
        values = table.column(map_column)
        return values, ~_missing(values)
    if class_map is None:
        raise ValueError("give map_column= (the column with the map class of each point) or class_map= "
                         "(the map to read it from)")
    if table.points is None:
        raise ValueError(f"{table.source} is a table without point locations: give map_column= to name the column "
                         "with the map class of each point")
    samples = sample_raster(class_map, table.points, bands=[1])
    values = np.zeros(len(table), dtype=np.int64)
    values[samples.index] = samples.values[:, 0].astype(np.int64)
    on_map = np.zeros(len(table), dtype=bool)
    on_map[samples.index] = True
    return values, on_map


def _missing(values: np.ndarray) -> np.ndarray:
    """True where a label is absent: None, NaN or blank text."""
    values = np.asarray(values)
    if values.dtype.kind == "f":
        return np.isnan(values)
    if values.dtype.kind in "iub":
        return np.zeros(values.shape, dtype=bool)
    return np.array([v is None or (isinstance(v, float) and math.isnan(v)) or not str(v).strip() for v in values],
                    dtype=bool)


def _label_key(value) -> Label:
    """A label as a comparable key: whole numbers (also "3" and 3.0) as int, other text stripped."""
    if isinstance(value, (bool, np.bool_, int, np.integer)):
        return int(value)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _class_list(map_info: _MapInfo, strata_areas, class_names, map_labels, reference_labels):
    """Class keys and names: the map's classes when known (map, strata sizes, names), else those seen.

    A map's classes are those it holds and those its ``CLASS_NAMES`` tag names: a class the map never
    predicts (0 pixels) can still be in the reference labels, its whole area then being omission errors.
    """
    if map_info.pixels is not None:
        keys = sorted(set(map_info.pixels) | {k for k in map_info.names if isinstance(k, int)})
    elif isinstance(strata_areas, Mapping):
        keys = [_label_key(k) for k in strata_areas]
    elif class_names:
        keys = [_label_key(k) for k in class_names]
    else:
        labelled = reference_labels[~_missing(reference_labels)]
        seen = {_label_key(v) for v in map_labels} | {_label_key(v) for v in labelled}
        keys = sorted(seen, key=lambda k: (isinstance(k, str), str(k) if isinstance(k, str) else k))
    return keys, [map_info.names.get(k, str(k)) for k in keys]


def _describe(keys: list, names: list[str]) -> list[str]:
    """``value=name`` of each class or stratum (just the name where it is the value)."""
    return [str(k) if str(k) == n else f"{k}={n}" for k, n in zip(keys, names)]


def _class_indices(raw, classes: list, names: list[str], column: str, source: str, skip: np.ndarray) -> np.ndarray:
    """Index into ``classes`` of each label (by value or name); -1 where missing or skipped."""
    lookup = {k: i for i, k in enumerate(classes)}
    by_name = {name.lower(): i for i, name in enumerate(names)}
    index = np.full(len(raw), -1, dtype=np.int64)
    unknown = set()
    absent = _missing(raw) | skip
    for i, value in enumerate(raw):
        if absent[i]:
            continue
        key = _label_key(value)
        found = lookup.get(key, by_name.get(key.lower()) if isinstance(key, str) else None)
        if found is None:
            unknown.add(str(value))
        else:
            index[i] = found
    if unknown:
        known = ", ".join(_describe(classes, names))
        raise ValueError(f"{source}: column {column!r} holds classes the map does not have: "
                         f"{', '.join(sorted(unknown))}; map classes: {known}")
    return index


def _strata(table, strata_column, strata_areas, map_info: _MapInfo, classes, names, map_index):
    """Strata keys, their pixels ``N_h``, the stratum index of each point and the raster the sizes came from."""
    if strata_column is None:
        if strata_areas is None and map_info.pixels is None:
            raise ValueError("the strata sizes are unknown: give class_map= (pixels per class are counted) or "
                             "strata_areas= (pixels per map class)")
        sizes, source = _stratum_sizes(strata_areas, map_info)
        pixels = np.zeros(len(classes))
        for key, count in sizes.items():
            found = [i for i, (k, n) in enumerate(zip(classes, names)) if key in (k, n)]
            if not found:
                raise ValueError(f"strata_areas names stratum {key!r}, which is not a map class; "
                                 f"classes: {', '.join(map(str, classes))}")
            pixels[found[0]] = count
        return list(classes), pixels, map_index, source
    if strata_areas is None:
        raise ValueError(f"strata_column={strata_column!r} needs strata_areas= (pixels per stratum, or the strata "
                         "raster to count them)")
    sizes, source = _stratum_sizes(strata_areas, map_info)
    keys = list(sizes)
    raw = table.column(strata_column)
    absent = _missing(raw)
    if absent.any():
        raise ValueError(f"{table.source}: {int(absent.sum())} points have no stratum in column {strata_column!r}")
    lookup = {k: i for i, k in enumerate(keys)}
    index = np.array([lookup.get(_label_key(v), -1) for v in raw], dtype=np.int64)
    if (index < 0).any():
        unknown = sorted({str(v) for v, i in zip(raw, index) if i < 0})
        raise ValueError(f"{table.source}: column {strata_column!r} holds strata without a size in strata_areas: "
                         f"{', '.join(unknown)}; strata with sizes: {', '.join(map(str, keys))}")
    return keys, np.array([sizes[k] for k in keys], dtype=np.float64), index, source


def _stratum_sizes(strata_areas, map_info: _MapInfo) -> tuple[dict, RasterLike | None]:
    """``{stratum key: pixels}`` and the raster they were counted on (None for a given mapping)."""
    if isinstance(strata_areas, Mapping):
        sizes = {_label_key(k): float(v) for k, v in strata_areas.items()}
        bad = [f"{k}={v}" for k, v in sizes.items() if not v >= 0]
        if bad:
            raise ValueError(f"strata_areas must be pixel counts >= 0; got {', '.join(bad)}")
        return sizes, map_info.path
    if strata_areas is not None:
        return {k: float(v) for k, v in count_classes(strata_areas).items()}, strata_areas
    return {k: float(v) for k, v in map_info.pixels.items()}, map_info.path


def _area_unit(area_unit: str, pixel_area: float | None, raster: RasterLike | None):
    """Unit of the areas (None: pixels only), the pixel area in m² and a note when ha are not possible."""
    if area_unit == "pixels":
        return None, pixel_area, []
    if pixel_area is None and raster is not None:
        try:
            with open_raster(raster) as ds:
                pixel_area = pixel_area_m2(ds)
        except ValueError as err:
            if area_unit != "auto":
                raise ValueError(f"area_unit={area_unit!r}: {err}") from None
            return None, None, [f"areas are in pixels and shares only: {err}"]
    if pixel_area is None:
        if area_unit != "auto":
            raise ValueError(f"area_unit={area_unit!r} needs the pixel area: give class_map= or pixel_area= (m²)")
        return None, None, ["areas are in pixels and shares only: no pixel area (give class_map= or pixel_area=)"]
    return ("ha" if area_unit == "auto" else area_unit), float(pixel_area), []


def _left_out_notes(table: _SampleTable, reference_column: str, missing: list, off_map: int) -> list[str]:
    notes = []
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        notes.append(f"{len(missing)} of {len(table)} points have no reference label in column {reference_column!r} "
                     f"(point {shown}); they are left out of the estimates, not counted as agreement")
    if off_map:
        notes.append(f"{off_map} of {len(table)} points fall outside the map or on nodata; they are left out")
    return notes


def _check_strata(strata: list[str], pixels: np.ndarray, index: np.ndarray, source: str) -> np.ndarray:
    """Labelled points per stratum (``strata``: their descriptions); ValueError naming strata with pixels but
    fewer than 2 points."""
    points = np.bincount(index, minlength=len(strata))
    if points.sum() == 0:
        raise ValueError(f"{source}: no point has both a map class and a reference label")
    thin = [f"{s} ({n} point{'s' if n != 1 else ''})" for s, N, n in zip(strata, pixels, points) if N > 0 and n < 2]
    if thin:
        raise ValueError(f"{source}: strata with fewer than 2 labelled points: {', '.join(thin)}; the variance of a "
                         "stratum needs at least 2 (label more points there)")
    empty = [str(s) for s, N, n in zip(strata, pixels, points) if N == 0 and n > 0]
    if empty:
        raise ValueError(f"{source}: points fall in strata of 0 pixels: {', '.join(empty)}")
    return points


class _Strata:
    """Stratified estimation of shares and ratios from 0/1 indicators of the points."""

    def __init__(self, index: np.ndarray, pixels: np.ndarray):
        self.index, self.pixels = index, pixels
        self.points = np.bincount(index, minlength=pixels.size).astype(np.float64)
        self.sampled = self.points > 0

    def _moments(self, y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, ...]:
        """Per-stratum means of y and x and the sample (co)variances s2_y, s2_x, s_xy."""
        n = self.points[self.sampled]
        sums = [np.bincount(self.index, weights=w, minlength=self.pixels.size)[self.sampled]
                for w in (y, x, y * y, x * x, x * y)]
        my, mx = sums[0] / n, sums[1] / n
        df = np.maximum(n - 1, 1)
        return my, mx, (sums[2] - n * my * my) / df, (sums[3] - n * mx * mx) / df, (sums[4] - n * mx * my) / df

    def share(self, y: np.ndarray) -> Estimate:
        """Share of the population with ``y = 1``: ``sum W_h ybar_h`` and its SE."""
        my, _, s2y, _, _ = self._moments(y, y)
        w = self.pixels[self.sampled] / self.pixels.sum()
        return Estimate(float(np.sum(w * my)), float(np.sqrt(np.sum(w**2 * s2y / self.points[self.sampled]))))

    def ratio(self, y: np.ndarray, x: np.ndarray) -> Estimate:
        """``Y / X`` of the totals of ``y`` and ``x`` and its SE; None when ``X = 0``."""
        my, mx, s2y, s2x, sxy = self._moments(y, x)
        N, n = self.pixels[self.sampled], self.points[self.sampled]
        total_x = np.sum(N * mx)
        if total_x == 0:
            return Estimate(None, None)
        r = np.sum(N * my) / total_x
        variance = np.sum(N**2 * (s2y + r**2 * s2x - 2 * r * sxy) / n) / total_x**2
        return Estimate(float(r), float(np.sqrt(max(variance, 0.0))))


def _estimate(mapped: np.ndarray, reference: np.ndarray, stratum: np.ndarray, pixels: np.ndarray, k: int) -> dict:
    """Counts, area proportions, overall/user's/producer's accuracy and area shares."""
    strata = _Strata(stratum, pixels)
    counts = np.bincount(mapped * k + reference, minlength=k * k).reshape(k, k)
    proportions = np.array([[strata.share(((mapped == i) & (reference == j)).astype(float)).value
                             for j in range(k)] for i in range(k)])
    hit = [((mapped == c) & (reference == c)).astype(float) for c in range(k)]
    return {
        "counts": counts,
        "proportions": proportions,
        "overall_accuracy": strata.share((mapped == reference).astype(float)),
        "users_accuracy": [strata.ratio(hit[c], (mapped == c).astype(float)) for c in range(k)],
        "producers_accuracy": [strata.ratio(hit[c], (reference == c).astype(float)) for c in range(k)],
        "area_share": [strata.share((reference == c).astype(float)) for c in range(k)],
    }


def _map_share(map_info: _MapInfo, strata_column, classes, stratum_pixels, proportions) -> np.ndarray:
    """Share of the map in each class: counted on the map, the strata when they are the map classes, else estimated
    (row totals of the error matrix of area proportions)."""
    if map_info.pixels is not None:
        pixels = np.array([map_info.pixels.get(k, 0) for k in classes], dtype=np.float64)
        return pixels / pixels.sum()
    if strata_column is None:
        return stratum_pixels / stratum_pixels.sum()
    return proportions.sum(axis=1)


def write_assessment(result: Assessment, out_dir: str | os.PathLike, dpi: int = 150) -> dict[str, Path]:
    """Write ``assessment.json``, ``assessment.csv`` (one row per class) and ``assessment.png``.

    The figure has one panel per class: the mapped area beside the estimated area with its
    confidence interval. Every file is written under a temporary name and renamed.

    Returns:
        ``{"json": path, "csv": path, "figure": path}``.
    """
    out = Path(out_dir)
    report = result.to_dict()
    files = {"json": atomic_write_text(out / "assessment.json", json.dumps(report, indent=2, default=_json_value)),
             "csv": atomic_write_text(out / "assessment.csv", _csv_table(report))}
    figure = assessment_figure(result)
    with atomic_path(out / "assessment.png") as tmp:
        figure.savefig(tmp, dpi=dpi, format="png")
    files["figure"] = out / "assessment.png"
    return files


def _json_value(value):
    """numpy scalars in the report as Python numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _csv_table(report: dict) -> str:
    """One row per class: counts, map area, estimated area (every unit), user's and producer's accuracy."""
    rows = []
    for entry in report["classes"]:
        row = {"class": entry["value"], "name": entry["name"], "sample_mapped": entry["sample_mapped"],
               "sample_reference": entry["sample_reference"]}
        row.update({f"map_{unit}": value for unit, value in entry["map_area"].items()})
        for unit, estimate in entry["area"].items():
            row.update({f"area_{unit}" + ("" if key == "estimate" else f"_{key}"): v for key, v in estimate.items()})
        for name in ("users_accuracy", "producers_accuracy"):
            row.update({name + ("" if key == "estimate" else f"_{key}"): v for key, v in entry[name].items()})
        rows.append(row)
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue()


def assessment_figure(result: Assessment, columns: int = 4):
    """Mapped area beside estimated area and its confidence interval, one panel per class."""
    from matplotlib.figure import Figure  # no pyplot: the caller's backend (a notebook's) is left alone

    unit = result.area_unit or "pixels"
    k = len(result.classes)
    cols = min(columns, k)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(2.6 * cols + 0.6, 2.8 * rows + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    scale = result.unit_per_pixel or 1.0
    for i, ax in enumerate(axes):
        if i >= k:
            ax.set_axis_off()
            continue
        area = result.area(i, unit)
        mapped = result.map_share[i] * result.total_pixels * scale
        ax.bar([0], [mapped], color="0.6", width=0.6)
        ax.bar([1], [area.value], color="tab:blue", width=0.6, yerr=[result.z * area.se], capsize=6)
        ax.set_xticks([0, 1], labels=["map", "estimated"])
        ax.set_title(result.class_names[i], fontsize=10)
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
    oa = result.overall_accuracy
    fig.suptitle(f"class areas, map vs estimated ({100 * result.confidence:g} % CI); overall accuracy "
                 f"{oa.value:.3f} ± {result.z * oa.se:.3f} (n = {result.n_used})", fontsize=10)
    return fig

