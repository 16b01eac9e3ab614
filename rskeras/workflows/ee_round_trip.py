"""The Earth Engine round trip in one call: an image export in, upload-ready predictions out."""

from __future__ import annotations

import os
from typing import Sequence

import keras
import numpy as np

from rskeras.data.ee_records.scene import check_prediction_outputs, locate_export, predict_scene, read_scene_export
from rskeras.inference.runner import load_model, select_output
from rskeras.models.metadata import check_input_contract, model_metadata
from rskeras.tasks import Task, get_task

OUTPUTS = ("auto", "classes", "probabilities", "values")


class _ScenePredictor:
    """Adapts a Keras model to what ``predict_scene`` calls: float32 ``(n, h, w, k)`` per batch.

    With ``decode`` (a task) the bands are the task's classes (:meth:`rskeras.tasks.Task.decode`):
    one band for ``multiclass`` and ``binary``, one per label for ``multilabel``.
    """

    def __init__(self, model: keras.Model, decode: Task | None):
        self.model = model
        self.decode = decode

    def predict_on_batch(self, x) -> np.ndarray:
        y = np.asarray(self.model.predict_on_batch(x), dtype=np.float32)
        if self.decode is None:
            return y
        classes = self.decode.decode(y).astype(np.float32)
        return classes if self.decode.name == "multilabel" else classes[..., None]


def _inputs(model, files, paths: list[str], mixer) -> list[str]:
    """What ``predict_ee_export`` reads (the patterns too), which its outputs must neither be nor match."""
    sources = [files] if isinstance(files, (str, os.PathLike)) else list(files)
    sources += paths + [m for m in (model, mixer) if isinstance(m, (str, os.PathLike))]
    return [os.fspath(p) for p in sources]


def output_band_names(model: keras.Model, output: str) -> list[str]:
    """Band names for the predictions of ``model``: ``class``, ``probability_<class>`` or ``value[_i]``."""
    meta = model_metadata(model)
    n = model.outputs[0].shape[-1]
    if output == "classes" and meta.task == "multilabel":
        return [f"class_{name}" for name in meta.class_names or range(n)]
    if output == "classes":
        return ["class"]
    if output == "probabilities":
        names = meta.class_names or [str(i) for i in range(n)]
        return [f"probability_{name}" for name in names]
    return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]


def predict_ee_export(
    model: keras.Model | str | os.PathLike,
    files,
    dst: str | os.PathLike,
    bands: Sequence[str],
    *,
    kernel_size: int | Sequence[int] = 0,
    mixer: str | os.PathLike | None = None,
    output: str = "auto",
    model_output: str | None = None,
    batch_size: int = 8,
    compression: str | None = "auto",
) -> tuple[str, str]:
    """Predict an Earth Engine image export and write the TFRecord + mixer.json Earth Engine uploads.

    Args:
        model: a fully convolutional model (or a ``.keras`` path) taking raw values of ``bands``.
        files: the export's TFRecord files (pattern or list), in Earth Engine's naming order.
        dst: the prediction TFRecord (``.tfrecord`` or ``.tfrecord.gz``); its mixer is written beside it.
        bands: the export's bands the model reads, in the model's channel order.
        kernel_size: the export's ``kernelSize`` (the buffer is cropped from the predictions).
        mixer: the export's ``mixer.json``; found beside the files when None.
        output: ``"classes"`` (one band, class index; one 0/1 band per label for multilabel),
            ``"probabilities"`` (one band per class),
            ``"values"`` (regression); ``"auto"``: classes for classification, else values.
        model_output: which output of a multi-output model (e.g. M3Net's ``"height"``).
        batch_size: patches per model call.
        compression: ``"auto"``: GZIP exactly when ``dst`` ends in ``.gz``; ``"GZIP"`` or None must agree.

    Returns:
        ``(tfrecord path, mixer.json path)``, patches in the export's order, without buffer.

    Raises:
        BandError: ``bands`` are not the model's band names in its order (both lists named); values far
            outside the model's training ranges in the first patches give an ``InputRangeWarning``.
        ValueError: before any work, for an output that is an input (the export's records, its mixer,
            the model), matches the input pattern or is not ``*.tfrecord[.gz]``; then for a model or
            an export that does not fit (see :func:`~rskeras.data.read_scene_export`), a truncated
            export file (named), or fewer patches than the mixer says (nothing is written).
    """
    if output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
    paths, mixer = locate_export(files, mixer)
    check_prediction_outputs(dst, None, _inputs(model, files, paths, mixer), compression)
    model = select_output(load_model(model), model_output)
    if len(model.inputs) != 1 or len(model.inputs[0].shape) != 4:
        raise ValueError(f"model {model.name!r} is not a dense image model with one (height, width, bands) input")
    task = model_metadata(model).task
    if output == "auto":
        output = "classes" if task in ("multiclass", "binary") else "values"
    if output == "classes" and (task is None or not get_task(task).is_classification):
        raise ValueError(f"output='classes' needs a classification model; model {model.name!r} has task {task!r} "
                         "(use output='values')")
    scene = read_scene_export(paths, bands, mixer=mixer, kernel_size=kernel_size)
    check_input_contract(model, [scene.sample()], bands=[list(bands)], sources=[paths[0]])
    predictor = _ScenePredictor(model, get_task(task) if output == "classes" else None)
    return predict_scene(predictor, scene, dst, bands=output_band_names(model, output), batch_size=batch_size,
                         compression=compression)
