"""Intersection over union for segmentation: per class, mean, frequency-weighted (NumPy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rskeras.evaluation.metrics import confusion_matrix


def iou_from_confusion(cm: np.ndarray, class_names: Sequence[str]) -> dict:
    """IoU per class from a confusion matrix (rows true, columns predicted).

    ``IoU_c = TP_c / (TP_c + FP_c + FN_c)``. Classes absent from both truth and prediction
    (union 0) have IoU None and are left out of the means.

    Returns:
        ``{"mean_iou", "frequency_weighted_iou", "pixel_accuracy", "per_class": {name: {"iou",
        "support"}}}``; support counts the true pixels of each class.
    """
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    union = support + cm.sum(axis=0) - tp
    present = union > 0
    iou = np.divide(tp, union, out=np.zeros_like(tp), where=present)
    total = cm.sum()
    return {
        "mean_iou": float(iou[present].mean()) if present.any() else 0.0,
        "frequency_weighted_iou": float((support * iou).sum() / total) if total else 0.0,
        "pixel_accuracy": float(tp.sum() / total) if total else 0.0,
        "per_class": {
            name: {"iou": float(iou[i]) if present[i] else None, "support": int(support[i])}
            for i, name in enumerate(class_names)
        },
    }


def iou_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: Sequence[str] | None = None,
    n_classes: int | None = None,
    ignore_index: int | None = None,
) -> dict:
    """Per-class and mean IoU of class maps of any shape (see :func:`iou_from_confusion`).

    Args:
        y_true, y_pred: integer class maps of the same shape.
        class_names: names in index order (default ``"0"``, ``"1"``, ...).
        n_classes: number of classes when ``class_names`` is not given.
        ignore_index: a true label to leave out (e.g. 255 for nodata).
    """
    y_true = np.asarray(y_true).ravel()
    y_pred = np.asarray(y_pred).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} pixels but y_pred has {y_pred.size}")
    if ignore_index is not None:
        keep = y_true != ignore_index
        y_true, y_pred = y_true[keep], y_pred[keep]
    if class_names is None:
        n = n_classes if n_classes is not None else int(max(y_true.max(initial=0), y_pred.max(initial=0))) + 1
        class_names = [str(i) for i in range(n)]
    return iou_from_confusion(confusion_matrix(y_true, y_pred, len(class_names)), class_names)
