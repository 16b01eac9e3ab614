"""GeoTIFF -> TFRecord patches in exactly Earth Engine's layout, so any raster feeds the same pipeline.

:func:`geotiff_to_ee_patches` cuts an image (and an aligned label raster) into patches with a
stride, optionally with a kernel buffer, skips patches that are mostly nodata and writes them as
GZIP TFRecord shards with: ``patches.json`` (grid, bands, each patch's pixel origin, counts),
``band_stats.json`` (per-band statistics of the written patches) and, when the patches tile the
raster completely (stride = patch size, nothing skipped), a ``mixer.json`` like Earth Engine's, so
the output can also be read and written back as a scene.

The output set appears whole or not at all: shards and side files are written under temporary
names and renamed at the end, ``patches.json`` last; a rerun with the same folder and prefix
replaces the previous set (its extra shards and mixer are removed).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Sequence

import numpy as np
from rasterio.windows import Window

from rskeras.data.ee_records._io import compression_type, write_text
from rskeras.data.ee_records.layout import Size, as_size, kernel_margin, write_patch_records
from rskeras.data.ee_records.mixer import MIXER_SUFFIX, Mixer, mixer_json
from rskeras.data.ee_records.stats import STATS_FILENAME, RunningBandStats, band_stats_json
from rskeras.data.rasters import band_names as raster_band_names
from rskeras.data.rasters import open_raster
from rskeras.io import TEMP_MARK, atomic_path, check_outputs, remove_stale_temporaries


@dataclass(frozen=True)
class ChipSummary:
    """What :func:`geotiff_to_ee_patches` wrote."""

    files: tuple[str, ...]
    metadata: str
    stats: str
    mixer: str | None
    written: int
    skipped: int
    bands: tuple[str, ...]
    label: str | None


def _grid_starts(length: int, patch: int, stride: int) -> list[int]:
    """Patch starts along one axis covering ``length`` pixels (the last patch may run past the edge)."""
    n = 1 if length <= patch else math.ceil((length - patch) / stride) + 1
    return [i * stride for i in range(n)]


def _read_strip(src, row0: int, height: int, col0: int, width: int, fill: float) -> np.ndarray:
    """``(height, width, bands)`` float32 read with pixels outside the raster set to ``fill``."""
    window = Window(col0, row0, width, height)
    data = src.read(window=window, boundless=True, fill_value=fill, out_dtype="float32")
    return np.moveaxis(data, 0, -1)


@dataclass
class _Cutter:
    """Cuts patches (with buffer) row strip by row strip; keeps the origins, statistics and skips.

    Attributes:
        patch: ``(height, width)`` without buffer; stride: step between patches; margin: buffer per side.
    """

    src: object
    lab: object | None
    names: list[str]
    patch: Size
    stride: Size
    margin: Size
    max_nodata_fraction: float
    origins: list[list[int]] = field(default_factory=list)
    skipped: int = 0
    stats: RunningBandStats = field(init=False)
    rows: list[int] = field(init=False)
    cols: list[int] = field(init=False)

    def __post_init__(self):
        self.stats = RunningBandStats(self.names, self.src.nodata)
        self.rows = _grid_starts(self.src.height, self.patch[0], self.stride[0])
        self.cols = _grid_starts(self.src.width, self.patch[1], self.stride[1])

    def _strip(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """Row strip ``r`` with buffer: ``(values (rows, cols, bands [+ label]), valid (rows, cols))``."""
        (ph, pw), (mh, mw), src = self.patch, self.margin, self.src
        width = self.cols[-1] + pw + 2 * mw
        nodata = src.nodata
        strip = _read_strip(src, r - mh, ph + 2 * mh, -mw, width, float(nodata) if nodata is not None else 0.0)
        inside = np.zeros(strip.shape[:2], bool)
        inside[max(0, mh - r) : max(0, min(strip.shape[0], src.height - r + mh)), mw : mw + src.width] = True
        valid = inside & ~np.isnan(strip).any(-1)
        if nodata is not None:
            valid &= ~(strip == nodata).any(-1)
        if self.lab is not None:
            lab_fill = float(self.lab.nodata) if self.lab.nodata is not None else 0.0
            strip = np.concatenate([strip, _read_strip(self.lab, r - mh, ph + 2 * mh, -mw, width, lab_fill)], axis=-1)
        return strip, valid

    def patches(self) -> Iterator[np.ndarray]:
        """Kept patches ``(h + 2*mh, w + 2*mw, bands [+ label])`` in row-major grid order."""
        (ph, pw), (mh, mw) = self.patch, self.margin
        for r in self.rows:
            strip, valid = self._strip(r)
            for c in self.cols:
                core = valid[mh : mh + ph, c + mw : c + mw + pw]
                if 1.0 - core.mean() > self.max_nodata_fraction:
                    self.skipped += 1
                    continue
                patch = strip[:, c : c + pw + 2 * mw]
                self.stats.update(patch[mh : mh + ph, mw : mw + pw, : len(self.names)][core])
                self.origins.append([r, c])
                yield patch

    @property
    def complete(self) -> bool:
        """Whether the patches tile the raster (stride = patch size, nothing skipped): a mixer.json fits."""
        return self.stride == self.patch and self.skipped == 0


def _band_names(src, image, band_names: Sequence[str] | None, label_name: str, has_label: bool) -> list[str]:
    """A name per band: the given ones, else the raster's (:func:`rskeras.data.rasters.band_names`)."""
    names = list(band_names) if band_names is not None else raster_band_names(src)
    if len(names) != src.count:
        raise ValueError(f"{image} has {src.count} bands but {len(names)} band names were given: {names}")
    if len(set(names)) != len(names):
        raise ValueError(f"band names must differ (each is a feature of the records), got {names}")
    if has_label and label_name in names:
        raise ValueError(f"label_name {label_name!r} is also a band name of {image}: {names}")
    return names


def _check_aligned(src, lab, image, label_raster) -> None:
    if lab.shape != src.shape or lab.transform != src.transform or lab.crs != src.crs:
        raise ValueError(
            f"label raster {label_raster} is not aligned with {image}: shape {lab.shape} vs {src.shape}, "
            f"transform {tuple(lab.transform)[:6]} vs {tuple(src.transform)[:6]}, crs {lab.crs} vs {src.crs}"
        )
    if lab.count != 1:
        raise ValueError(f"label raster {label_raster} has {lab.count} bands; give a one-band raster")


def _shard_name(prefix: str, index: int, suffix: str) -> str:
    return f"{prefix}-{index:05d}{suffix}"


def _shard_pattern(prefix: str) -> re.Pattern:
    """Names of the shards ``<prefix>-NNNNN.tfrecord[.gz]``, and of their temporaries."""
    return re.compile(rf"^\.?{re.escape(prefix)}-\d{{5}}(?:{re.escape(TEMP_MARK)}.*)?\.tfrecord(?:\.gz)?$")


def _check_outputs(out_dir: str, prefix: str, inputs: list[str]) -> tuple[str, str, str]:
    """Refuse the output set before any work; returns the paths ``(metadata, stats, mixer)``."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir} is an existing file; give a folder")
    if not prefix or os.sep in prefix or (os.altsep and os.altsep in prefix) or prefix.startswith("."):
        raise ValueError(f"prefix {prefix!r} must be a plain file name start (no folder, not hidden)")
    meta, stats, mixer = (os.path.join(out_dir, n) for n in (f"{prefix}.json", STATS_FILENAME, f"{prefix}-{MIXER_SUFFIX}"))
    check_outputs([(meta, (".json",), "the metadata file"), (stats, (".json",), "the statistics file"),
                   (mixer, (".json",), "the mixer")], inputs)
    shards = _shard_pattern(prefix)
    for source in inputs:
        if os.path.dirname(os.path.abspath(source)) == os.path.abspath(out_dir) and shards.match(os.path.basename(source)):
            raise ValueError(f"input {source} has the name of an output shard; choose another prefix or out_dir")
    return meta, stats, mixer


def _remove_stale_shard_temporaries(out_dir: str, prefix: str) -> None:
    """Remove the shard temporaries that killed runs left (those of running processes stay)."""
    shards = _shard_pattern(prefix)
    for name in os.listdir(out_dir):
        if name.startswith(".") and TEMP_MARK in name and shards.match(name):
            stem, _, rest = name[1:].partition(TEMP_MARK)
            remove_stale_temporaries(os.path.join(out_dir, stem + rest[rest.index("."):]))


def _remove_previous_outputs(out_dir: str, prefix: str, keep: set[str], mixer: str) -> None:
    """Remove shards (and the mixer) of a previous run with this prefix that this run did not write."""
    shards = _shard_pattern(prefix)
    for name in os.listdir(out_dir):
        path = os.path.join(out_dir, name)
        if not name.startswith(".") and shards.match(name) and path not in keep:
            os.unlink(path)
    if mixer not in keep and os.path.exists(mixer):
        os.unlink(mixer)


def _write_shards(stack: contextlib.ExitStack, patches: Iterable[np.ndarray], out_dir: str, prefix: str,
                  bands: list[str], compression: str, per_file: int) -> list[str]:
    """Stream ``patches`` into shards of ``per_file`` records, each under a temporary name held by ``stack``."""
    suffix = ".tfrecord.gz" if compression else ".tfrecord"
    files: list[str] = []
    it = iter(patches)
    for first in it:
        dst = os.path.join(out_dir, _shard_name(prefix, len(files), suffix))
        tmp = stack.enter_context(atomic_path(dst))
        write_patch_records(tmp, itertools.chain([first], itertools.islice(it, per_file - 1)), bands, compression=compression)
        files.append(dst)
    return files


def _metadata(image, label_raster, src, cutter: _Cutter, bands: list[str], label: str | None, kernel_size,
              files: list[str]) -> dict:
    """The content of ``<prefix>.json``."""
    (ph, pw), (sh, sw), (mh, mw) = cutter.patch, cutter.stride, cutter.margin
    return {
        "source": os.fspath(image),
        "label_source": os.fspath(label_raster) if label_raster is not None else None,
        "crs": str(src.crs),
        "transform": list(src.transform)[:6],
        "raster_size": [src.height, src.width],
        "bands": bands,
        "label": label,
        "patch_size": [ph, pw],
        "kernel_size": list(as_size(kernel_size, "kernel_size")),
        "stored_size": [ph + 2 * mh, pw + 2 * mw],
        "stride": [sh, sw],
        "nodata": src.nodata,
        "max_nodata_fraction": cutter.max_nodata_fraction,
        "written": len(cutter.origins),
        "skipped": cutter.skipped,
        "files": [os.path.basename(f) for f in files],
        "origins": cutter.origins,
    }


def geotiff_to_ee_patches(
    image: str | os.PathLike,
    out_dir: str | os.PathLike,
    patch_size: int | Sequence[int] = 64,
    *,
    stride: int | Sequence[int] | None = None,
    kernel_size: int | Sequence[int] = 0,
    band_names: Sequence[str] | None = None,
    label_raster: str | os.PathLike | None = None,
    label_name: str = "label",
    max_nodata_fraction: float = 0.5,
    patches_per_file: int = 1000,
    prefix: str = "patches",
    compression: str | None = "GZIP",
) -> ChipSummary:
    """Cut ``image`` into patches and write them as Earth Engine layout TFRecords in ``out_dir``.

    Args:
        image: GeoTIFF (any raster rasterio reads).
        out_dir: output folder (created; local).
        patch_size: ``(height, width)`` of a patch without buffer, pixels.
        stride: step between patches (default: ``patch_size``, no overlap).
        kernel_size: add Earth Engine's kernel buffer (``kernel_size // 2`` on each side), filled
            from the neighbouring pixels, or with nodata (else 0) past the raster edge.
        band_names: a name per band (default: the raster's band descriptions, else ``band_1, band_2, ...``).
        label_raster: a one-band raster on the same grid; written as band ``label_name``.
        max_nodata_fraction: skip patches whose core holds more nodata (or outside) pixels than this.
        patches_per_file: records per TFRecord shard.
        prefix: file name prefix: ``<prefix>-00000.tfrecord.gz``.
        compression: ``"GZIP"`` (as Earth Engine; ``*.tfrecord.gz``) or None (``*.tfrecord``).

    Raises:
        ValueError: bad sizes, names or outputs (before any work), unaligned rasters, or no patch
            with little enough nodata (nothing is written then).
    """
    out_dir = os.fspath(out_dir)
    inputs = [os.fspath(p) for p in (image, label_raster) if p is not None]
    meta_path, stats_path, mixer_path = _check_outputs(out_dir, prefix, inputs)
    patch, step, margin = as_size(patch_size), as_size(stride if stride is not None else patch_size, "stride"), kernel_margin(kernel_size)
    comp = compression_type(compression)
    if patches_per_file < 1 or not 0.0 <= max_nodata_fraction <= 1.0:
        raise ValueError(f"patches_per_file must be >= 1 and max_nodata_fraction within [0, 1], got {patches_per_file}, {max_nodata_fraction}")
    with open_raster(image) as src, (open_raster(label_raster) if label_raster is not None else contextlib.nullcontext()) as lab:
        names = _band_names(src, image, band_names, label_name, lab is not None)
        if lab is not None:
            _check_aligned(src, lab, image, label_raster)
        os.makedirs(out_dir, exist_ok=True)
        _remove_stale_shard_temporaries(out_dir, prefix)
        cutter = _Cutter(src, lab, names, patch, step, margin, max_nodata_fraction)
        bands = names + ([label_name] if lab is not None else [])
        with contextlib.ExitStack() as side_files:  # renamed after the shards, the metadata last of all
            tmp_meta, tmp_stats = (side_files.enter_context(atomic_path(p)) for p in (meta_path, stats_path))
            with contextlib.ExitStack() as shards:
                files = _write_shards(shards, cutter.patches(), out_dir, prefix, bands, comp, patches_per_file)
                if not files:
                    raise ValueError(f"no patch of {image} has at most {max_nodata_fraction:.0%} nodata; nothing was written")
                write_text(tmp_stats, band_stats_json(cutter.stats.result()))
                mixer = _mixer(src, cutter) if cutter.complete else None
                if mixer is not None:
                    write_text(side_files.enter_context(atomic_path(mixer_path)), mixer_json(mixer))
                meta = _metadata(image, label_raster, src, cutter, bands, label_name if lab is not None else None, kernel_size, files)
                write_text(tmp_meta, json.dumps(meta) + "\n")
            _remove_previous_outputs(out_dir, prefix, set(files) | ({mixer_path} if mixer else set()), mixer_path)
    return ChipSummary(tuple(files), meta_path, stats_path, mixer_path if mixer else None, len(cutter.origins),
                       cutter.skipped, tuple(bands), meta["label"])


def _mixer(src, cutter: _Cutter) -> Mixer:
    """The mixer.json of a complete grid over ``src``."""
    t = src.transform
    return Mixer(str(src.crs), (t.a, t.b, t.c, t.d, t.e, t.f), cutter.patch, len(cutter.cols), len(cutter.origins))
