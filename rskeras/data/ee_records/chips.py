"""GeoTIFF -> TFRecord patches in exactly Earth Engine's layout, so any raster feeds the same pipeline.

:func:`geotiff_to_ee_patches` cuts an image (and an aligned label raster) into patches with a
stride, optionally with a kernel buffer, skips patches that are mostly nodata and writes them as
GZIP TFRecord shards with: ``patches.json`` (grid, bands, each patch's pixel origin, counts),
``band_stats.json`` (per-band statistics of the written patches) and, when the patches tile the
raster completely (stride = patch size, nothing skipped), a ``mixer.json`` like Earth Engine's, so
the output can also be read and written back as a scene.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import rasterio
from rasterio.windows import Window

from rskeras.io import atomic_write_text
from rskeras.data.ee_records.layout import as_size, kernel_margin, write_ee_patches
from rskeras.data.ee_records.mixer import Mixer, write_mixer
from rskeras.data.ee_records.stats import RunningBandStats, save_band_stats


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
        out_dir: output folder (created).
        patch_size: ``(height, width)`` of a patch without buffer, pixels.
        stride: step between patches (default: ``patch_size``, no overlap).
        kernel_size: add Earth Engine's kernel buffer (``kernel_size // 2`` on each side), filled
            from the neighbouring pixels, or with nodata (else 0) past the raster edge.
        band_names: a name per band (default: the raster's band descriptions, else ``b1, b2, ...``).
        label_raster: a one-band raster on the same grid; written as band ``label_name``.
        max_nodata_fraction: skip patches whose core holds more nodata (or outside) pixels than this.
        patches_per_file: records per TFRecord shard.
        prefix: file name prefix: ``<prefix>-00000.tfrecord.gz``.
        compression: ``"GZIP"`` (as Earth Engine) or None.
    """
    out_dir = os.fspath(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    ph, pw = as_size(patch_size)
    sh, sw = as_size(stride if stride is not None else (ph, pw), "stride")
    mh, mw = kernel_margin(kernel_size)
    with rasterio.open(image) as src:
        names = list(band_names) if band_names is not None else [d or f"b{i + 1}" for i, d in enumerate(src.descriptions)]
        if len(names) != src.count:
            raise ValueError(f"{image} has {src.count} bands but {len(names)} band names were given: {names}")
        if label_name in names and label_raster is not None:
            raise ValueError(f"label_name {label_name!r} is also a band name of {image}: {names}")
        nodata = src.nodata
        fill = float(nodata) if nodata is not None else 0.0
        lab = rasterio.open(label_raster) if label_raster is not None else None
        try:
            if lab is not None and (lab.shape != src.shape or lab.transform != src.transform or lab.crs != src.crs):
                raise ValueError(
                    f"label raster {label_raster} is not aligned with {image}: shape {lab.shape} vs {src.shape}, "
                    f"transform {tuple(lab.transform)[:6]} vs {tuple(src.transform)[:6]}, crs {lab.crs} vs {src.crs}"
                )
            lab_fill = float(lab.nodata) if lab is not None and lab.nodata is not None else 0.0
            rows, cols = _grid_starts(src.height, ph, sh), _grid_starts(src.width, pw, sw)
            stats = RunningBandStats(names, nodata)
            out_bands = names + ([label_name] if lab is not None else [])
            files: list[str] = []
            origins: list[list[int]] = []
            pending: list[np.ndarray] = []
            skipped = 0

            def flush():
                path = os.path.join(out_dir, f"{prefix}-{len(files):05d}.tfrecord" + (".gz" if compression else ""))
                write_ee_patches(path, pending, out_bands, compression=compression)
                files.append(path)
                pending.clear()

            width = cols[-1] + pw + 2 * mw
            for r in rows:
                strip = _read_strip(src, r - mh, ph + 2 * mh, -mw, width, fill)
                inside = np.zeros(strip.shape[:2], bool)
                inside[max(0, mh - r) : max(0, min(strip.shape[0], src.height - r + mh)), mw : mw + src.width] = True
                valid = inside & ~np.isnan(strip).any(-1)
                if nodata is not None:
                    valid &= ~(strip == nodata).any(-1)
                if lab is not None:
                    strip = np.concatenate([strip, _read_strip(lab, r - mh, ph + 2 * mh, -mw, width, lab_fill)], axis=-1)
                for c in cols:
                    core = valid[mh : mh + ph, c + mw : c + mw + pw]
                    if 1.0 - core.mean() > max_nodata_fraction:
                        skipped += 1
                        continue
                    patch = strip[:, c : c + pw + 2 * mw]
                    stats.update(patch[mh : mh + ph, mw : mw + pw, : len(names)][core])
                    pending.append(patch)
                    origins.append([r, c])
                    if len(pending) == patches_per_file:
                        flush()
            if pending:
                flush()
            if not origins:
                raise ValueError(f"no patch of {image} has at most {max_nodata_fraction:.0%} nodata; nothing was written")
            mixer_path = None
            if (sh, sw) == (ph, pw) and skipped == 0:
                t = src.transform
                mixer = Mixer(str(src.crs), (t.a, t.b, t.c, t.d, t.e, t.f), (ph, pw), len(cols), len(origins))
                mixer_path = write_mixer(os.path.join(out_dir, f"{prefix}-mixer.json"), mixer)
            meta = {
                "source": os.fspath(image),
                "label_source": os.fspath(label_raster) if label_raster is not None else None,
                "crs": str(src.crs),
                "transform": list(src.transform)[:6],
                "raster_size": [src.height, src.width],
                "bands": out_bands,
                "label": label_name if lab is not None else None,
                "patch_size": [ph, pw],
                "kernel_size": list(as_size(kernel_size, "kernel_size")),
                "stored_size": [ph + 2 * mh, pw + 2 * mw],
                "stride": [sh, sw],
                "nodata": nodata,
                "max_nodata_fraction": max_nodata_fraction,
                "written": len(origins),
                "skipped": skipped,
                "files": [os.path.basename(f) for f in files],
                "origins": origins,
            }
            meta_path = os.fspath(atomic_write_text(os.path.join(out_dir, f"{prefix}.json"), json.dumps(meta) + "\n"))
            stats_path = save_band_stats(stats.result(), out_dir)
        finally:
            if lab is not None:
                lab.close()
    return ChipSummary(tuple(files), meta_path, stats_path, mixer_path, len(origins), skipped, tuple(out_bands), meta["label"])
