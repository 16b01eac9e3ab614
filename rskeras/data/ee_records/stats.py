"""Per-band normalisation statistics, computed from patches and saved as JSON beside the data.

``band_stats.json`` holds ``{"bands": [...], "mean": [...], "std": [...], "count": [...], "nodata": v,
"ranges": {"low": [...], "high": [...], "min": [...], "max": [...]}}`` (count: valid pixels per band;
ranges: the training values' range per band, :class:`rskeras.layers.input_contract.BandRanges`; files
written before rskeras recorded ranges load without them). :func:`rskeras.data.ee_patch_dataset` can
normalise with it (``normalize="auto"`` finds it beside the files), or :meth:`BandStats.to_layer` puts the
same statistics in the model as a :class:`rskeras.layers.BandNormalization` layer.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import tensorflow as tf

from rskeras.data.ee_records._io import expand_files, named_read_errors, read_json_object
from rskeras.io import atomic_write_text, check_output
from rskeras.layers.input_contract import RANGE_PERCENTILES, BandRanges

STATS_FILENAME = "band_stats.json"
#: Values per band kept (uniformly at random) to estimate the percentiles of :class:`BandRanges`.
RANGE_SAMPLE_SIZE = 100_000


@dataclass(frozen=True)
class BandStats:
    """Mean and standard deviation per band (in the data's units), keyed by band name, and the value ranges.

    Attributes:
        bands: the band names; ``()`` for statistics of unnamed bands (:func:`rskeras.layers.band_statistics`
            without ``band_names``), which apply to a model's bands in order and cannot be selected by name.
        mean, std: one value per band, raw units.
        count: valid values per band.
        nodata: the value that was left out, if any.
        ranges: the range of the values per band, None for statistics saved before rskeras recorded it.
    """

    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    count: tuple[int, ...] = ()
    nodata: float | None = None
    ranges: BandRanges | None = None

    def select(self, bands: Sequence[str]) -> "BandStats":
        """The statistics of ``bands``, in that order."""
        missing = [b for b in bands if b not in self.bands]
        if missing:
            held = list(self.bands) if self.bands else "no band names (computed without band_names=)"
            raise KeyError(f"band statistics hold no {missing}; they cover {held}")
        idx = [self.bands.index(b) for b in bands]
        count = tuple(self.count[i] for i in idx) if self.count else ()
        ranges = self.ranges.select(idx) if self.ranges is not None else None
        return BandStats(tuple(bands), tuple(self.mean[i] for i in idx), tuple(self.std[i] for i in idx), count,
                         self.nodata, ranges)

    def to_layer(self, bands: Sequence[str] | None = None, **kwargs):
        """A :class:`rskeras.layers.BandNormalization` with these statistics (optionally of ``bands``)."""
        from rskeras.layers.normalization import BandNormalization

        s = self.select(bands) if bands is not None else self
        return BandNormalization(mean=list(s.mean), std=list(s.std), band_names=list(s.bands) or None,
                                 value_ranges=s.ranges, **kwargs)


@dataclass
class RunningBandStats:
    """Accumulates per-band count, mean and sum of squared deviations (Chan et al.'s merge), float64, and the
    value ranges: exact min and max, percentiles from a uniform sample of :data:`RANGE_SAMPLE_SIZE` values per
    band (reservoir sampling, seeded: the same data give the same statistics; exact up to that many values)."""

    bands: Sequence[str]
    nodata: float | None = None
    _n: np.ndarray = field(init=False)
    _mean: np.ndarray = field(init=False)
    _m2: np.ndarray = field(init=False)
    _min: np.ndarray = field(init=False)
    _max: np.ndarray = field(init=False)
    _samples: list[np.ndarray] = field(init=False)
    _rng: np.random.Generator = field(init=False)

    def __post_init__(self):
        c = len(self.bands)
        self._n, self._mean, self._m2 = np.zeros(c), np.zeros(c), np.zeros(c)
        self._min, self._max = np.full(c, np.inf), np.full(c, -np.inf)
        self._samples = [np.empty(0) for _ in range(c)]
        self._rng = np.random.default_rng(0)

    def update(self, values: np.ndarray) -> None:
        """Add ``(..., bands)`` values; NaN and ``nodata`` are left out."""
        x = np.asarray(values, dtype=np.float64).reshape(-1, len(self.bands))
        valid = ~np.isnan(x)
        if self.nodata is not None:
            valid &= x != self.nodata
        n = valid.sum(axis=0).astype(np.float64)
        for band in range(len(self.bands)):
            self._keep_range(band, x[valid[:, band], band])
        xs = np.where(valid, x, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, xs.sum(axis=0) / np.maximum(n, 1), 0.0)
        m2 = (np.where(valid, x - mean, 0.0) ** 2).sum(axis=0)
        self._add_moments(n, mean, m2)

    def merge(self, other: "RunningBandStats") -> "RunningBandStats":
        """Add the values ``other`` has seen (statistics computed in parts, e.g. by a Beam combiner); returns self.

        Count, mean, standard deviation, min and max are those of all the values together; each band's
        sample for the percentiles stays a uniform sample of them (the share drawn from each part is
        hypergeometric, then a uniform subset of that part's sample).
        """
        if list(other.bands) != list(self.bands):
            raise ValueError(f"cannot merge statistics of bands {list(other.bands)} into {list(self.bands)}")
        for band in range(len(self.bands)):
            self._samples[band] = self._merge_samples(band, other._samples[band], other._n[band])
        self._min, self._max = np.minimum(self._min, other._min), np.maximum(self._max, other._max)
        self._add_moments(other._n, other._mean, other._m2)
        return self

    def _merge_samples(self, band: int, sample: np.ndarray, n_other: float) -> np.ndarray:
        """A uniform sample of at most :data:`RANGE_SAMPLE_SIZE` of this band's values and another part's."""
        mine = self._samples[band]
        if mine.size + sample.size <= RANGE_SAMPLE_SIZE:
            return np.concatenate([mine, sample])
        take = int(self._rng.hypergeometric(int(self._n[band]), int(n_other), RANGE_SAMPLE_SIZE))
        take = min(max(take, RANGE_SAMPLE_SIZE - sample.size), mine.size)
        return np.concatenate([self._rng.choice(mine, take, replace=False),
                               self._rng.choice(sample, RANGE_SAMPLE_SIZE - take, replace=False)])

    def _add_moments(self, n: np.ndarray, mean: np.ndarray, m2: np.ndarray) -> None:
        """Chan et al.'s merge of the count, mean and sum of squared deviations of more values per band."""
        total = self._n + n
        delta = mean - self._mean
        safe = np.maximum(total, 1)
        self._mean = self._mean + delta * n / safe
        self._m2 = self._m2 + m2 + delta**2 * self._n * n / safe
        self._n = total

    def _keep_range(self, band: int, values: np.ndarray) -> None:
        """Update the band's min, max and sample with its new valid ``values`` (before ``_n`` counts them).

        Algorithm R over a batch: the sample fills up first; then the value at position ``p`` in the
        band's stream replaces a random sample entry with probability ``RANGE_SAMPLE_SIZE / p``.
        """
        if not values.size:
            return
        self._min[band] = min(self._min[band], values.min())
        self._max[band] = max(self._max[band], values.max())
        room = max(RANGE_SAMPLE_SIZE - self._samples[band].size, 0)
        sample = np.concatenate([self._samples[band], values[:room]]) if room else self._samples[band]
        rest = values[room:]
        position = self._n[band] + room + np.arange(1, rest.size + 1)
        take = self._rng.random(rest.size) * position < RANGE_SAMPLE_SIZE
        sample[self._rng.integers(0, RANGE_SAMPLE_SIZE, int(take.sum()))] = rest[take]
        self._samples[band] = sample

    def result(self) -> BandStats:
        """The statistics so far; a band without valid values is an error, a constant band gets std 1."""
        empty = [b for b, n in zip(self.bands, self._n) if n == 0]
        if empty:
            raise ValueError(f"band(s) {empty} hold no valid value to compute statistics from")
        std = np.sqrt(self._m2 / self._n)
        std = np.where(std > 0, std, 1.0)
        low, high = np.array([np.percentile(s, RANGE_PERCENTILES) for s in self._samples]).T
        ranges = BandRanges(*(tuple(map(float, v)) for v in (low, high, self._min, self._max)))
        return BandStats(tuple(self.bands), tuple(map(float, self._mean)), tuple(map(float, std)),
                         tuple(int(v) for v in self._n), self.nodata, ranges)


def compute_band_stats(
    files,
    bands: Sequence[str],
    patch_size: int | Sequence[int] | None = None,
    nodata: float | None = None,
    max_patches: int | None = None,
    compression: str | None = "auto",
) -> BandStats:
    """Statistics of ``bands`` over the patches in TFRecord ``files`` (Earth Engine layout).

    Args:
        files: file pattern(s) or list, as for :func:`ee_patch_dataset`.
        bands: bands to summarise.
        patch_size: stored patch ``(height, width)``; inferred from the first record when None.
        nodata: a value to leave out (NaN always is).
        max_patches: read at most this many patches (None: all).
    """
    from rskeras.data.ee_records.patches import ee_patch_dataset

    paths = expand_files(files)
    ds = ee_patch_dataset(paths, bands, patch_size=patch_size, batch_size=64, compression=compression, prefetch=True)
    running = RunningBandStats(list(bands), nodata)
    seen = 0
    with named_read_errors(paths):
        for images in ds:
            running.update(images.numpy())
            seen += int(images.shape[0])
            if max_patches is not None and seen >= max_patches:
                break
    return running.result()


def _stats_path(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    return path if path.endswith(".json") else os.path.join(path, STATS_FILENAME)


def save_band_stats(stats: BandStats, path: str | os.PathLike) -> str:
    """Save ``stats`` to ``path`` (a ``.json`` file, or a folder: ``<folder>/band_stats.json``); returns the file."""
    if not stats.bands:
        raise ValueError("these band statistics name no bands; compute them with band_names= to save them")
    dst = _stats_path(path)
    check_output(dst, suffixes=(".json",), what="band statistics file")
    return os.fspath(atomic_write_text(dst, band_stats_json(stats)))


def band_stats_json(stats: BandStats) -> str:
    """The ``band_stats.json`` text of ``stats``."""
    data = {"bands": list(stats.bands), "mean": list(stats.mean), "std": list(stats.std), "count": list(stats.count),
            "nodata": stats.nodata, "ranges": stats.ranges.to_json() if stats.ranges is not None else None}
    return json.dumps(data, indent=2) + "\n"


def load_band_stats(path: str | os.PathLike) -> BandStats:
    """Load statistics saved by :func:`save_band_stats` (file, or folder holding ``band_stats.json``)."""
    path = _stats_path(path)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"no band statistics at {path!r}; compute them with rskeras.data.compute_band_stats")
    data = read_json_object(path, "band statistics file")
    missing = [k for k in ("bands", "mean", "std") if k not in data]
    if missing or not (len(data["bands"]) == len(data["mean"]) == len(data["std"])):
        raise ValueError(f"{path}: band statistics need equally long 'bands', 'mean' and 'std' (missing {missing})")
    if min(data["std"]) <= 0:
        raise ValueError(f"{path}: std must be positive, got {data['std']}")
    try:
        ranges = BandRanges.from_json(data["ranges"]) if data.get("ranges") is not None else None
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: 'ranges': {err}") from None
    if ranges is not None and len(ranges) != len(data["bands"]):
        raise ValueError(f"{path}: 'ranges' cover {len(ranges)} bands, 'bands' lists {len(data['bands'])}")
    return BandStats(tuple(data["bands"]), tuple(data["mean"]), tuple(data["std"]), tuple(data.get("count") or ()),
                     data.get("nodata"), ranges)
