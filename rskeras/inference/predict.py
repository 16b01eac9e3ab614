"""``predict_raster``: a model applied to a whole scene, written as GeoTIFF.

Four named steps: open the model's runner (a Keras model or an ONNX / LiteRT file,
:func:`rskeras.inference.model_spec.open_runner`) and check its kind (:func:`_resolve_model`); open
the input rasters and choose their bands (:func:`rskeras.inference.sources.open_sources`);
plan the outputs and the work, checking tiles, batch and memory
(:func:`rskeras.inference.outputs.plan_outputs`, :func:`rskeras.inference.planning.plan_work`);
run the kind-specific loop (:func:`_run`). This module imports no TensorFlow: an ONNX file is mapped
with onnxruntime alone.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import rasterio
from rasterio.transform import Affine

from rskeras.data.rasters import BandError
from rskeras.data.sensors import SensorSpec
from rskeras.inference.dense import predict_dense
from rskeras.inference.model_spec import Runner, open_runner
from rskeras.inference.outputs import OutputPlan, check_prediction_outputs, plan_outputs
from rskeras.inference.patch import LAYOUTS, patch_grid, predict_patches
from rskeras.inference.pixel import predict_pixels
from rskeras.inference.planning import WorkPlan, plan_work
from rskeras.inference.sources import Source, open_sources
from rskeras.inference.stages import StageTimes
from rskeras.inference.uncertainty import DEFAULT_PASSES, UncertaintyRunner, check_uncertainty
from rskeras.inference.writer import GeoTIFFOutputs
from rskeras.layers.input_contract import check_inputs

KINDS = ("auto", "pixel", "patch", "dense")


@dataclass
class PredictionResult:
    """What :func:`predict_raster` wrote.

    Attributes:
        dst: the main output (class map or values).
        probabilities: the probabilities raster, or None.
        uncertainty: the uncertainty raster, or None.
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
        stage_seconds: seconds spent reading, padding, predicting, blending and writing
            (:mod:`rskeras.inference.stages`; read and pad overlap the others in a reader thread).
    """

    dst: Path
    probabilities: Path | None
    uncertainty: Path | None
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
    stage_seconds: dict[str, float]


def predict_raster(
    model,
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
    cog: bool = False,
    uncertainty: str | None = None,
    passes: int = DEFAULT_PASSES,
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
        model: a Keras model, a ``.keras`` file, or an ``.onnx`` / ``.tflite`` file written by
            :func:`rskeras.export` (run by onnxruntime / LiteRT; no TensorFlow needed for ONNX).
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
        batch_size: pixels (default 262,144) or tiles (default 2**19 pixels' worth) per model call; lowered
            to fit in memory when not given.
        window_size: window side of pixel models (default 512).
        tile_size, overlap: tiles of patch and dense models (:mod:`rskeras.inference.tiling`: rounded up
            to the model's downsampling multiple, clamped to the scene; default 256, dense overlap 1/4).
        nodata: nodata of float32 outputs (default -9999).
        src_nodata: an extra input value to treat as nodata.
        patch_output: patch models: ``"coarse"`` (one pixel per cell) or ``"pixel"`` (the source's grid).
        output: the output to write of a multi-output model (e.g. M3Net's ``"height"``).
        max_memory: the memory it may use (bytes or ``"4GiB"``; default most of what is free).
        cog: write Cloud-Optimised GeoTIFFs (internal tiles and overviews; :mod:`rskeras.inference.cog`).
        uncertainty: ``"tta"`` (the 8 flips and rotations of each tile; patch and dense models) or
            ``"mc_dropout"`` (``passes`` predictions with dropout on): the map from the mean prediction and
            ``<dst stem>_uncertainty.tif``, entropy in nats (classification) or the standard deviation in the
            target's units (regression) (:mod:`rskeras.inference.uncertainty`).
        passes: stochastic passes of ``uncertainty="mc_dropout"``.
        progress: show a progress bar.
    """
    start = time.perf_counter()
    check_prediction_outputs(dst, probabilities, src, uncertainty)
    _check_choice("kind", kind, KINDS)
    _check_choice("patch_output", patch_output, LAYOUTS)
    runner = _resolve_model(model, output, kind)
    spec = runner.spec
    check_uncertainty(uncertainty, spec, passes)
    paths, bands, sensors = input_rasters(src, bands, sensor, spec.input_names)
    plan = plan_outputs(spec.task, spec.output_shape[-1], spec.class_names, Path(dst), probabilities, nodata,
                        uncertainty=uncertainty, cog=cog)
    if uncertainty:
        runner = UncertaintyRunner(runner, uncertainty, passes)
    elif spec.kind == "pixel" and plan.classes_only:
        runner, plan = _decoding(runner, plan)
    with contextlib.ExitStack() as stack:
        sources = _open_sources(stack, paths, spec, bands, sensors, src_nodata)
        check_inputs(spec.contracts, [s.sample() for s in sources], sources=[str(s.path) for s in sources])
        work = plan_work(spec.kind, spec.probe, spec.input_shapes[0], sources, plan.specs, tile_size=tile_size,
                         overlap=overlap, batch_size=batch_size, window_size=window_size, max_memory=max_memory)
        for note in work.notes:
            warnings.warn(note, UserWarning, stacklevel=2)
        stack.enter_context(rasterio.Env(GDAL_CACHEMAX=work.cache_mib))
        times = StageTimes()
        n_valid, n_nodata = _run(work, runner, sources, plan, patch_output, progress, times)
    return PredictionResult(
        dst=plan.specs[0].path, probabilities=plan.probabilities, uncertainty=plan.path("uncertainty"),
        kind=spec.kind, task=plan.task, n_pixels=n_valid, n_nodata=n_nodata, class_names=plan.class_names,
        bands=[s.band_names for s in sources], tile_size=work.tile, overlap=work.overlap, batch_size=work.batch,
        seconds=time.perf_counter() - start, stage_seconds=times.seconds,
    )


def _decoding(runner: Runner, plan: OutputPlan) -> tuple[Runner, OutputPlan]:
    """A pixel model writing only its class map: the runner that decodes the classes in the model's call and the
    plan for its outputs, or both unchanged where the runner cannot (exported files).

    Pixel models only: dense and patch tiles are blended as probabilities before they are decoded.
    """
    decoding = runner.decoding()
    return (runner, plan) if decoding is None else (decoding, replace(plan, decoded=True))


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")


def _resolve_model(model, output: str | None, kind: str) -> Runner:
    """The runner of ``model`` computing ``output``, its kind checked against ``kind``."""
    runner = open_runner(model, output)
    spec = runner.spec
    if kind not in ("auto", spec.kind):
        raise ValueError(
            f"kind={kind!r} does not fit the model: its input shapes {spec.input_shapes} and output shape "
            f"{spec.output_shape} make it a {spec.kind!r} model (pixel: (bands,) -> (n,); "
            "patch: (height, width, bands) -> (n,); dense: (height, width, bands) -> (height, width, n))"
        )
    return runner


def input_rasters(src, bands, sensor, names: list[str]) -> tuple[list[Path], list, list]:
    """One path, band selection and sensor per model input (``names``, in the order the runner takes them).

    ``src``, ``bands`` and ``sensor`` are given as to :func:`predict_raster`.
    """
    if isinstance(src, dict):
        src = _keyed(names, src, "src", complete=True)
        if bands is not None and not isinstance(bands, dict):
            raise ValueError(f"with src as a dict give bands= as a dict keyed by input names ({', '.join(names)})")
        bands = _keyed(names, bands, "bands") if bands is not None else None
    if isinstance(sensor, dict):
        sensor = _keyed(names, sensor, "sensor")
    paths = [Path(p) for p in ([src] if isinstance(src, (str, os.PathLike)) else src)]
    if len(paths) != len(names):
        raise ValueError(
            f"the model takes {len(names)} input(s) but {len(paths)} raster(s) were given: "
            f"{[str(p) for p in paths]}; give one aligned raster per model input"
        )
    return paths, _per_source_bands(bands, len(paths)), _per_source_sensor(sensor, len(paths))


def _open_sources(stack: contextlib.ExitStack, paths: list[Path], spec, bands, sensors, src_nodata) -> list[Source]:
    """The input rasters with the bands that feed the model; a band error of a model file names the file."""
    try:
        return open_sources(stack, paths, spec.band_names, [shape[-1] for shape in spec.input_shapes], bands,
                            sensors, src_nodata)
    except BandError as err:
        if spec.source is None:
            raise
        raise BandError(f"model file {spec.source}: {err}") from None


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
    work: WorkPlan, runner: Runner, sources: list[Source], plan: OutputPlan, patch_output: str, progress: bool,
    times: StageTimes,
) -> tuple[int, int]:
    """Run the kind-specific loop of ``work``, writing ``plan``'s outputs; ``(n_pixels, n_nodata)``."""
    first = sources[0].dataset
    grid = {"crs": first.crs, "transform": first.transform, "width": first.width, "height": first.height}
    if work.kind == "pixel":
        with GeoTIFFOutputs(grid, plan.specs) as outputs:
            return predict_pixels(runner, sources, plan, outputs, work.window, work.batch, progress, times)
    fills = runner.spec.fills
    if work.kind == "dense":
        with GeoTIFFOutputs(grid, plan.specs) as outputs:
            return predict_dense(runner, sources, fills, plan, outputs, work.tile, work.overlap, work.batch, progress,
                                 times)
    if patch_output == "coarse":
        stride, n_rows, n_cols = patch_grid(first.height, first.width, work.tile, work.overlap)
        grid.update(transform=first.transform @ Affine.scale(stride), width=n_cols, height=n_rows)
    with GeoTIFFOutputs(grid, plan.specs) as outputs:
        return predict_patches(runner, sources, fills, plan, outputs, work.tile, work.overlap, work.batch,
                               patch_output, progress, times)
