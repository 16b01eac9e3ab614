"""Classification and regression metrics computed from label or value arrays."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``(n_classes, n_classes)`` int64 counts; rows are true classes, columns predicted."""
    y_true = np.asarray(y_true).ravel().astype(np.int64)
    y_pred = np.asarray(y_pred).ravel().astype(np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    for name, y in (("y_true", y_true), ("y_pred", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} holds class indices outside 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def classification_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: Sequence[str] | None = None, n_classes: int | None = None
) -> dict:
    """Overall accuracy, per-class precision/recall/F1, macro and weighted averages, Cohen's kappa.

    Args:
        y_true, y_pred: integer class indices of the same length.
        class_names: names in index order (default ``"0"``, ``"1"``, ...).
        n_classes: number of classes when ``class_names`` is not given.

    Returns:
        A JSON-ready dict: ``overall_accuracy``, ``kappa``, ``per_class`` (name ->
        precision, recall, f1, support), ``macro`` and ``weighted`` averages, and
        ``confusion_matrix`` (rows true, columns predicted) as nested lists.
    """
    if class_names is None:
        n = n_classes if n_classes is not None else int(max(np.max(y_true), np.max(y_pred))) + 1
        class_names = [str(i) for i in range(n)]
    return report_from_confusion(confusion_matrix(y_true, y_pred, len(class_names)), class_names)


def report_from_confusion(cm: np.ndarray, class_names: Sequence[str]) -> dict:
    """The :func:`classification_report` of a confusion matrix (rows true, columns predicted)."""
    cm = np.asarray(cm, dtype=np.int64)
    n = len(class_names)
    if cm.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {cm.shape} for {n} class names")
    total = cm.sum()
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = _safe_ratio(tp, predicted)
    recall = _safe_ratio(tp, support)
    f1 = _safe_ratio(2 * precision * recall, precision + recall)
    accuracy = float(tp.sum() / total) if total else 0.0
    expected = float((support * predicted).sum() / total**2) if total else 0.0
    kappa = (accuracy - expected) / (1 - expected) if expected < 1 else 1.0
    weights = _safe_ratio(support, np.full(n, total))
    return {
        "overall_accuracy": accuracy,
        "kappa": float(kappa),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
        },
        "macro": {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())},
        "weighted": {
            "precision": float((precision * weights).sum()),
            "recall": float((recall * weights).sum()),
            "f1": float((f1 * weights).sum()),
        },
        "confusion_matrix": cm.tolist(),
        "class_names": list(class_names),
    }


def regression_report(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """MAE, RMSE, R² and bias (mean of prediction - truth), in the units of the targets."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} values but y_pred has {y_pred.size}")
    err = y_pred - y_true
    ss_tot = float(((y_true - y_true.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ss_tot) if ss_tot > 0 else float("nan"),
        "bias": float(err.mean()),
        "n": int(y_true.size),
    }
