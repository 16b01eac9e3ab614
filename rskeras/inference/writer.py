"""Atomic GeoTIFF output: written under a temporary name, renamed when complete.

Each output is created as a hidden temporary file in the destination's folder
(``.NAME.tmp-XXXXXXXX.tif``) with a tiled, compressed, Cloud-Optimised-GeoTIFF
friendly profile (256 x 256 internal tiles, DEFLATE with a predictor, BigTIFF
when needed). :class:`GeoTIFFOutputs` renames every file of a run with
:func:`os.replace` only after all of them were written and closed, and removes
the temporary files on any exception, ``KeyboardInterrupt`` included, so an
interrupted or failed run leaves nothing behind.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import rasterio
from rasterio.windows import Window

from rskeras.inference.cog import make_cog

TILE = 256  # internal GeoTIFF tile size in pixels


@dataclass
class OutputSpec:
    """What one output raster holds.

    Attributes:
        path: the final file name.
        dtype: ``"uint8"`` (class maps) or ``"float32"`` (values, probabilities).
        count: number of bands.
        nodata: the value written where the input is nodata.
        descriptions: one description per band (class names, output names).
        tags: dataset-level GDAL metadata (strings; lists/dicts are stored as JSON).
        colormap: ``{value: (r, g, b, a)}`` for band 1 of a single-band uint8 map.
        cog: the overview resampling (``"mode"``, ``"average"``) of a Cloud-Optimised GeoTIFF, made from the
            tiled file before the rename (:func:`rskeras.inference.cog.make_cog`); None for a tiled GeoTIFF.
    """

    path: Path
    dtype: str
    count: int
    nodata: float
    descriptions: list[str] = field(default_factory=list)
    tags: dict = field(default_factory=dict)
    colormap: dict[int, tuple[int, int, int, int]] | None = None
    cog: str | None = None


def geotiff_profile(base: dict, spec: OutputSpec) -> dict:
    """A tiled, compressed GeoTIFF profile with ``base``'s CRS, transform and size."""
    floating = np.dtype(spec.dtype).kind == "f"
    return {
        "driver": "GTiff",
        "crs": base["crs"],
        "transform": base["transform"],
        "width": base["width"],
        "height": base["height"],
        "count": spec.count,
        "dtype": spec.dtype,
        "nodata": spec.nodata,
        "tiled": True,
        "blockxsize": TILE,
        "blockysize": TILE,
        "compress": "deflate",
        "predictor": 3 if floating else 2,
        "interleave": "pixel" if spec.count <= 4 else "band",
        "BIGTIFF": "IF_SAFER",
    }


def block_cache_mib(band_rows: list[tuple[int, int, int, str]]) -> int:
    """A GDAL block cache size (MiB) for reading and writing strips of full-width rows.

    Args:
        band_rows: per raster read or written at a time, ``(rows, width, bands, dtype)``
            of the strip that must stay cached (the strip plus a row of internal tiles).

    Returns:
        Twice the bytes of those strips, at least 64 MiB. GDAL's default (5% of the
        machine's memory) would otherwise cache the blocks of a whole scene.
    """
    total = sum(rows * width * bands * np.dtype(dtype).itemsize for rows, width, bands, dtype in band_rows)
    return max(64, int(2 * total / 2**20) + 1)


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.stem}.tmp-{uuid.uuid4().hex[:8]}{path.suffix or '.tif'}")


def _remove(path: Path) -> None:
    for p in (path, Path(f"{path}.aux.xml")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


class GeoTIFFOutputs:
    """A group of output GeoTIFFs written together and renamed together.

    Use as a context manager::

        with GeoTIFFOutputs(base_profile, [spec_a, spec_b]) as out:
            out.write(0, array_a, window)   # (count, h, w) for output 0
            out.write(1, array_b, window)

    On normal exit every file is closed and then renamed to its final name; on
    any exception the temporary files are removed and the exception propagates.
    """

    def __init__(self, base_profile: dict, specs: list[OutputSpec]):
        self.base_profile = base_profile
        self.specs = specs
        self._temps: list[Path] = []
        self._datasets: list = []

    def __enter__(self) -> "GeoTIFFOutputs":
        try:
            for spec in self.specs:
                spec.path.parent.mkdir(parents=True, exist_ok=True)
                temp = _temporary_name(spec.path)
                self._temps.append(temp)
                ds = rasterio.open(temp, "w", **geotiff_profile(self.base_profile, spec))
                self._datasets.append(ds)
                for band, text in enumerate(spec.descriptions, start=1):
                    ds.set_band_description(band, text)
                if spec.tags:
                    ds.update_tags(**{k: v if isinstance(v, str) else json.dumps(v) for k, v in spec.tags.items()})
                if spec.colormap:
                    ds.write_colormap(1, spec.colormap)
        except BaseException:
            self._abort()
            raise
        return self

    def write(self, index: int, array: np.ndarray, window: Window) -> None:
        """Write ``array`` (``(count, h, w)``) into output ``index`` at ``window``."""
        self._datasets[index].write(array.astype(self.specs[index].dtype, copy=False), window=window)

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            for ds in self._datasets:
                ds.close()
            for temp, spec in zip(self._temps, self.specs):
                if spec.cog:
                    make_cog(temp, spec.cog)
        except BaseException:
            self._abort()
            raise
        for temp, spec in zip(self._temps, self.specs):
            os.replace(temp, spec.path)
            aux = Path(f"{temp}.aux.xml")
            if aux.exists():
                os.replace(aux, f"{spec.path}.aux.xml")

    def _abort(self) -> None:
        for ds in self._datasets:
            try:
                ds.close()
            except Exception:  # the file is deleted next; a failing close changes nothing
                pass
        for temp in self._temps:
            _remove(temp)
