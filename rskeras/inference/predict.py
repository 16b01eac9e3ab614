"""``predict_raster``: a model applied to a whole scene, written as GeoTIFF.

Four named steps: resolve the model and its kind (:func:`_resolve_model`); open
the input rasters and choose their bands (:func:`rskeras.inference.sources.open_sources`);
plan the outputs and the work, checking tiles, batch and memory
(:func:`rskeras.inference.outputs.plan_outputs`, :func:`rskeras.inference.planning.plan_work`);
run the kind-specific loop (:func:`_run`).
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import keras
import numpy as np
import rasterio
from rasterio.transform import Affine

from rskeras.data.sensors import SensorSpec
from rskeras.inference.dense import predict_dense
from rskeras.inference.outputs import OutputPlan, check_prediction_outputs, plan_outputs
from rskeras.inference.patch import LAYOUTS, patch_grid, predict_patches
from rskeras.inference.pixel import predict_pixels
from rskeras.inference.planning import WorkPlan, plan_work
from rskeras.inference.runner import ModelRunner, load_model, select_output
from rskeras.inference.sources import Source, open_sources
from rskeras.inference.writer import GeoTIFFOutputs
from rskeras.layers.normalization import BandNormalization
from rskeras.models.metadata import ModelMetadata, check_input_contract, input_normalizations, model_metadata

KINDS = ("auto", "pixel", "patch", "dense")


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
        bands: per input raster, the names of the bands read, in the model's order.
        tile_size, overlap: the tiles used (patch and dense models; None for pixel models).
        batch_size: items per model call (pixels or tiles).
        seconds: wall-clock time of the whole call.
    """

    dst: Path
    probabilities: Path | None
    kind: str
    task: str
    n_pixels: int
    n_nodata: int
    class_names: list[str] | None
    bands: list[list[str]]
    tile_size: int | None
    overlap: int | None
    batch_size: int
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


def predict_raster(
    model: keras.Model | str | os.PathLike,
    src: str | os.PathLike | Sequence[str | os.PathLike] | dict[str, str | os.PathLike],
    dst: str | os.PathLike,
    *,
    bands: Sequence[int | str] | Sequence[Sequence[int | str] | None] | dict | None = None,
    sensor: str | SensorSpec | Sequence[str | SensorSpec | None] | dict | None = None,
    kind: str = "auto",
    probabilities: str | os.PathLike | bool | None = None,
    batch_size: int | None = None,
    window_size: int | None = None,
    tile_size: int | None = None,
    overlap: int | None = None,
    nodata: float | None = None,
    src_nodata: float | None = None,
    patch_output: str = "coarse",
    output: str | None = None,
    max_memory: int | str | None = None,
    progress: bool = True,
) -> PredictionResult:
    """Apply ``model`` to every pixel of ``src`` and write the result to ``dst`` (GeoTIFF).

    The output has the source's grid; pixels that are nodata in any input band stay nodata. Classification
    writes a uint8 class map (nodata 255, class names, colour map) and optionally float32 probabilities;
    regression float32 values (nodata -9999) (:mod:`rskeras.inference.outputs`). Files appear only when
    complete. Bands, tiles, batch and memory are checked before any pixel is read
    (:mod:`rskeras.inference.planning`); what had to change is said in a warning, and so are band values far
    outside the model's training ranges in a few windows of the scene (:mod:`rskeras.layers.input_contract`).

    Args:
        model: a Keras model or a ``.keras`` file.
        src: the input raster; for several model inputs a list of aligned rasters in the order of
            ``model.inputs``, or a dict ``{input name: raster}``.
        dst: the output GeoTIFF (``.tif``; replaced if it exists).
        bands: 1-based band numbers or names (descriptions, ``band_<i>``, sensor band names), as for
            :func:`rskeras.data.sample_raster`; one list (or None) per raster, keyed like a dict ``src``.
            Default: the model's band names looked up in the raster's descriptions or ``sensor``'s names
            (:func:`rskeras.data.rasters.match_model_bands`).
        sensor: a :data:`rskeras.data.SENSORS` name naming the bands of rasters without descriptions;
            one for all rasters or one per raster.
        kind: ``"auto"`` (from the model's shapes), ``"pixel"``, ``"patch"`` or ``"dense"``.
        probabilities: True for ``<dst stem>_probabilities.tif``, or a path (classification only).
        batch_size: pixels (default 4096) or tiles (default 2**19 pixels' worth) per model call; lowered
            to fit in memory when not given.
        window_size: window side of pixel models (default 512).
        tile_size, overlap: tiles of patch and dense models (:mod:`rskeras.inference.tiling`: rounded up
            to the model's downsampling multiple, clamped to the scene; default 256, dense overlap 1/4).
        nodata: nodata of float32 outputs (default -9999).
        src_nodata: an extra input value to treat as nodata.
        patch_output: patch models: ``"coarse"`` (one pixel per cell) or ``"pixel"`` (the source's grid).
        output: the output to write of a multi-output model (e.g. M3Net's ``"height"``).
        max_memory: the memory it may use (bytes or ``"4GiB"``; default most of what is free).
        progress: show a progress bar.
    """
    start = time.perf_counter()
    check_prediction_outputs(dst, probabilities, src)
    _check_choice("kind", kind, KINDS)
    _check_choice("patch_output", patch_output, LAYOUTS)
    model, runner, meta, resolved = _resolve_model(model, output, kind)
    paths, bands, sensors = _input_rasters(src, bands, sensor, runner)
    plan = plan_outputs(meta.task, runner.output_shape[-1], meta.class_names, Path(dst), probabilities, nodata)
    with contextlib.ExitStack() as stack:
        sources = open_sources(stack, paths, meta.band_names, [shape[-1] for shape in meta.input_shapes],
                               bands, sensors, src_nodata)
        check_input_contract(model, [s.sample() for s in sources], sources=[str(s.path) for s in sources])
        work = plan_work(resolved, model, meta, sources, plan.specs, tile_size=tile_size, overlap=overlap,
                         batch_size=batch_size, window_size=window_size, max_memory=max_memory)
        for note in work.notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=work.cache_mib))
        n_valid, n_nodata = _run(work, runner, sources, plan, input_normalizations(model), patch_output, progress)
    return PredictionResult(
        dst=plan.specs[0].path, probabilities=plan.probabilities, kind=resolved, task=plan.task, n_pixels=n_valid,
        n_nodata=n_nodata, class_names=plan.class_names, bands=[s.band_names for s in sources],
        tile_size=work.tile, overlap=work.overlap, batch_size=work.batch, seconds=time.perf_counter() - start,
    )


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def _resolve_model(
    model: keras.Model | str | os.PathLike, output: str | None, kind: str
) -> tuple[keras.Model, ModelRunner, ModelMetadata, str]:
    """The model (one output), its runner and metadata, and its kind (checked against ``kind``)."""
    model = select_output(load_model(model), output)
    meta = model_metadata(model)
    runner = ModelRunner(model)
    detected = model_kind(meta.input_shapes, runner.output_shape)
    if kind not in ("auto", detected):
        raise ValueError(
            f"kind={kind!r} does not fit the model: its input shapes {meta.input_shapes} and output shape "
            f"{runner.output_shape} make it a {detected!r} model (pixel: (bands,) -> (n,); "
            "patch: (height, width, bands) -> (n,); dense: (height, width, bands) -> (height, width, n))"
        )
    return model, runner, meta, detected


def _input_rasters(src, bands, sensor, runner: ModelRunner) -> tuple[list[Path], list, list]:
    """One path, band selection and sensor per model input, in the order of ``model.inputs``."""
    names = runner.input_names
    if isinstance(src, dict):
        src = _keyed(names, src, "src", complete=True)
        if bands is not None and not isinstance(bands, dict):
            raise ValueError(f"with src as a dict give bands= as a dict keyed by input names ({', '.join(names)})")
        bands = _keyed(names, bands, "bands") if bands is not None else None
    if isinstance(sensor, dict):
        sensor = _keyed(names, sensor, "sensor")
    paths = [Path(p) for p in ([src] if isinstance(src, (str, os.PathLike)) else src)]
    if len(paths) != runner.n_inputs:
        raise ValueError(
            f"the model takes {runner.n_inputs} input(s) but {len(paths)} raster(s) were given: "
            f"{[str(p) for p in paths]}; give one aligned raster per model input"
        )
    return paths, _per_source_bands(bands, len(paths)), _per_source_sensor(sensor, len(paths))


def _keyed(names: list[str], values: dict, what: str, complete: bool = False) -> list:
    """``values`` keyed by model input name -> a list in input order (None where absent)."""
    unknown = sorted(set(values) - set(names))
    missing = [n for n in names if n not in values] if complete else []
    if unknown or missing:
        raise ValueError(
            f"{what} must be keyed by the model's input names ({', '.join(names)}); "
            f"missing {missing}, unknown {unknown}"
        )
    return [values.get(n) for n in names]


def _per_source_bands(bands, n_sources: int) -> list:
    """One band selection (or None) per input raster."""
    if bands is None:
        return [None] * n_sources
    if n_sources == 1:
        return [bands]
    if len(bands) != n_sources or not all(b is None or isinstance(b, (list, tuple)) for b in bands):
        raise ValueError(f"with {n_sources} input rasters give bands= as one list (or None) per raster, got {bands!r}")
    return list(bands)


def _per_source_sensor(sensor, n_sources: int) -> list:
    """One sensor (or None) per input raster: a single sensor applies to all."""
    if sensor is None or isinstance(sensor, (str, SensorSpec)):
        return [sensor] * n_sources
    if len(sensor) != n_sources:
        raise ValueError(f"with {n_sources} input rasters give sensor= as one name, or one (or None) per raster, "
                         f"got {sensor!r}")
    return list(sensor)


def _run(
    work: WorkPlan, runner: ModelRunner, sources: list[Source], plan: OutputPlan,
    norms: list[BandNormalization | None], patch_output: str, progress: bool,
) -> tuple[int, int]:
    """Run the kind-specific loop of ``work``, writing ``plan``'s outputs; ``(n_pixels, n_nodata)``."""
    first = sources[0].dataset
    grid = {"crs": first.crs, "transform": first.transform, "width": first.width, "height": first.height}
    if work.kind == "pixel":
        with GeoTIFFOutputs(grid, plan.specs) as outputs:
            return predict_pixels(runner, sources, plan, outputs, work.window, work.batch, progress)
    fills = nodata_fills(norms, [len(s.indexes) for s in sources])
    if work.kind == "dense":
        with GeoTIFFOutputs(grid, plan.specs) as outputs:
            return predict_dense(runner, sources, fills, plan, outputs, work.tile, work.overlap, work.batch, progress)
    if patch_output == "coarse":
        stride, n_rows, n_cols = patch_grid(first.height, first.width, work.tile, work.overlap)
        grid.update(transform=first.transform @ Affine.scale(stride), width=n_cols, height=n_rows)
    with GeoTIFFOutputs(grid, plan.specs) as outputs:
        return predict_patches(runner, sources, fills, plan, outputs, work.tile, work.overlap, work.batch,
                               patch_output, progress)
