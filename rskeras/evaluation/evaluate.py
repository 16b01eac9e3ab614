"""Evaluate a trained model on a dataset and write the report: ``metrics.json`` and ``confusion_matrix.png``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rskeras.evaluation.figures import confusion_matrix_figure
from rskeras.evaluation.metrics import (
    confusion_matrix,
    regression_report,
    report_from_confusion,
)
from rskeras.evaluation.segmentation import iou_from_confusion
from rskeras.io import atomic_paths, check_output
from rskeras.tasks import get_task


def _class_indices(y: np.ndarray, n_classes: int, like: np.ndarray) -> np.ndarray:
    """Integer labels from sparse labels or one-hot targets (of the prediction's shape)."""
    y = np.asarray(y)
    if y.shape == like.shape and n_classes > 1:
        return y.argmax(axis=-1)
    if y.ndim == like.ndim and y.shape[-1] == 1:
        y = y[..., 0]
    return y.astype(np.int64)


def evaluate_model(
    model,
    dataset,
    class_names: Sequence[str] | None = None,
    task: str | None = None,
    ignore_index: int | None = None,
    progress: bool = True,
    tta: bool = False,
) -> dict:
    """The accuracy report of ``model`` on ``dataset`` (batches of ``(inputs, targets)``).

    Classification (``multiclass``, ``binary``): overall accuracy, kappa, per-class precision,
    recall and F1, macro and weighted averages and the confusion matrix; for dense (per-pixel)
    outputs also per-class and mean IoU. Regression: MAE, RMSE, R² and bias.

    Args:
        model: a Keras model (task and class names are read from its ``TaskOutput``).
        dataset: an iterable of ``(inputs, targets)`` batches, e.g. a ``tf.data.Dataset``;
            targets are class indices (or one-hot) or values.
        class_names: class names (default: the model's, else ``"0"``, ``"1"``, ...).
        task: the task (default: the model's).
        ignore_index: a true class to leave out of dense evaluation (e.g. 255 for nodata).
        progress: show a progress bar over batches.
        tta: test-time augmentation: predict each image patch in its 8 flips and rotations
            (:data:`rskeras.inference.uncertainty.DIHEDRAL`; dense outputs turned back) and evaluate the mean.

    Returns:
        A JSON-ready dict with ``task``, the metrics, ``n`` (samples or pixels), ``tta`` and
        ``images_per_second`` (prediction throughput, augmented views included in the time).
    """
    from tqdm.auto import tqdm

    from rskeras.models.metadata import model_metadata

    meta = model_metadata(model)
    task = task or meta.task
    if task is None:
        raise ValueError(f"model {model.name!r} has no rskeras TaskOutput layer; pass task=")
    if task not in ("multiclass", "binary", "regression"):
        raise ValueError(f"evaluate_model handles multiclass, binary and regression models, not {task!r}")
    class_names = list(class_names or meta.class_names or [])
    predict = _augmented(model) if tta else model.predict_on_batch
    total = None
    if hasattr(dataset, "cardinality"):
        total = int(dataset.cardinality())
        total = total if total >= 0 else None
    n_images, elapsed = 0, 0.0
    cm, values, dense = None, [], False
    for x, y in tqdm(dataset, total=total, desc="evaluating", unit="batch", disable=not progress):
        start = time.perf_counter()
        p = np.asarray(predict(x))
        elapsed += time.perf_counter() - start
        n_images += len(p)
        if task == "regression":
            values.append((np.asarray(y, dtype=np.float64).reshape(p.shape), p))
            continue
        dense = p.ndim == 4
        y_pred = get_task(task).decode(p)
        if task == "binary":
            n = 2
            y_true = np.asarray(y).reshape(y_pred.shape).astype(np.int64)
        else:
            n = p.shape[-1]
            y_true = _class_indices(np.asarray(y), n, p).reshape(y_pred.shape)
        if ignore_index is not None:
            keep = y_true != ignore_index
            y_true, y_pred = y_true[keep], y_pred[keep]
        batch_cm = confusion_matrix(y_true, y_pred, n)
        cm = batch_cm if cm is None else cm + batch_cm
    if n_images == 0:
        raise ValueError("the dataset is empty: nothing to evaluate")
    speed = n_images / elapsed if elapsed > 0 else None
    if task == "regression":
        y_true = np.concatenate([v[0].ravel() for v in values])
        y_pred = np.concatenate([v[1].ravel() for v in values])
        return dict(regression_report(y_true, y_pred), task=task, tta=tta, images_per_second=speed)
    if len(class_names) != len(cm):
        class_names = [str(i) for i in range(len(cm))]
    report = report_from_confusion(cm, class_names)
    if dense:
        report["iou"] = iou_from_confusion(cm, class_names)
    report.update(task=task, n=int(cm.sum()), n_images=n_images, tta=tta, images_per_second=speed)
    return report


def _augmented(model):
    """``predict(x)``: the mean of ``model``'s predictions of the 8 flips and rotations of the ``(n, H, W, c)``
    patches ``x``; dense ``(n, H, W, k)`` outputs are turned back before averaging."""
    from rskeras.inference.uncertainty import dihedral_predictions

    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    if len(shapes) != 1 or len(shapes[0]) != 3 or (None not in shapes[0][:2] and shapes[0][0] != shapes[0][1]):
        raise ValueError(f"tta flips and rotates square image patches; model {model.name!r} takes {shapes}")
    dense = len(model.outputs[0].shape) == 4

    def predict(x):
        views = dihedral_predictions(lambda v: np.asarray(model.predict_on_batch(v[0])), [np.asarray(x, np.float32)],
                                     dense)
        return np.mean(list(views), axis=0)

    return predict


def write_report(report: dict, folder: str | os.PathLike, title: str | None = None) -> dict[str, Path]:
    """Write ``metrics.json`` and, for classification, ``confusion_matrix.png`` into ``folder``.

    Both appear together or not at all (:func:`rskeras.io.atomic_paths`; ``metrics.json`` last);
    ``folder`` must not be an existing file.

    Returns:
        ``{"metrics": path, "confusion_matrix": path}`` (the figure only for classification).
    """
    folder = Path(folder)
    check_output(folder, what="folder", folder=True)
    paths = {"metrics": folder / "metrics.json"}
    if "confusion_matrix" in report:
        paths["confusion_matrix"] = folder / "confusion_matrix.png"
    with atomic_paths(*reversed(paths.values())) as temps:
        *figure, metrics = temps
        if figure:
            fig = confusion_matrix_figure(report["confusion_matrix"], report["class_names"], title=title)
            fig.savefig(figure[0], dpi=150, format="png")
        metrics.write_text(json.dumps(report, indent=2))
    return paths
