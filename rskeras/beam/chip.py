"""``chip_scenes``: many scenes and their labels -> training patches in Earth Engine's TFRecord layout, with Beam.

The driver opens the scenes and labels and plans the windows exactly as :func:`rskeras.data.raster_dataset`
does (:func:`rskeras.data.raster_patches.open_patches`: the same sampler, split, seed and class table). Beam then
reads the windows in tasks of at most ``windows_per_task`` windows of one scene, each with the same
:class:`~rskeras.data.raster_patches.PatchReader` (so the same nodata and label rules: a window invalid in more than
``max_nodata`` of its pixels, or without a label, is skipped; unlabelled or nodata pixels of a dense target get
``ignore_value``), and writes:

- ``<prefix>-NNNNN.tfrecord.gz``: one ``tf.train.Example`` per patch
  (:func:`rskeras.data.ee_records.example_codec.encode_patch`): every band a ``float_list`` of ``height * width`` raw values (0 where the image is invalid), the target as band
  ``label`` (``dense``: class index or value per pixel) or as a scalar property ``label`` (``majority``,
  ``centre``), and the window's ``scene`` (index in the metadata's list), ``row`` and ``col`` (top-left pixel on
  the scene's grid) as scalar properties;
- ``band_stats.json``: count, mean, std and ranges per band over the valid pixels of the written patches, merged
  with a Beam combiner (:meth:`rskeras.data.ee_records.stats.RunningBandStats.merge`);
- ``<prefix>.json``: bands, label, target, classes, patch size, the scenes, what each gave, the files, the
  scenes that could not be read. Written last: its presence marks a complete set.

Read the patches back with ``rskeras.data.ee_patch_dataset(files, bands, label="label", patch_size=...,
label_dtype="int32")``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rskeras.beam.options import pipeline_options as beam_options
from rskeras.beam.options import require_beam
from rskeras.beam.scene_lists import read_scene_list, readable
from rskeras.io import atomic_write_text, check_output, exists, is_url

try:
    from apache_beam import CombineFn, DoFn
    from apache_beam.pvalue import TaggedOutput
except ImportError:  # the optional extra: chip_scenes says how to install it
    CombineFn = DoFn = object

PROPERTIES = ("scene", "row", "col")
LABEL_KINDS = {"dense": "band", "majority": "scalar", "centre": "scalar"}


@dataclass(frozen=True)
class ChipResult:
    """What :func:`chip_scenes` wrote.

    Attributes:
        files: the TFRecord shards.
        metadata: ``<prefix>.json``; stats: ``band_stats.json``.
        written: patches written; skipped: windows skipped (nodata or no label).
        bands: the image bands of each record, in order; label: the label feature, or None.
        class_names: the class of each label index, or None.
        failed: ``{scene: why}`` of the scenes that could not be read (the others were chipped).
    """

    files: tuple[str, ...]
    metadata: str
    stats: str
    written: int
    skipped: int
    bands: tuple[str, ...]
    label: str | None
    class_names: tuple[str, ...] | None
    failed: dict[str, str]


def chip_scenes(
    scenes,
    out_dir: str | os.PathLike,
    labels: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    patch_size: int | Sequence[int] = 64,
    sampler: Literal["random", "grid"] | object = "grid",
    target: str = "dense",
    label_name: str = "label",
    prefix: str = "patches",
    patches_per_file: int = 1000,
    windows_per_task: int = 128,
    overwrite: bool = False,
    pipeline_options: Sequence[str] | object | None = None,
    **reader_options,
) -> ChipResult:
    """Chip ``scenes`` (and ``labels``) into Earth Engine layout TFRecords in ``out_dir`` with a Beam pipeline.

    Args:
        scenes: rasters, a glob pattern (local or ``gs://``) or a CSV with ``scene`` (and ``label``) columns
            (:func:`rskeras.beam.scene_lists.read_scene_list`); or any ``images`` of
            :func:`rskeras.data.raster_dataset` (mappings, stacked files).
        out_dir: the output folder (local or ``gs://``).
        labels: as for :func:`rskeras.data.raster_dataset` (one raster, one per scene, or a vector file); None
            takes a CSV's ``label`` column, else chips images only.
        patch_size: ``(height, width)`` or one side, pixels.
        sampler: ``"grid"`` (default), ``"random"``, or a :class:`rskeras.data.GridSampler` /
            :class:`rskeras.data.RandomSampler` (one epoch of its windows is written).
        target: ``"dense"``, ``"majority"`` or ``"centre"`` (see :mod:`rskeras.data.raster_patches`).
        label_name: the feature name of the target.
        prefix: shard file name start: ``<prefix>-00000.tfrecord.gz``.
        patches_per_file: about this many records per shard (the number of shards is the windows planned over it).
        windows_per_task: windows read by one Beam element (all of one scene).
        overwrite: replace an earlier set with this prefix (else refused).
        pipeline_options: Beam flags (``["--runner", "DirectRunner", "--direct_num_workers", "2"]``) or
            ``PipelineOptions``; None runs in this process.
        **reader_options: the other options of :func:`rskeras.data.raster_dataset` (``bands``, ``sensor``,
            ``split``, ``subset``, ``label_column``, ``classes``, ``values``, ``ignore_value``, ``max_nodata``,
            ``crs``, ``resolution``, ``buffer``, ``seed``, ...).

    Raises:
        ValueError / KeyError / FileNotFoundError naming the file, band or option at fault, before any patch is
        read (as :func:`rskeras.data.raster_dataset`); ValueError when no scene can be read, when no window is
        kept, or for an earlier set without ``overwrite``.
    """
    beam = require_beam()
    from rskeras.data.raster_patches import open_patches

    if target not in LABEL_KINDS:
        raise ValueError(f"target {target!r} cannot be written as patches; choose one of {', '.join(LABEL_KINDS)}")
    options = beam_options(pipeline_options)
    images, labels, failed = _inputs(scenes, labels)
    out_dir = os.fspath(out_dir)
    paths = _check_out_dir(out_dir, prefix, overwrite, patches_per_file, windows_per_task,
                           inputs=_input_paths(images, labels))
    opened = open_patches(images, labels, patch_size=patch_size, sampler=sampler, target=target, **reader_options)
    reader = opened.reader
    layout = _Layout(tuple(opened.band_names), label_name if reader.labels is not None else None,
                     LABEL_KINDS[target] if reader.labels is not None else None)
    windows = opened.plan.windows(0)
    meta = _metadata(opened, layout, target, failed, len(windows))
    _remove_previous(out_dir, prefix, paths)  # a complete set is only here with overwrite; an incomplete one goes
    with beam.Pipeline(options=options) as pipeline:
        tasks = pipeline | "Windows" >> beam.Create(_tasks(windows, windows_per_task))
        read = tasks | "Read patches" >> beam.ParDo(_ChipFn(reader, layout)).with_outputs("stats", "counts",
                                                                                            main="records")
        files = read.records | "Write shards" >> beam.io.WriteToTFRecord(
            os.path.join(out_dir, prefix), file_name_suffix=".tfrecord.gz", shard_name_template="-SSSSS",
            num_shards=max(1, math.ceil(len(windows) / patches_per_file)))
        stats = read.stats | "Band statistics" >> beam.CombineGlobally(_StatsCombineFn(layout.bands))
        _ = stats | "Write side files" >> beam.Map(
            _write_side_files, meta, paths, beam.pvalue.AsList(read.counts), beam.pvalue.AsList(files))
    return _result(paths, layout, opened.class_names, failed)


@dataclass(frozen=True)
class _Layout:
    """The record layout: image bands, the label feature (or None) and whether it is a ``band`` or ``scalar``."""

    bands: tuple[str, ...]
    label: str | None
    label_kind: str | None

    def __post_init__(self):
        taken = set(self.bands) & ({*PROPERTIES, self.label} - {None})
        if taken:
            raise ValueError(f"band name(s) {sorted(taken)} are also record properties ({', '.join(PROPERTIES)}) "
                             f"or the label_name {self.label!r}; rename the bands or choose another label_name")


def _inputs(scenes, labels) -> tuple[object, object, dict[str, str]]:
    """``(images, labels, failed)``: a scene list expanded, its unreadable scenes set aside (and their labels)."""
    if not isinstance(scenes, (str, os.PathLike)) and not (
            isinstance(scenes, Sequence) and all(isinstance(s, (str, os.PathLike)) for s in scenes)):
        return scenes, labels, {}
    paths, csv_labels = read_scene_list(scenes)
    ok, why = readable(paths)
    if not ok:
        raise ValueError("no scene can be read: " + "; ".join(why.values()))
    per_scene = csv_labels if labels is None else labels
    if per_scene is not None and not isinstance(per_scene, (str, os.PathLike)) and len(per_scene) == len(paths):
        per_scene = [per_scene[i] for i in ok]
    return [paths[i] for i in ok], per_scene, {paths[i]: reason for i, reason in why.items()}


def _output_paths(out_dir: str, prefix: str) -> dict[str, str]:
    return {"metadata": os.path.join(out_dir, f"{prefix}.json"), "stats": os.path.join(out_dir, "band_stats.json")}


def _input_paths(*specs) -> list[str]:
    """The file paths among the scenes and labels (each a path or a list of them; other forms hold none)."""
    found = []
    for spec in specs:
        items = spec if isinstance(spec, Sequence) and not isinstance(spec, str) else [spec]
        found += [os.fspath(item) for item in items if isinstance(item, (str, os.PathLike))]
    return found


def _check_out_dir(out_dir: str, prefix: str, overwrite: bool, patches_per_file: int,
                   windows_per_task: int, inputs: list[str]) -> dict[str, str]:
    """Refuse the outputs before any work (an ``out_dir`` that is, holds or lies in an input too); returns the
    side files' paths."""
    if min(patches_per_file, windows_per_task) < 1:
        raise ValueError(f"patches_per_file and windows_per_task must be >= 1, got {patches_per_file}, "
                         f"{windows_per_task}")
    if not prefix or "/" in prefix or os.sep in prefix or prefix.startswith("."):
        raise ValueError(f"prefix {prefix!r} must be a plain file name start (no folder, not hidden)")
    check_output(out_dir, what="out_dir", folder=True, inputs=inputs)
    paths = _output_paths(out_dir, prefix)
    if exists(paths["metadata"]) and not overwrite:
        raise ValueError(f"out_dir {out_dir} already holds patches {os.path.basename(paths['metadata'])} of an "
                         "earlier run; pass overwrite=True to replace them, or give another prefix or out_dir")
    return paths


def _remove_previous(out_dir: str, prefix: str, paths: dict[str, str]) -> None:
    """Remove an earlier set's metadata first (the set is then incomplete), then its shards (local folders)."""
    from rskeras.data.ee_records.chips import _remove_previous_outputs
    from rskeras.data.ee_records.mixer import MIXER_SUFFIX

    if is_url(out_dir) or not os.path.isdir(out_dir):
        return
    for path in paths.values():
        if os.path.exists(path):
            os.unlink(path)
    _remove_previous_outputs(out_dir, prefix, set(), os.path.join(out_dir, f"{prefix}-{MIXER_SUFFIX}"))


def _tasks(windows: np.ndarray, size: int) -> list[tuple[int, np.ndarray]]:
    """``(scene, windows (k, 3))`` of at most ``size`` windows each, one scene per task, in plan order."""
    tasks = []
    for scene in np.unique(windows[:, 0]):
        mine = windows[windows[:, 0] == scene]
        tasks += [(int(scene), mine[i:i + size]) for i in range(0, len(mine), size)]
    return tasks


class _ChipFn(DoFn):
    """``(scene, windows)`` -> serialized records; tagged ``stats``: a RunningBandStats of the kept patches' valid
    pixels; ``counts``: ``(scene, windows, written)``."""

    def __init__(self, reader, layout: _Layout):
        self.reader, self.layout = reader, layout

    def process(self, task):
        from rskeras.data.ee_records.example_codec import encode_patch
        from rskeras.data.ee_records.stats import RunningBandStats

        scene, windows = task
        images, targets, valid, kept = self.reader.read(windows)
        images = images.transpose(0, 2, 3, 1)  # (n, H, W, bands)
        stats = RunningBandStats(list(self.layout.bands))
        stats.update(images[valid])
        layout = self.layout
        names = list(layout.bands) + ([layout.label] if layout.label_kind == "band" else [])
        for i, position in enumerate(kept):
            patch, properties = images[i], dict(zip(PROPERTIES, windows[position].astype(np.float32)))
            if layout.label_kind == "band":
                patch = np.concatenate([patch, targets[i].astype(np.float32)], axis=-1)
            elif layout.label_kind == "scalar":
                properties[layout.label] = np.float32(targets[i])
            yield encode_patch(patch, names, properties)
        yield TaggedOutput("stats", stats)
        yield TaggedOutput("counts", (scene, len(windows), len(kept)))


class _StatsCombineFn(CombineFn):
    """Merges the tasks' RunningBandStats (Chan's merge: exact count, mean, std, min and max)."""

    def __init__(self, bands: Sequence[str]):
        self.bands = list(bands)

    def create_accumulator(self):
        from rskeras.data.ee_records.stats import RunningBandStats

        return RunningBandStats(self.bands)

    def add_input(self, accumulator, part):
        return accumulator.merge(part)

    def merge_accumulators(self, accumulators):
        accumulators = iter(accumulators)
        merged = next(accumulators)
        for other in accumulators:
            merged.merge(other)
        return merged

    def extract_output(self, accumulator):
        return accumulator


def _metadata(opened, layout: _Layout, target: str, failed: dict[str, str], n_windows: int) -> dict:
    """The content of ``<prefix>.json`` known before the run (counts and files are added at the end)."""
    reader = opened.reader
    return {
        "scenes": [scene.name for scene in reader.scenes],
        "labels": reader.labels.source if reader.labels is not None else None,
        "bands": list(layout.bands),
        "label": layout.label,
        "label_kind": layout.label_kind,
        "target": target,
        "class_names": opened.class_names,
        "ignore_value": reader.ignore_value if reader.labels is not None and reader.labels.kind == "classes" else None,
        "patch_size": list(reader.patch),
        "properties": list(PROPERTIES),
        "windows": n_windows,
        "failed": failed,
    }


def _write_side_files(stats, meta: dict, paths: dict[str, str], counts: list, files: list) -> None:
    """Write ``band_stats.json`` and, last, ``<prefix>.json`` (nothing when no patch was kept)."""
    from rskeras.data.ee_records.stats import band_stats_json

    per_scene = {}
    for scene, windows, written in counts:
        seen = per_scene.setdefault(scene, [0, 0])
        seen[0] += windows
        seen[1] += written
    written = sum(w for _, w in per_scene.values())
    if written == 0:
        return
    atomic_write_text(paths["stats"], band_stats_json(stats.result()))
    meta = {**meta, "written": written, "skipped": meta["windows"] - written,
            "per_scene": [{"scene": meta["scenes"][s], "windows": n, "written": w}
                          for s, (n, w) in sorted(per_scene.items())],
            "files": sorted(os.path.basename(f) for f in files)}
    atomic_write_text(paths["metadata"], json.dumps(meta, indent=1) + "\n")


def _result(paths: dict[str, str], layout: _Layout, class_names, failed: dict[str, str]) -> ChipResult:
    """The result, read back from ``<prefix>.json``."""
    from rskeras.data.ee_records._io import read_json_object

    if not exists(paths["metadata"]):
        raise ValueError("no window of the scenes was kept (each was nodata in more than max_nodata of its pixels, "
                         "or held no label); nothing was written")
    meta = read_json_object(paths["metadata"], "patch metadata")
    folder = os.path.dirname(paths["metadata"])
    return ChipResult(tuple(os.path.join(folder, f) for f in meta["files"]), paths["metadata"], paths["stats"],
                      meta["written"], meta["skipped"], layout.bands, layout.label,
                      tuple(class_names) if class_names else None, failed)

