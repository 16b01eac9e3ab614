"""Probability samples of a class map, for accuracy assessment and area estimation (no TensorFlow).

Population and sample unit
    The population is every pixel of the class map (band 1, integer classes) that is not
    nodata; with a separate strata raster (same grid), every pixel that is in both. A sample
    unit is one pixel; its point is the pixel's centre.

Designs (``method=``)
    ``stratified``: the strata are the map classes, or the values of ``strata=``. Stratum ``h``
    holds ``N_h`` pixels; ``n_h`` of them are drawn at random without replacement, so every
    pixel of the stratum has the inclusion probability ``n_h / N_h``.
    ``random``: ``n`` pixels drawn at random without replacement from all ``N``; ``n / N``.
    ``systematic``: the pixels on a square grid of spacing ``d = round(sqrt(N / n))`` pixels
    (at least 1) from a random start in ``[0, d)`` along both axes; grid points on nodata are
    skipped, so about ``N / d**2`` points result; inclusion probability ``1 / d**2``.
    Random and systematic samples form one stratum, ``0``.

Sample size: ``n=``, or ``target_se=`` (Cochran 1977, eq. 5.25; Olofsson et al. 2014, eq. 13)
    ``target="overall"``: the standard error wanted for overall accuracy. With ``W_h = N_h / N``
    and ``U_h`` the expected user's accuracy of stratum ``h`` (``expected_accuracy=``, one
    value or one per stratum), ``S_h = sqrt(U_h (1 - U_h))`` and the stratified total is
    ``n = ceil((sum_h W_h S_h / target_se)**2)`` (the paper's example: W = 0.02, 0.015, 0.32,
    0.645, U = 0.70, 0.60, 0.90, 0.95 and SE 0.01 give n = 641).
    ``target=<class value>``: the standard error wanted for that class's area share. Then
    ``S_h = sqrt(p_h (1 - p_h))`` with ``p_h`` the expected share of the class among the
    pixels of stratum ``h``: ``U_k`` in its own stratum, ``(1 - U_h) / (K - 1)`` in the others
    (their errors spread evenly over the other ``K - 1`` classes); strata must be map classes.
    Random and systematic samples: ``n = ceil(p (1 - p) / target_se**2)`` with
    ``p = sum_h W_h p_h`` over the map classes. No finite-population correction; a total
    larger than ``N`` is an error.

Allocation over strata (``allocation=``)
    ``proportional``: ``n_h`` proportional to ``N_h``. ``equal``: ``n / H`` each.
    ``min_proportional`` (the default when ``min_per_class=`` is given): every stratum gets at
    least ``min_per_class`` points, the rest go to the other strata in proportion to ``N_h``
    (the allocation Olofsson et al. 2014 recommend: rare classes get enough points for their
    user's accuracy, large classes keep the precision of the areas). When the minimums add
    up to more than ``n``, ``n`` is raised to their sum (with a warning). A stratum never gets
    more points than pixels; shares are rounded by largest remainders to add up to ``n``.

Drawing, memory bounded
    Pass 1 counts the pixels of every stratum, strip by strip (``rskeras.evaluation.class_maps``).
    Then, for each stratum, ``n_h`` ranks are drawn among ``0 .. N_h - 1`` with
    ``numpy.random.default_rng(seed)``. Pass 2 walks the same strips, counts each stratum's
    pixels again in row-major order and keeps the pixels whose rank was drawn. Ranks follow the
    raster's row-major order, so one seed gives the same sample whatever ``max_window_bytes``.

Output
    :class:`ReferenceSample`: the points (map CRS) with their attributes and the
    :class:`SampleDesign`. With ``dst``, a GeoPackage (point geometry in the map CRS) and a CSV
    (``lon``/``lat`` columns in EPSG:4326) of the same stem, each written atomically, with the
    columns ``point_id``, ``lon``, ``lat``, ``map_x``, ``map_y`` (the point in the map CRS),
    ``row``, ``col`` (the pixel), ``map_value``, ``map_class`` (name from the map's
    ``CLASS_NAMES`` tag, else the value), ``stratum``, ``inclusion_probability`` and an empty
    ``reference`` column for the labels. Both files read back with :func:`rskeras.data.read_points`.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rasterio.io import DatasetReaderBase
from rasterio.transform import xy

from rskeras.data.points import WGS84, Points
from rskeras.data.rasters import RasterLike, open_raster
from rskeras.evaluation.class_maps import (
    DEFAULT_WINDOW_BYTES,
    check_class_map,
    class_names,
    read_classes,
    strip_windows,
)

METHODS = ("stratified", "random", "systematic")
ALLOCATIONS = ("proportional", "equal", "min_proportional")
STRIP_BYTES_PER_PIXEL = 40  # map and strata values (int64), masks, positions and keys held per pixel of a strip


@dataclass
class SampleDesign:
    """How a sample was drawn.

    Attributes:
        method: ``"stratified"``, ``"random"`` or ``"systematic"``.
        strata: stratum values (map classes or strata-raster values; ``[0]`` for random/systematic).
        stratum_pixels: ``N_h``, pixels of each stratum.
        stratum_points: ``n_h``, points drawn in each stratum.
        n: points drawn in all.
        allocation: allocation over strata (stratified samples), else None.
        min_per_class: the minimum of ``min_proportional``, else None.
        target_se: the standard error the size was computed for, else None (``n`` was given).
        target: ``"overall"`` or the class value whose area share ``target_se`` is for.
        expected_accuracy: the expected user's accuracies used with ``target_se``.
        spacing: grid spacing in pixels (systematic samples), else None.
        seed: the random seed.
        class_map: path of the class map.
        strata_raster: path of the strata raster, None when the strata are the map classes.
        crs: the map's CRS (WKT).
        class_names: ``{map value: name}`` from the map's ``CLASS_NAMES`` tag.
        notes: what was adjusted on the way (minimums raising ``n``, strata taken whole).
    """

    method: str
    strata: list[int]
    stratum_pixels: list[int]
    stratum_points: list[int]
    n: int
    allocation: str | None
    min_per_class: int | None
    target_se: float | None
    target: str | int
    expected_accuracy: float | dict
    spacing: int | None
    seed: int | None
    class_map: str
    strata_raster: str | None
    crs: str
    class_names: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def inclusion_probability(self, stratum: int) -> float:
        """``n_h / N_h`` of ``stratum`` (``1 / spacing**2`` for systematic samples)."""
        if self.spacing is not None:
            return 1.0 / self.spacing**2
        h = self.strata.index(stratum)
        return self.stratum_points[h] / self.stratum_pixels[h]

    def to_dict(self) -> dict:
        """JSON-ready copy of the design."""
        return asdict(self)


@dataclass
class ReferenceSample:
    """Sample points to label, with their design.

    Attributes:
        points: the points in the map's CRS, attributes as in the files (see the module).
        design: the :class:`SampleDesign`.
        files: the GeoPackage and CSV written, empty without ``dst``.
    """

    points: Points
    design: SampleDesign
    files: list[Path] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.points)


def design_sample(
    class_map: RasterLike,
    dst: str | os.PathLike | None = None,
    *,
    method: str = "stratified",
    n: int | None = None,
    target_se: float | None = None,
    target: str | int = "overall",
    expected_accuracy: float | Mapping[int | str, float] = 0.9,
    allocation: str | None = None,
    min_per_class: int | None = None,
    strata: RasterLike | None = None,
    nodata: float | None = None,
    seed: int | None = 0,
    max_window_bytes: int = DEFAULT_WINDOW_BYTES,
) -> ReferenceSample:
    """Draw a probability sample of ``class_map``'s pixels (see the module for the design).

    Args:
        class_map: path or open dataset of the class map (band 1, integer classes).
        dst: GeoPackage (``.gpkg``) or CSV (``.csv``) path; both files are written, same stem.
        method: ``"stratified"``, ``"random"`` or ``"systematic"``.
        n: total sample size; or ``target_se``.
        target_se: standard error wanted for overall accuracy (``target="overall"``) or for the
            area share of the class ``target``; sizes the sample with the expected accuracies.
        target: ``"overall"`` or a class value (or name).
        expected_accuracy: expected user's accuracy, one value or ``{stratum value or name: U}``.
        allocation: ``"proportional"``, ``"equal"`` or ``"min_proportional"`` (stratified only;
            default ``min_proportional`` with ``min_per_class``, else ``proportional``).
        min_per_class: minimum points per stratum of ``min_proportional``.
        strata: a strata raster on the map's grid, when the strata are not the map classes.
        nodata: class value outside the map, on top of the file's nodata.
        seed: random seed (None: fresh entropy, not reproducible).
        max_window_bytes: upper bound on the pixel bytes held at once (at least one row).

    Raises:
        ValueError naming the option at fault (conflicting or missing options, a target that
        needs more points than the map has pixels, a target class the map lacks) or the file
        (no CRS, not integer, different grids).
    """
    allocation = _check_options(method, n, target_se, target, allocation, min_per_class, strata)
    if dst is not None and Path(dst).suffix.lower() not in (".gpkg", ".csv"):
        raise ValueError(f"sample output {dst} must end in .gpkg or .csv (both are written)")
    with open_raster(class_map) as ds, _open_optional(strata) as sds:
        _check_rasters(ds, sds)
        names = class_names(ds)
        counts = _count_pixels(ds, sds, nodata, max_window_bytes)
        keys = np.array(list(counts), dtype=np.int64)
        pixels = np.array(list(counts.values()), dtype=np.int64)
        notes: list[str] = []
        total = n if n is not None else _size_for_target(method, target_se, target, expected_accuracy, keys, pixels,
                                                          names, ds.name)
        if total > pixels.sum():
            raise ValueError(
                f"{'n' if n is not None else 'target_se'}={n if n is not None else target_se} needs {total} sample "
                f"points, more than the {pixels.sum()} pixels in class map {ds.name}"
            )
        drawn = _draw(ds, sds, nodata, method, allocation, min_per_class, keys, pixels, total, seed, notes,
                      max_window_bytes)
        design = SampleDesign(
            method=method, strata=drawn.strata, stratum_pixels=drawn.stratum_pixels,
            stratum_points=drawn.stratum_points, n=int(drawn.rows.size),
            allocation=allocation, min_per_class=min_per_class if allocation == "min_proportional" else None,
            target_se=target_se, target=target,
            expected_accuracy=dict(expected_accuracy) if isinstance(expected_accuracy, Mapping) else expected_accuracy,
            spacing=drawn.spacing, seed=seed, class_map=ds.name, strata_raster=None if sds is None else sds.name,
            crs=ds.crs.to_wkt(), class_names=names, notes=notes,
        )
        points = _sample_points(ds, design, drawn)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    files = _write(points, Path(dst)) if dst is not None else []
    return ReferenceSample(points, design, files)


def sample_size(weights: np.ndarray, expected: np.ndarray, target_se: float, stratified: bool = True) -> int:
    """Sample size for a standard error ``target_se`` of a proportion (Cochran 1977, eq. 5.25).

    Args:
        weights: ``(H,)`` stratum weights ``W_h = N_h / N``.
        expected: ``(H,)`` expected share ``p_h`` of the property in each stratum (for overall
            accuracy: the expected user's accuracy ``U_h``).
        target_se: the standard error wanted.
        stratified: stratified sample (``(sum W_h S_h / SE)**2``) or simple random
            (``p (1 - p) / SE**2`` with ``p = sum W_h p_h``).
    """
    weights, expected = np.asarray(weights, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if stratified:
        size = (np.sum(weights * np.sqrt(expected * (1 - expected))) / target_se) ** 2
    else:
        p = np.sum(weights * expected)
        size = p * (1 - p) / target_se**2
    return max(1, math.ceil(size - 1e-9))  # 1e-9: an exact integer stays itself despite rounding


def allocate(
    pixels: np.ndarray, n: int, allocation: str = "proportional", min_per_class: int | None = None
) -> np.ndarray:
    """Points per stratum, ``(H,)`` int64 adding up to ``n`` (see the module's allocation).

    When the minimums of ``min_proportional`` add up to more than ``n``, the result adds up to
    their sum. No stratum gets more points than it has pixels.
    """
    cap = np.asarray(pixels, dtype=np.float64)
    weights = np.ones_like(cap) if allocation == "equal" else cap
    floor = np.minimum(min_per_class or 0, cap) if allocation == "min_proportional" else np.zeros_like(cap)
    n = max(int(n), int(floor.sum()))
    share = _water_fill(n, weights, floor, cap)
    return _round_to_total(share, n, cap)


def _water_fill(n: int, weights: np.ndarray, floor: np.ndarray, cap: np.ndarray) -> np.ndarray:
    """Shares proportional to ``weights``, each within ``[floor, cap]``, adding up to ``n``."""
    share = np.zeros_like(weights)
    fixed = np.zeros(weights.size, dtype=bool)
    while not fixed.all():
        free = ~fixed
        share[free] = (n - share[fixed].sum()) * weights[free] / weights[free].sum()
        low, high = free & (share < floor), free & (share > cap)
        if not (low.any() or high.any()):
            break
        share[low], share[high] = floor[low], cap[high]
        fixed |= low | high
    return share


def _round_to_total(share: np.ndarray, n: int, cap: np.ndarray) -> np.ndarray:
    """Integers from ``share`` adding up to ``n``: round down, then +1 for the largest remainders."""
    counts = np.floor(share + 1e-9).astype(np.int64)
    room = counts < cap
    order = np.argsort(-(share - counts) * room, kind="stable")
    counts[order[: n - counts.sum()]] += 1
    return counts


@dataclass
class _Drawn:
    """The drawn pixels (row-major order) and the strata they were drawn from."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    stratum: np.ndarray
    strata: list[int]
    stratum_pixels: list[int]
    stratum_points: list[int]
    spacing: int | None = None


def _draw(ds, sds, nodata, method, allocation, min_per_class, keys, pixels, total, seed, notes, max_bytes) -> _Drawn:
    """Allocate ``total`` points over the strata and draw them (systematic: lay the grid)."""
    rng = np.random.default_rng(seed)
    if method == "systematic":
        spacing = max(1, round(math.sqrt(pixels.sum() / total)))
        rows, cols, values, stratum = _draw_grid(ds, sds, nodata, spacing, rng, max_bytes)
        return _Drawn(rows, cols, values, stratum, [0], [int(pixels.sum())], [int(rows.size)], spacing)
    if method == "random":
        keys, pixels = np.zeros(1, np.int64), np.array([pixels.sum()])
    points = _allocation(method, allocation, min_per_class, pixels, total, keys, notes)
    ranks = {int(k): np.sort(rng.choice(N, size=m, replace=False)) for k, N, m in zip(keys, pixels, points)}
    rows, cols, values, stratum = _draw_ranks(ds, sds, nodata, ranks, method == "stratified", max_bytes)
    return _Drawn(rows, cols, values, stratum, keys.tolist(), pixels.tolist(), points.tolist())


def _check_options(method, n, target_se, target, allocation, min_per_class, strata) -> str | None:
    """The allocation to use; ValueError naming a conflicting or missing option."""
    if method not in METHODS:
        raise ValueError(f"method={method!r} is not a sample design; choose one of {', '.join(METHODS)}")
    if (n is None) == (target_se is None):
        raise ValueError("give the sample size as n= (points) or as target_se= (a standard error), not both or neither")
    if n is not None and (int(n) != n or n < 1):
        raise ValueError(f"n={n!r} must be a whole number of points, at least 1")
    if target_se is not None and not 0 < target_se < 0.5:
        raise ValueError(f"target_se={target_se!r} must be a standard error of a proportion, between 0 and 0.5")
    if method != "stratified":
        given = [name for name, value in (("allocation", allocation), ("min_per_class", min_per_class),
                                          ("strata", strata)) if value is not None]
        if given:
            raise ValueError(f"{', '.join(given)} applies to stratified samples, not method={method!r}")
        return None
    if target != "overall" and strata is not None:
        raise ValueError(f"target={target!r} (a class's area) needs the map classes as strata; drop strata= "
                         "or use target='overall'")
    allocation = allocation or ("min_proportional" if min_per_class is not None else "proportional")
    if allocation not in ALLOCATIONS:
        raise ValueError(f"allocation={allocation!r} is not known; choose one of {', '.join(ALLOCATIONS)}")
    if (allocation == "min_proportional") != (min_per_class is not None):
        raise ValueError("min_per_class= and allocation='min_proportional' go together "
                         f"(got allocation={allocation!r}, min_per_class={min_per_class!r})")
    if min_per_class is not None and (int(min_per_class) != min_per_class or min_per_class < 1):
        raise ValueError(f"min_per_class={min_per_class!r} must be a whole number of points, at least 1")
    return allocation


@contextlib.contextmanager
def _open_optional(raster: RasterLike | None) -> Iterator[DatasetReaderBase | None]:
    if raster is None:
        yield None
        return
    with open_raster(raster) as ds:
        yield ds


def _check_rasters(ds: DatasetReaderBase, sds: DatasetReaderBase | None) -> None:
    check_class_map(ds)
    if ds.crs is None:
        raise ValueError(f"class map {ds.name} has no CRS, so sample points cannot be given coordinates")
    if sds is None:
        return
    check_class_map(sds, "strata raster")
    if (sds.width, sds.height) != (ds.width, ds.height) or sds.transform != ds.transform or sds.crs != ds.crs:
        raise ValueError(
            f"strata raster {sds.name} ({sds.width}x{sds.height} px, {sds.crs}, origin {sds.transform.c:g}, "
            f"{sds.transform.f:g}) is not on the grid of class map {ds.name} ({ds.width}x{ds.height} px, {ds.crs}, "
            f"origin {ds.transform.c:g}, {ds.transform.f:g}); resample it to the map's grid"
        )


def _read_keys(ds, sds, window, nodata) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Map values, stratum keys (strata raster or map values) and the mask of population pixels."""
    values, valid = read_classes(ds, window, nodata)
    if sds is None:
        return values, values, valid
    keys, in_strata = read_classes(sds, window)
    return values, keys, valid & in_strata


def _count_pixels(ds, sds, nodata, max_bytes) -> dict[int, int]:
    """Pass 1: ``{stratum key: pixels}`` (map classes without a strata raster)."""
    counts: dict[int, int] = {}
    for window in strip_windows(ds, STRIP_BYTES_PER_PIXEL, max_bytes):
        _, keys, valid = _read_keys(ds, sds, window, nodata)
        for key, count in zip(*np.unique(keys[valid], return_counts=True)):
            counts[int(key)] = counts.get(int(key), 0) + int(count)
    if not counts:
        where = f"class map {ds.name}" + ("" if sds is None else f" and strata raster {sds.name}")
        raise ValueError(f"{where} have no pixel in the map (every pixel is nodata)")
    return dict(sorted(counts.items()))


def _per_stratum(expected, keys: np.ndarray, names: dict[int, str]) -> np.ndarray:
    """Expected user's accuracy per stratum key from one value or a mapping by value or name."""
    if not isinstance(expected, Mapping):
        values = np.full(keys.size, float(expected))
    else:
        by_key = {str(k).lower(): float(v) for k, v in expected.items()}
        lookup = [by_key.get(str(k), by_key.get(names.get(int(k), "").lower())) for k in keys]
        missing = [str(k) for k, v in zip(keys, lookup) if v is None]
        if missing:
            raise ValueError(f"expected_accuracy has no value for strata {', '.join(missing)}; "
                             f"give one for each of {', '.join(map(str, keys))}")
        values = np.array(lookup)
    if np.any((values < 0) | (values > 1)):
        raise ValueError(f"expected_accuracy must lie in 0..1, got {expected!r}")
    return values


def _size_for_target(method, target_se, target, expected, keys, pixels, names, source) -> int:
    """Total sample size for ``target_se`` of overall accuracy or of the area share of ``target``."""
    accuracy = _per_stratum(expected, keys, names)
    share = accuracy
    if target != "overall":
        wanted = [k for k in keys if str(target).lower() in (str(k), names.get(int(k), "").lower())]
        if not wanted:
            raise ValueError(f"target={target!r} is not a class of {source}; classes: "
                             + ", ".join(f"{k}={names.get(int(k), k)}" for k in keys))
        others = (1 - accuracy) / max(1, keys.size - 1)
        share = np.where(keys == wanted[0], accuracy, others)
    return sample_size(pixels / pixels.sum(), share, target_se, stratified=method == "stratified")


def _allocation(method, allocation, min_per_class, pixels, total, keys, notes) -> np.ndarray:
    """Points per stratum; notes what was adjusted (minimums raising n, strata taken whole)."""
    if method == "random":
        return np.array([total])
    points = allocate(pixels, total, allocation, min_per_class)
    if points.sum() > total:
        notes.append(f"min_per_class={min_per_class} over {keys.size} strata needs {points.sum()} points; "
                     f"the sample has {points.sum()} instead of n={total}")
    for key, N, m in zip(keys, pixels, points):
        if m < 2:
            notes.append(f"stratum {key} gets {m} point(s) of its {N} pixel(s); the variance of its estimates "
                         "needs 2: raise n or use min_per_class=")
        elif m == N:
            notes.append(f"stratum {key} has {N} pixels, all of them sampled")
    return points


def _draw_ranks(ds, sds, nodata, ranks: dict[int, np.ndarray], by_stratum: bool, max_bytes):
    """Pass 2: rows, cols, map values and strata of the pixels whose rank within their stratum was drawn."""
    seen = dict.fromkeys(ranks, 0)
    found = []
    for window in strip_windows(ds, STRIP_BYTES_PER_PIXEL, max_bytes):
        values, keys, valid = _read_keys(ds, sds, window, nodata)
        positions = np.flatnonzero(valid)
        groups = keys.ravel()[positions] if by_stratum else np.zeros(positions.size, np.int64)
        for key, count in zip(*np.unique(groups, return_counts=True)):
            drawn = ranks[int(key)]
            lo, hi = np.searchsorted(drawn, [seen[int(key)], seen[int(key)] + count])
            if hi > lo:
                picks = positions[groups == key][drawn[lo:hi] - seen[int(key)]]
                found.append(_pixels(window, values, picks, key))
            seen[int(key)] += int(count)
    return _stack(found)


def _draw_grid(ds, sds, nodata, spacing: int, rng: np.random.Generator, max_bytes):
    """Rows, cols, map values and stratum 0 of the grid pixels in the population."""
    row0, col0 = (int(v) for v in rng.integers(0, spacing, size=2))
    found = []
    for window in strip_windows(ds, STRIP_BYTES_PER_PIXEL, max_bytes):
        values, _, valid = _read_keys(ds, sds, window, nodata)
        first = row0 + -(-(window.row_off - row0) // spacing) * spacing  # first grid row in the strip
        grid = np.zeros(valid.shape, dtype=bool)
        grid[first - window.row_off::spacing, col0::spacing] = True
        found.append(_pixels(window, values, np.flatnonzero(grid & valid), 0))
    return _stack(found)


def _pixels(window, values: np.ndarray, picks: np.ndarray, key: int) -> tuple[np.ndarray, ...]:
    width = values.shape[1]
    return (window.row_off + picks // width, window.col_off + picks % width, values.ravel()[picks],
            np.full(picks.size, key, dtype=np.int64))


def _stack(found: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """Rows, cols, values, strata of all strips, in row-major order."""
    if not found:
        return tuple(np.zeros(0, np.int64) for _ in range(4))
    rows, cols, values, strata = (np.concatenate(parts).astype(np.int64) for parts in zip(*found))
    order = np.lexsort((cols, rows))
    return rows[order], cols[order], values[order], strata[order]


def _sample_points(ds, design: SampleDesign, drawn: _Drawn) -> Points:
    """The drawn pixels' centres in the map CRS, with the columns of the module's output."""
    rows, cols, values, strata = drawn.rows, drawn.cols, drawn.values, drawn.stratum
    x, y = (np.asarray(v, dtype=np.float64).reshape(-1) for v in xy(ds.transform, rows, cols, offset="center"))
    local = Points(x, y, ds.crs, source=ds.name)
    lonlat = local.to_crs(WGS84)
    attributes = {
        "point_id": np.arange(1, rows.size + 1),
        "lon": np.round(lonlat.x, 7),
        "lat": np.round(lonlat.y, 7),
        "map_x": x,
        "map_y": y,
        "row": rows,
        "col": cols,
        "map_value": values,
        "map_class": np.array([design.class_names.get(int(v), str(v)) for v in values], dtype=str),
        "stratum": strata,
        "inclusion_probability": np.array([design.inclusion_probability(int(s)) for s in strata]),
        "reference": np.full(rows.size, "", dtype=str),
    }
    return Points(x, y, ds.crs, attributes, source=ds.name)


def _write(points: Points, dst: Path) -> list[Path]:
    """The GeoPackage (map CRS) and the CSV (lon/lat) of ``dst``'s stem; each atomically."""
    csv_attributes = {k: v for k, v in points.attributes.items() if k not in ("lon", "lat")}
    lonlat = Points(points.attributes["lon"], points.attributes["lat"], WGS84, csv_attributes, points.source)
    return [points.write(dst.with_suffix(".gpkg")), lonlat.write(dst.with_suffix(".csv"))]
