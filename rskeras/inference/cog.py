"""Cloud-Optimised GeoTIFF outputs: GDAL's COG driver over the tiled GeoTIFF a prediction wrote, and a check.

``predict_raster(..., cog=True)`` writes each output window by window as a tiled GeoTIFF under its
temporary name (:mod:`rskeras.inference.writer`), then :func:`make_cog` rewrites that temporary file as a COG
(GDAL's COG driver: 256 px tiles, DEFLATE with a predictor, internal overviews down to one tile, the
colour map, band descriptions and tags such as ``CLASS_NAMES`` kept) before the rename, so the COG still
appears whole or not at all. GDAL builds the overviews from the tiled file block by block (memory bounded
by its block cache, not by the scene).

:func:`validate_cog` checks a file the way GDAL's ``validate_cloud_optimized_geotiff.py`` does (GDAL's
Python bindings are not a dependency; rasterio reads the same TIFF tags): tiled, internal overviews of
decreasing size, the main IFD right after GDAL's structural metadata, IFDs before the image data, the
smallest overview's data first and the full resolution last, blocks in row-major order with the size
leader and repeated trailer the metadata declares.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path

import rasterio
import rasterio.shutil

from rskeras.io import temporary_name

TILE = 256  # COG block size in pixels, as the tiled outputs
#: Overview resampling names accepted by GDAL's COG driver that rskeras uses.
RESAMPLING = ("nearest", "mode", "average")
_STRUCTURAL = "GDAL_STRUCTURAL_METADATA_SIZE="


def make_cog(path: str | os.PathLike, resampling: str) -> Path:
    """Rewrite the GeoTIFF ``path`` in place as a Cloud-Optimised GeoTIFF with overviews by ``resampling``.

    The COG is written beside ``path`` under a temporary name and renamed over it; on any exception,
    ``KeyboardInterrupt`` included, the temporary file is removed and ``path`` is left as it was.
    """
    if resampling not in RESAMPLING:
        raise ValueError(f"unknown overview resampling {resampling!r}; choose one of {', '.join(RESAMPLING)}")
    path = Path(path)
    temp = Path(temporary_name(path))
    try:
        rasterio.shutil.copy(path, temp, driver="COG", BLOCKSIZE=TILE, COMPRESS="DEFLATE", PREDICTOR="YES",
                             OVERVIEW_RESAMPLING=resampling.upper(), BIGTIFF="IF_SAFER", NUM_THREADS="ALL_CPUS")
        os.replace(temp, path)
    finally:
        for leftover in (temp, Path(f"{temp}.aux.xml")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return path


def validate_cog(path: str | os.PathLike) -> list[str]:
    """The ways ``path`` is not a Cloud-Optimised GeoTIFF (an empty list for a valid COG).

    The checks of GDAL's ``validate_cloud_optimized_geotiff.py`` with ``--full-check=yes``, read through
    rasterio; a file larger than 512 px without overviews is reported too (GDAL warns).
    """
    problems: list[str] = []
    with rasterio.open(path) as ds:
        if ds.driver != "GTiff":
            return [f"{path} is a {ds.driver} file, not a GeoTIFF"]
        if any(name.endswith(".ovr") for name in ds.files):
            problems.append("overviews are in an external .ovr file; they must be internal")
        levels = range(len(ds.overviews(1)))
        sizes = [(ds.width, ds.height)] + [_overview_size(ds, i) for i in levels]
        problems += _layout_problems(ds, sizes)
        structure = _structural_metadata(Path(path))
        ifds = [int(_tiff_item(ds, "IFD_OFFSET", None))] + [int(_tiff_item(ds, "IFD_OFFSET", i)) for i in levels]
        problems += _ifd_problems(ifds, structure)
        firsts = [_first_block_offset(ds, None, sizes[0])] + [_first_block_offset(ds, i, sizes[i + 1]) for i in levels]
        problems += _data_problems(ifds, firsts)
        with open(path, "rb") as f:
            for level, size in zip([None, *levels], sizes):
                problems += _block_problems(ds, f, level, size, structure)
    return problems


def _overview_size(ds, level: int) -> tuple[int, int]:
    factor = ds.overviews(1)[level]
    return -(-ds.width // factor), -(-ds.height // factor)


def _tiff_item(ds, name: str, level: int | None) -> str | None:
    """A ``TIFF``-domain metadata item of band 1 (``level``: an overview index, None for full resolution)."""
    return ds.get_tag_item(name, "TIFF", bidx=1, ovr=level)


def _layout_problems(ds, sizes: list[tuple[int, int]]) -> list[str]:
    """Tiling and overviews."""
    problems = []
    width, height = sizes[0]
    if (width > 512 or height > 512) and len(sizes) == 1:
        problems.append(f"the file is {width}x{height} px (larger than 512) but has no internal overviews")
    block_width = ds.block_shapes[0][1]
    if block_width == width and block_width > 1024:
        problems.append("the full-resolution image is not tiled")
    for i in range(1, len(sizes)):
        if sizes[i][0] > sizes[i - 1][0] or sizes[i][1] > sizes[i - 1][1]:
            problems.append(f"overview {i - 1} ({sizes[i][0]}x{sizes[i][1]}) is larger than the level before it")
    return problems


def _structural_metadata(path: Path) -> dict:
    """GDAL's structural metadata right after the TIFF header (``LAYOUT=IFDS_BEFORE_DATA`` ...) and where the
    first IFD must then start: ``{"expected_ifd": int, "items": {key: value}}``."""
    with open(path, "rb") as f:
        header = f.read(16)
        big = header[:4] in (b"II+\x00", b"MM\x00+")
        start = 16 if big else 8
        f.seek(start)
        line = f.read(len(_STRUCTURAL) + 13).decode("latin-1")
        if not line.startswith(_STRUCTURAL):
            return {"expected_ifd": start, "items": {}}
        size = int(line[len(_STRUCTURAL):len(_STRUCTURAL) + 6])
        text = f.read(size).decode("latin-1")
    items = dict(entry.split("=", 1) for entry in text.split("\n") if "=" in entry)
    expected = start + len(line) + size
    return {"expected_ifd": expected + expected % 2, "items": items}


def _ifd_problems(ifds: list[int], structure: dict) -> list[str]:
    """The main IFD after the structural metadata, then the overviews' IFDs in increasing offsets."""
    problems = []
    if structure["items"].get("KNOWN_INCOMPATIBLE_EDITION") == "YES":
        problems.append("the file declares KNOWN_INCOMPATIBLE_EDITION=YES (edited after it was written as a COG)")
    if ifds[0] != structure["expected_ifd"]:
        problems.append(f"the main IFD is at byte {ifds[0]}, not right after the header at {structure['expected_ifd']}")
    for i in range(1, len(ifds)):
        if ifds[i] < ifds[i - 1]:
            problems.append(f"the IFD of overview {i - 1} (byte {ifds[i]}) comes before the one of the level "
                            f"above it (byte {ifds[i - 1]})")
    return problems


def _first_block_offset(ds, level: int | None, size: tuple[int, int]) -> int:
    """The offset of the first stored block of a level (0 when every block is empty)."""
    columns, rows = -(-size[0] // ds.block_shapes[0][1]), -(-size[1] // ds.block_shapes[0][0])
    for y in range(rows):
        for x in range(columns):
            offset = _tiff_item(ds, f"BLOCK_OFFSET_{x}_{y}", level)
            if offset:
                return int(offset)
    return 0


def _data_problems(ifds: list[int], firsts: list[int]) -> list[str]:
    """Every IFD before the data; the smallest overview's data first, the full resolution last."""
    problems = []
    if firsts[-1] and firsts[-1] < ifds[-1]:
        problems.append("the data of the smallest level starts before its IFD")
    for i in range(len(firsts) - 2, -1, -1):
        if firsts[i] and firsts[i] < firsts[i + 1]:
            level = "the full-resolution image" if i == 0 else f"overview {i - 1}"
            problems.append(f"the data of {level} comes before the data of overview {i}")
    return problems


def _block_problems(ds, f, level: int | None, size: tuple[int, int], structure: dict) -> list[str]:
    """Row-major block order, and each block's size leader and repeated trailer, as the metadata declares."""
    items = structure["items"]
    row_major = items.get("BLOCK_ORDER") == "ROW_MAJOR"
    leader = items.get("BLOCK_LEADER") == "SIZE_AS_UINT4"
    trailer = items.get("BLOCK_TRAILER") == "LAST_4_BYTES_REPEATED"
    name = "the full-resolution image" if level is None else f"overview {level}"
    columns, rows = -(-size[0] // ds.block_shapes[0][1]), -(-size[1] // ds.block_shapes[0][0])
    problems, last = [], 0
    for y in range(rows):
        for x in range(columns):
            offset = int(_tiff_item(ds, f"BLOCK_OFFSET_{x}_{y}", level) or 0)
            count = int(_tiff_item(ds, f"BLOCK_SIZE_{x}_{y}", level) or 0)
            if not offset:
                continue
            if row_major and offset < last:
                problems.append(f"{name}: block ({x}, {y}) is stored before the block preceding it")
            if leader:
                f.seek(offset - 4)
                if struct.unpack("<I", f.read(4))[0] != count:
                    problems.append(f"{name}: the size leader of block ({x}, {y}) is not its size {count}")
            if trailer and count >= 4:
                f.seek(offset + count - 4)
                tail = f.read(8)
                if tail[:4] != tail[4:]:
                    problems.append(f"{name}: the trailer of block ({x}, {y}) does not repeat its last 4 bytes")
            last = offset
    return problems
