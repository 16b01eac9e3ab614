"""Per-band normalisation statistics, computed from patches and saved as JSON beside the data.

``band_stats.json`` holds ``{"bands": [...], "mean": [...], "std": [...], "count": [...], "nodata": v}``
(count: valid pixels per band). :func:`rskeras.data.ee_patch_dataset` can normalise with it
(``normalize="auto"`` finds it beside the files), or :meth:`BandStats.to_layer` puts the same
statistics in the model as a :class:`rskeras.layers.BandNormalization` layer.
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

STATS_FILENAME = "band_stats.json"


@dataclass(frozen=True)
class BandStats:
    """Mean and standard deviation per band (in the data's units), keyed by band name."""

    bands: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    count: tuple[int, ...] = ()
    nodata: float | None = None

    def select(self, bands: Sequence[str]) -> "BandStats":
        """The statistics of ``bands``, in that order."""
        missing = [b for b in bands if b not in self.bands]
        if missing:
            raise KeyError(f"band statistics hold no {missing}; they cover {list(self.bands)}")
        idx = [self.bands.index(b) for b in bands]
        count = tuple(self.count[i] for i in idx) if self.count else ()
        return BandStats(tuple(bands), tuple(self.mean[i] for i in idx), tuple(self.std[i] for i in idx), count, self.nodata)

    def to_layer(self, bands: Sequence[str] | None = None, **kwargs):
        """A :class:`rskeras.layers.BandNormalization` with these statistics (optionally of ``bands``)."""
        from rskeras.layers.normalization import BandNormalization

        s = self.select(bands) if bands is not None else self
        return BandNormalization(mean=list(s.mean), std=list(s.std), band_names=list(s.bands), **kwargs)


@dataclass
class RunningBandStats:
    """Accumulates per-band count, mean and sum of squared deviations (Chan et al.'s merge), float64."""

    bands: Sequence[str]
    nodata: float | None = None
    _n: np.ndarray = field(init=False)
    _mean: np.ndarray = field(init=False)
    _m2: np.ndarray = field(init=False)

    def __post_init__(self):
        c = len(self.bands)
        self._n, self._mean, self._m2 = np.zeros(c), np.zeros(c), np.zeros(c)

    def update(self, values: np.ndarray) -> None:
        """Add ``(..., bands)`` values; NaN and ``nodata`` are left out."""
        x = np.asarray(values, dtype=np.float64).reshape(-1, len(self.bands))
        valid = ~np.isnan(x)
        if self.nodata is not None:
            valid &= x != self.nodata
        n = valid.sum(axis=0).astype(np.float64)
        xs = np.where(valid, x, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(n > 0, xs.sum(axis=0) / np.maximum(n, 1), 0.0)
        m2 = (np.where(valid, x - mean, 0.0) ** 2).sum(axis=0)
        total = self._n + n
        delta = mean - self._mean
        safe = np.maximum(total, 1)
        self._mean = self._mean + delta * n / safe
        self._m2 = self._m2 + m2 + delta**2 * self._n * n / safe
        self._n = total

    def result(self) -> BandStats:
        """The statistics so far; a band without valid values is an error, a constant band gets std 1."""
        empty = [b for b, n in zip(self.bands, self._n) if n == 0]
        if empty:
            raise ValueError(f"band(s) {empty} hold no valid value to compute statistics from")
        std = np.sqrt(self._m2 / self._n)
        std = np.where(std > 0, std, 1.0)
        return BandStats(tuple(self.bands), tuple(map(float, self._mean)), tuple(map(float, std)), tuple(int(v) for v in self._n), self.nodata)


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
    dst = _stats_path(path)
    check_output(dst, suffixes=(".json",), what="band statistics file")
    return os.fspath(atomic_write_text(dst, band_stats_json(stats)))


def band_stats_json(stats: BandStats) -> str:
    """The ``band_stats.json`` text of ``stats``."""
    data = {"bands": list(stats.bands), "mean": list(stats.mean), "std": list(stats.std), "count": list(stats.count), "nodata": stats.nodata}
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
    return BandStats(tuple(data["bands"]), tuple(data["mean"]), tuple(data["std"]), tuple(data.get("count") or ()), data.get("nodata"))
