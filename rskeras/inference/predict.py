"""``predict_raster``: a model applied to a whole scene, written as GeoTIFF."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import rasterio
from rasterio.transform import Affine

from rskeras.inference.dense import predict_dense
from rskeras.inference.outputs import check_prediction_outputs, plan_outputs
from rskeras.inference.patch import LAYOUTS, patch_grid, predict_patches
from rskeras.inference.pixel import predict_pixels
from rskeras.inference.runner import ModelRunner, load_model, select_output
from rskeras.inference.sources import Source, check_aligned, open_raster, select_bands
from rskeras.inference.writer import TILE, GeoTIFFOutputs, block_cache_mib
from rskeras.layers.normalization import BandNormalization
from rskeras.models.metadata import input_normalizations, model_metadata

KINDS = ("auto", "pixel", "patch", "dense")
DEFAULT_TILE = 256  # tile side for models that take any spatial size


@dataclass
class PredictionResult:
    """What :func:`predict_raster` wrote.

    Attributes:
        dst: the main output (class map or values).
        probabilities: the probabilities raster, or None.
        kind: ``"pixel"``, ``"patch"`` or ``"dense"``.
        task: the model's task (``"regression"`` for a model without a task head).
        n_pixels: input pixels valid in every selected band (predicted).
        n_nodata: input pixels that are nodata (nodata in outputs on the source's grid;
            a coarse patch map marks a cell nodata when half its pixels are).
        class_names: names of the class map's values (index = value), or of the
            regression outputs; None when the model holds none.
        seconds: wall-clock time of the whole call.
    """

    dst: Path
    probabilities: Path | None
    kind: str
    task: str
    n_pixels: int
    n_nodata: int
    class_names: list[str] | None
    seconds: float


def model_kind(input_shapes: Sequence[tuple], output_shape: tuple) -> str:
    """``"pixel"`` for ``(bands,)`` inputs, ``"patch"`` for ``(H, W, C)`` inputs with a
    vector output, ``"dense"`` for ``(H, W, C)`` inputs with an ``(H, W, n)`` output."""
    ranks = {len(shape) for shape in input_shapes}
    if ranks == {1}:
        return "pixel"
    if ranks == {3}:
        return "dense" if len(output_shape) == 3 else "patch"
    raise ValueError(
        f"cannot tell the model's kind from its input shapes {list(input_shapes)} and output shape "
        f"{output_shape}; pixel models take (bands,), patch and dense models (height, width, bands)"
    )


def nodata_fills(norms: Sequence[BandNormalization | None], n_bands: Sequence[int]) -> list[np.ndarray]:
    """Per model input, the ``(bands,)`` values that replace nodata pixels: the input's
    ``BandNormalization`` mean (0 after normalisation), or zeros without statistics."""
    return [
        np.asarray(norm.mean, np.float32) if norm is not None and norm.adapted else np.zeros(n, np.float32)
        for norm, n in zip(norms, n_bands)
    ]


def tile_layout(kind: str, input_shape: tuple, tile_size: int | None, overlap: int | None) -> tuple[int, int]:
    """``(tile, overlap)`` for a patch or dense model with ``input_shape`` ``(H, W, C)``.

    A model with a fixed input size takes tiles of that size; otherwise
    ``tile_size`` defaults to 256. ``overlap`` defaults to a quarter of the tile
    for dense models (blending; exact for receptive fields up to overlap / 4
    pixels, see :mod:`rskeras.inference.tiling`) and 0 for patch models.
    """
    fixed_h, fixed_w = input_shape[0], input_shape[1]
    if fixed_h is not None or fixed_w is not None:
        if fixed_h != fixed_w:
            raise ValueError(f"predict_raster cuts square tiles; the model's input is {fixed_h}x{fixed_w}")
        if tile_size is not None and tile_size != fixed_h:
            raise ValueError(f"tile_size={tile_size} but the model takes {fixed_h}x{fixed_w} tiles")
        tile = fixed_h
    else:
        tile = DEFAULT_TILE if tile_size is None else tile_size
    if overlap is None:
        overlap = tile // 4 if kind == "dense" else 0
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile_size), got overlap={overlap} with tile_size={tile}")
    return tile, overlap


def _by_input_name(names: list[str], src: dict, bands) -> tuple[list, list | None]:
    """``src`` (and ``bands``) given as dicts keyed by model input name -> lists in input order."""
    unknown = set(src) - set(names)
    missing = [n for n in names if n not in src]
    if unknown or missing:
        raise ValueError(
            f"src must name every model input ({', '.join(names)}); "
            f"missing {missing}, unknown {sorted(unknown)}"
        )
    if bands is not None:
        if not isinstance(bands, dict) or set(bands) - set(names):
            raise ValueError(f"with src as a dict give bands= as a dict keyed by input names ({', '.join(names)})")
        bands = [bands.get(n) for n in names]
    return [src[n] for n in names], bands


def _per_source_bands(bands, n_sources: int) -> list:
    if bands is None:
        return [None] * n_sources
    if n_sources == 1:
        return [bands]
    if len(bands) != n_sources or not all(b is None or isinstance(b, (list, tuple)) for b in bands):
        raise ValueError(f"with {n_sources} input rasters give bands= as one list (or None) per raster, got {bands!r}")
    return list(bands)


def predict_raster(
    model: keras.Model | str | os.PathLike,
    src: str | os.PathLike | Sequence[str | os.PathLike] | dict[str, str | os.PathLike],
    dst: str | os.PathLike,
    *,
    bands: Sequence[int | str] | Sequence[Sequence[int | str] | None] | None = None,
    kind: str = "auto",
    probabilities: str | os.PathLike | bool | None = None,
    batch_size: int | None = None,
    window_size: int = 512,
    tile_size: int | None = None,
    overlap: int | None = None,
    nodata: float | None = None,
    src_nodata: float | None = None,
    patch_output: str = "coarse",
    output: str | None = None,
    progress: bool = True,
) -> PredictionResult:
    """Apply ``model`` to every pixel of ``src`` and write the result to ``dst`` (GeoTIFF).

    The output has the source's CRS, transform and size; pixels that are nodata in
    any selected input band stay nodata. What is written depends on the model's
    task (see :mod:`rskeras.inference.outputs`): a uint8 class map (nodata 255,
    class names in the ``CLASS_NAMES`` tag, a colour map) and optionally float32
    probabilities for classification; float32 values (nodata -9999) for
    regression. Files are written under a temporary name in ``dst``'s folder and
    renamed at the end; on any error or interruption nothing is left behind.

    Args:
        model: a Keras model or the path of a ``.keras`` file.
        src: the input raster, or for models with several inputs a list of aligned
            rasters in the order of ``model.inputs`` (dict inputs: sorted by name),
            or a dict ``{input name: raster}``.
        dst: the output GeoTIFF (replaced if it exists).
        bands: the bands feeding the model, as 1-based band numbers or band
            descriptions (one list, or None, per raster for several rasters; a dict
            keyed like ``src`` when ``src`` is a dict). By default the
            model's band names are matched with the raster's band descriptions, or
            else all bands are used and their number must match the model's input.
        kind: ``"auto"`` tells from the model's shapes: ``"pixel"`` (input
            ``(bands,)``), ``"patch"`` (``(H, W, C)`` -> ``(n,)``) or ``"dense"``
            (``(H, W, C)`` -> ``(H, W, n)``); naming another kind is an error.
        probabilities: True for ``<dst stem>_probabilities.tif``, or a path, to also
            write the class probabilities (classification only).
        batch_size: items per model call: pixels for pixel models (default 4096),
            tiles for patch and dense models.
        window_size: side in pixels of the windows a pixel model reads and writes
            at a time; bounds memory.
        tile_size, overlap: the tiles of patch and dense models, in pixels (see
            :func:`tile_layout` for the defaults). Dense models blend overlapping
            tiles smoothly (:mod:`rskeras.inference.dense`); patch models predict
            one cell of ``tile_size - overlap`` pixels per patch
            (:mod:`rskeras.inference.patch`).
        nodata: the nodata value of float32 outputs (default -9999).
        src_nodata: an extra input value to treat as nodata, for rasters that do not
            declare one (the raster's own nodata, masks and NaN always count).
        patch_output: for patch models, ``"coarse"`` (one output pixel per cell,
            transform scaled) or ``"pixel"`` (the source's grid).
        output: for a model with several outputs (e.g. M3Net's ``"height"``), the
            name of the one to write.
        progress: show a progress bar (windows, tiles or rows of patches done, time left).

    Returns:
        A :class:`PredictionResult`.
    """
    start = time.perf_counter()
    check_prediction_outputs(dst, probabilities, src)
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if patch_output not in LAYOUTS:
        raise ValueError(f"unknown patch_output {patch_output!r}; choose one of {', '.join(LAYOUTS)}")
    model = select_output(load_model(model), output)
    meta = model_metadata(model)
    runner = ModelRunner(model)
    if isinstance(src, dict):
        src, bands = _by_input_name(runner.input_names, src, bands)
    paths = [Path(p) for p in ([src] if isinstance(src, (str, os.PathLike)) else src)]
    if len(paths) != runner.n_inputs:
        raise ValueError(
            f"the model takes {runner.n_inputs} input(s) but {len(paths)} raster(s) were given: "
            f"{[str(p) for p in paths]}; give one aligned raster per model input"
        )
    dst = Path(dst)
    detected = model_kind(meta.input_shapes, runner.output_shape)
    if kind not in ("auto", detected):
        raise ValueError(
            f"kind={kind!r} does not fit the model: its input shapes {meta.input_shapes} and output shape "
            f"{runner.output_shape} make it a {detected!r} model (pixel: (bands,) -> (n,); "
            "patch: (height, width, bands) -> (n,); dense: (height, width, bands) -> (height, width, n))"
        )
    resolved = detected

    norms = input_normalizations(model)
    with contextlib.ExitStack() as stack:
        sources = []
        for i, (path, chosen) in enumerate(zip(paths, _per_source_bands(bands, len(paths)))):
            ds = stack.enter_context(open_raster(path))
            n_bands = meta.input_shapes[i][-1]
            indexes = select_bands(ds, path, n_bands, norms[i].band_names if norms[i] else None, chosen)
            sources.append(Source(path, ds, indexes, src_nodata))
        check_aligned(sources)
        plan = plan_outputs(meta.task, runner.output_shape[-1], meta.class_names, dst, probabilities, nodata)
        first = sources[0].dataset
        grid = {"crs": first.crs, "transform": first.transform, "width": first.width, "height": first.height}
        if resolved != "pixel":
            tile, overlap = tile_layout(resolved, meta.input_shapes[0], tile_size, overlap)
        strip = (window_size if resolved == "pixel" else tile) + TILE  # rows in use at a time, and a block row
        cache = block_cache_mib(
            [(strip, s.dataset.width, len(s.indexes), s.dataset.dtypes[0]) for s in sources]
            + [(strip, first.width, spec.count, spec.dtype) for spec in plan.specs]
        )
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=cache))
        if resolved == "pixel":
            with GeoTIFFOutputs(grid, plan.specs) as outputs:
                n_valid, n_nodata = predict_pixels(
                    runner, sources, plan, outputs, window_size, batch_size or 4096, progress
                )
        else:
            fills = nodata_fills(norms, [len(s.indexes) for s in sources])
            batch = batch_size or max(1, 2**19 // (tile * tile))
            if resolved == "dense":
                with GeoTIFFOutputs(grid, plan.specs) as outputs:
                    n_valid, n_nodata = predict_dense(
                        runner, sources, fills, plan, outputs, tile, overlap, batch, progress
                    )
            else:
                if patch_output == "coarse":
                    stride, n_rows, n_cols = patch_grid(first.height, first.width, tile, overlap)
                    grid.update(transform=first.transform @ Affine.scale(stride), width=n_cols, height=n_rows)
                with GeoTIFFOutputs(grid, plan.specs) as outputs:
                    n_valid, n_nodata = predict_patches(
                        runner, sources, fills, plan, outputs, tile, overlap, batch, patch_output, progress
                    )
    return PredictionResult(
        dst=dst,
        probabilities=plan.probabilities,
        kind=resolved,
        task=plan.task,
        n_pixels=n_valid,
        n_nodata=n_nodata,
        class_names=plan.class_names,
        seconds=time.perf_counter() - start,
    )
