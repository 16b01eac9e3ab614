"""``predict_scenes``: a saved model over many scenes with Beam -> one map per scene and a summary table.

The pipeline is ``Create(scenes) | RunInference(SceneModelHandler) | summary.csv``. Beam's RunInference loads the
model once per worker (``load_model``) and hands it one scene at a time (batches of one: a scene is already
thousands of tiles); the handler runs :func:`rskeras.predict_raster` on it, so a scene's map is exactly the one
``predict_raster`` writes (tiles, nodata, COG, uncertainty, probabilities), and is renamed into place only when
complete (:mod:`rskeras.io`). Beam's ``TFModelHandlerNumpy`` would take tiles, not scenes, and leave the tiling,
the stitching of overlapping tiles and the writing to a second implementation; the scene handler keeps one.

Reruns and interruptions: a scene whose map exists is skipped (unless ``overwrite``), so a run that was killed
or failed is restarted with the same call and writes only the missing maps; an interrupted worker leaves only a
temporary file, which the next write of that map removes. ``<out_dir>/run.json`` names the model (its SHA-256)
and the options the maps were made with: a run with another model or other options into the same folder is
refused unless ``overwrite``.

``summary.csv`` holds one row per scene: ``scene``, ``map``, ``status`` (``written``, ``skipped``: the map was
there, or ``failed``), ``error`` (why it failed, the file named), ``seconds``, ``pixels`` (of the map),
``nodata_share`` (of the map's pixels) and, for class maps, ``area_ha:<class>`` per class
(:func:`rskeras.inference.vectors.class_areas`). A scene that fails does not stop the others.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rskeras.beam.options import pipeline_options as beam_options
from rskeras.beam.options import require_beam
from rskeras.beam.scene_lists import read_scene_list, readable
from rskeras.io import atomic_path, atomic_write_text, check_output, exists, is_url

try:
    from apache_beam.ml.inference.base import ModelHandler
except ImportError:  # the optional extra: predict_scenes says how to install it
    ModelHandler = object

SUMMARY = "summary.csv"
RUN_RECORD = "run.json"
#: predict_raster options that change the maps (recorded in run.json; a rerun must use the same).
MAP_OPTIONS = ("bands", "sensor", "kind", "probabilities", "tile_size", "overlap", "nodata", "src_nodata",
               "patch_output", "output", "cog", "uncertainty", "passes")


@dataclass(frozen=True)
class ScenesResult:
    """What :func:`predict_scenes` did.

    Attributes:
        rows: the summary table, one dict per scene (see the module).
        summary: the path of ``summary.csv``.
        failed: ``{scene: why}`` of the scenes without a map.
    """

    rows: tuple[dict, ...]
    summary: str
    failed: dict[str, str]

    @property
    def written(self) -> int:
        """Maps written by this run."""
        return sum(row["status"] == "written" for row in self.rows)

    @property
    def skipped(self) -> int:
        """Maps that were already there."""
        return sum(row["status"] == "skipped" for row in self.rows)


def predict_scenes(
    model: str | os.PathLike,
    scenes,
    out_dir: str | os.PathLike,
    *,
    overwrite: bool = False,
    pipeline_options: Sequence[str] | object | None = None,
    **predict_options,
) -> ScenesResult:
    """Apply the saved ``model`` to every scene with a Beam pipeline: ``<out_dir>/<scene stem>.tif`` each, and
    ``<out_dir>/summary.csv``.

    Args:
        model: a ``.keras`` file, or an ``.onnx`` / ``.tflite`` file written by :func:`rskeras.export` (local or
            ``gs://``).
        scenes: rasters, a glob pattern (local or ``gs://``) or a CSV with a ``scene`` column
            (:func:`rskeras.beam.scene_lists.read_scene_list`); one raster per scene, all with the same bands.
        out_dir: the output folder (local or ``gs://``).
        overwrite: predict every scene again, also into a folder of another model's maps.
        pipeline_options: Beam flags (``["--runner", "DirectRunner", "--direct_num_workers", "2"]``) or
            ``PipelineOptions``; None runs in this process.
        **predict_options: options of :func:`rskeras.predict_raster` (``bands``, ``tile_size``, ``cog``,
            ``uncertainty``, ``probabilities=True``, ``batch_size``, ``max_memory``, ...).

    Returns:
        The summary; scenes that failed are in ``failed`` (and in the table with their error).

    Raises:
        ValueError naming the file or option at fault, before any map is written: no scene can be read, scenes
        with different band layouts, two scenes of one name, an unknown option, maps of another model in
        ``out_dir`` without ``overwrite``, runner options Beam does not know.
    """
    beam = require_beam()
    from apache_beam.ml.inference.base import RunInference

    options = beam_options(pipeline_options)
    _check_predict_options(predict_options)
    paths, _ = read_scene_list(scenes)
    ok, failed = readable(paths)
    if not ok:
        raise ValueError("no scene can be read: " + "; ".join(failed.values()))
    _check_band_layouts([paths[i] for i in ok])
    out_dir = os.fspath(out_dir)
    check_output(out_dir, what="out_dir", folder=True, inputs=paths + [os.fspath(model)])
    jobs = _jobs(paths, out_dir, overwrite, failed)
    _record_run(out_dir, os.fspath(model), predict_options, overwrite)
    handler = SceneModelHandler(os.fspath(model), predict_options, worker_threads(options))
    summary = os.path.join(out_dir, SUMMARY)
    with beam.Pipeline(options=options) as pipeline:
        rows = (pipeline | "Scenes" >> beam.Create(jobs)
                | "Predict" >> RunInference(handler))
        _ = (rows | "Table" >> beam.combiners.ToList()
             | "Write summary" >> beam.Map(write_summary, summary))
    rows = tuple(_read_summary(summary))
    return ScenesResult(rows, summary, {row["scene"]: row["error"] for row in rows if row["status"] == "failed"})


def _check_predict_options(options: dict) -> None:
    import inspect

    from rskeras.inference.predict import predict_raster
    from rskeras.inference.tiling import check_count

    known = set(inspect.signature(predict_raster).parameters) - {"model", "src", "dst", "progress"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"predict_scenes: unknown option(s) {', '.join(unknown)}; the options of predict_raster are "
                         f"{', '.join(sorted(known))}")
    for name, minimum, unit in (("tile_size", 1, "pixels"), ("overlap", 0, "pixels"), ("batch_size", 1, ""),
                                ("window_size", 1, "pixels")):
        check_count(name, options.get(name), minimum, unit)  # before any scene, not once per scene
    if options.get("probabilities") not in (None, False, True):
        raise ValueError("probabilities= must be True (each map's <stem>_probabilities.tif) or False for many scenes")


def _check_band_layouts(paths: list[str]) -> None:
    """Refuse scenes with different band counts or names (each listed) before any work."""
    from rskeras.data.rasters import band_names, open_raster

    layouts: dict[tuple, list[str]] = {}
    for path in paths:
        with open_raster(path) as ds:
            layouts.setdefault((ds.count, tuple(band_names(ds))), []).append(path)
    if len(layouts) > 1:
        listing = "; ".join(f"{', '.join(found[:2])}{' ...' if len(found) > 2 else ''}: {count} bands "
                            f"({', '.join(names)})" for (count, names), found in layouts.items())
        raise ValueError(f"scenes: the scenes have different band layouts ({listing}); map scenes of one product "
                         "in one run")


def _jobs(paths: list[str], out_dir: str, overwrite: bool, failed: dict[int, str]) -> list[dict]:
    """One job per scene: its map path (``<stem>.tif``), or the reason it cannot be read."""
    seen: dict[str, str] = {}
    jobs = []
    for i, path in enumerate(paths):
        stem = Path(path).name.split(".")[0]
        if stem in seen:
            raise ValueError(f"scenes {seen[stem]} and {path} would both be mapped to {stem}.tif; rename one")
        seen[stem] = path
        jobs.append({"scene": path, "map": os.path.join(out_dir, f"{stem}.tif"), "overwrite": overwrite,
                     "error": failed.get(i)})
    return jobs


def model_digest(path: str) -> str:
    """SHA-256 of the model file (a folder: of its files in name order)."""
    import tensorflow as tf

    digest = hashlib.sha256()
    files = [path] if not tf.io.gfile.isdir(path) else sorted(
        os.path.join(root, name) for root, _, names in tf.io.gfile.walk(path) for name in names)
    for name in files:
        with tf.io.gfile.GFile(name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _record_run(out_dir: str, model: str, options: dict, overwrite: bool) -> None:
    """Write ``run.json``; refuse a folder whose maps another model or other options made (unless ``overwrite``)."""
    import tensorflow as tf

    from rskeras.data.ee_records._io import read_json_object

    if not tf.io.gfile.exists(model):
        raise FileNotFoundError(f"model file {model} does not exist")
    record = {"model": model, "model_sha256": model_digest(model),
              "options": {k: options.get(k) for k in MAP_OPTIONS if options.get(k) is not None}}
    path = os.path.join(out_dir, RUN_RECORD)
    if tf.io.gfile.exists(path) and not overwrite:
        old = read_json_object(path, "run record")
        if (old.get("model_sha256"), old.get("options")) != (record["model_sha256"], record["options"]):
            raise ValueError(f"out_dir {out_dir} holds maps of another model or other options ({path}: model "
                             f"{old.get('model')}, options {old.get('options')}; now: model {model}, options "
                             f"{record['options']}); pass overwrite=True to predict every scene again, or give "
                             "another out_dir")
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")


class SceneModelHandler(ModelHandler):
    """Beam's ModelHandler for whole scenes: ``load_model`` opens the model once per worker, ``run_inference`` maps
    each job ``{"scene", "map", "overwrite", "error"}`` with :func:`rskeras.predict_raster` and returns its summary
    row."""

    def __init__(self, model: str, predict_options: dict, threads: int | None = None):
        super().__init__(min_batch_size=1, max_batch_size=1)
        self.model, self.predict_options, self.threads = model, dict(predict_options), threads

    def load_model(self):
        """A Keras model (a ``.keras`` file, copied from ``gs://`` first), or the path of an exported file.

        With ``threads``, TensorFlow in this worker process first gets that many threads (:func:`worker_threads`).
        """
        path = _local_copy(self.model)
        if Path(path).suffix.lower() != ".keras":
            return path
        import tensorflow as tf

        from rskeras.inference.runner import load_model

        if self.threads is not None:
            with contextlib.suppress(RuntimeError):  # TensorFlow already started in this process: it keeps its own
                tf.config.threading.set_intra_op_parallelism_threads(self.threads)
                tf.config.threading.set_inter_op_parallelism_threads(self.threads)
        return load_model(path)

    def run_inference(self, batch, model, inference_args=None) -> list[dict]:
        return [map_scene(model, job, self.predict_options) for job in batch]

    def get_num_bytes(self, batch) -> int:
        return len(batch)

    def get_metrics_namespace(self) -> str:
        return "rskeras_predict_scenes"


def worker_threads(options) -> int | None:
    """TensorFlow's threads in each worker process when local worker processes share this machine's cores.

    The DirectRunner's ``multi_processing`` mode runs ``direct_num_workers`` processes (0: one per core), each of
    whose TensorFlow would otherwise start a thread per core: each gets ``cores // workers`` (at least 1). On 2
    cores, 2 workers mapped 240 small scenes in 27.2-30.2 s with one thread each against 28.6-31.7 s with
    TensorFlow's default (4 runs each). Other runners and modes: None (TensorFlow's default).
    """
    from apache_beam.options.pipeline_options import DirectOptions, StandardOptions

    direct = options.view_as(DirectOptions)
    if options.view_as(StandardOptions).runner not in (None, "DirectRunner") or (
            direct.direct_running_mode != "multi_processing"):
        return None
    cores = os.cpu_count() or 1
    workers = direct.direct_num_workers or cores
    return max(1, cores // workers) if workers > 1 else None


def map_scene(model, job: dict, predict_options: dict) -> dict:
    """Map one scene (unless its map exists or it cannot be read) and return its summary row."""
    start = time.perf_counter()
    row = {"scene": job["scene"], "map": job["map"], "status": "failed", "error": job["error"] or ""}
    if job["error"]:
        return row
    try:
        if not job["overwrite"] and exists(job["map"]):
            row["status"] = "skipped"
        else:
            _predict(model, job["scene"], job["map"], predict_options)
            row["status"] = "written"
        row.update(map_summary(job["map"]))
    except Exception as err:  # noqa: BLE001  (a scene that fails is reported; the others go on)
        message = f"{type(err).__name__}: {err}"
        row["error"] = (message if job["scene"] in message else f"{job['scene']}: {message}").replace("\n", " ")
        row["status"] = "failed"
    row["seconds"] = round(time.perf_counter() - start, 3)
    return row


def _predict(model, scene: str, dst: str, options: dict) -> None:
    """``predict_raster`` into ``dst``; a ``gs://`` map is made locally, then copied (its side files first)."""
    from rskeras.inference.predict import predict_raster

    if not is_url(dst):
        predict_raster(model, scene, dst, progress=False, **options)
        return
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as folder:
        result = predict_raster(model, scene, os.path.join(folder, os.path.basename(dst)), progress=False, **options)
        made = [p for p in (result.probabilities, result.uncertainty) if p] + [result.dst]
        for path in made:  # the map last: its presence marks a complete scene
            with atomic_path(os.path.join(os.path.dirname(dst), path.name)) as tmp:
                tf.io.gfile.copy(os.fspath(path), tmp, overwrite=True)


def _local_copy(path: str) -> str:
    """``path``, or a local copy of a ``gs://`` file (Keras and the exported-model runtimes read local files)."""
    if not is_url(path):
        return path
    import tensorflow as tf

    local = os.path.join(tempfile.mkdtemp(prefix="rskeras-model-"), os.path.basename(path))
    tf.io.gfile.copy(path, local, overwrite=True)
    return local


def map_summary(path: str) -> dict:
    """``pixels``, ``nodata_share`` and, for a class map, ``area_ha:<class>`` of the map at ``path``."""
    from rskeras.data.rasters import open_raster
    from rskeras.inference.vectors import class_areas

    local = _local_copy(path)
    with open_raster(local) as ds:
        total = ds.width * ds.height
        nodata = sum(int((ds.read_masks(1, window=w) == 0).sum()) for _, w in ds.block_windows(1))
        classes = ds.dtypes[0] == "uint8"
    row = {"pixels": total, "nodata_share": round(nodata / total, 6)}
    if classes:
        row.update({f"area_ha:{c['name']}": round(c["area_ha"], 4) for c in class_areas(local)})
    return row


def write_summary(rows: list[dict], path: str) -> str:
    """Write the rows (scene order) as CSV, atomically; columns: the fixed ones, then the classes met."""
    fixed = ["scene", "map", "status", "error", "seconds", "pixels", "nodata_share"]
    extra = sorted({key for row in rows for key in row} - set(fixed))
    rows = [{**{key: 0 for key in extra if row["status"] != "failed"}, **row} for row in rows]  # absent classes: 0 ha
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fixed + extra, lineterminator="\n", restval="")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: row["scene"]))
    atomic_write_text(path, text.getvalue())
    return path


def _read_summary(path: str) -> list[dict]:
    import tensorflow as tf

    with tf.io.gfile.GFile(path) as f:
        return list(csv.DictReader(io.StringIO(f.read())))
