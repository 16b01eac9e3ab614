"""Losses for remote-sensing labels: unlabelled pixels ignored, rare classes weighted, overlap losses.

What Keras 3.15 has and what it lacks (so what is written here):

- ``SparseCategoricalCrossentropy(ignore_class=)`` ignores a class but takes no class weights;
  ``BinaryCrossentropy`` ignores nothing; ``CategoricalFocalCrossentropy`` takes one-hot targets
  only, an ``alpha`` but no ignore value. :class:`Crossentropy` and :class:`FocalCrossentropy`
  add the ignore value and class weights to every classification task (the task table uses
  Keras' own cross-entropy where no option needs more).
- ``keras.losses.Dice`` and ``Tversky`` pool every class and pixel into one ratio (for softmax
  outputs that is the mean probability of the true class, not a per-class overlap), take
  one-hot targets and no ignore value or class weights. :class:`SoftTversky` (with
  :class:`SoftDice` and :class:`SoftJaccard`) computes the overlap per class over the batch.
- ``MeanSquaredError`` is NaN when a target is NaN: :class:`MaskedMeanSquaredError` leaves out
  NaN targets and a nodata value.

Conventions shared by every loss here (all return one float32 value per batch, also under a
mixed-precision policy, and are registered, so compiled models round-trip through ``.keras``):

- ``y_pred``: probabilities ``(batch, ..., K)`` (softmax for ``multiclass``, sigmoid for
  ``binary`` with ``K = 1`` and ``multilabel``), as :class:`rskeras.heads.TaskOutput` returns them.
- ``y_true``: integer classes ``(batch, ...)`` or ``(batch, ..., 1)`` (``multiclass`` with
  ``sparse=True``), one-hot rows (``sparse=False``; an all-zero row is unlabelled), or 0/1 per
  output (``binary``, ``multilabel``). Targets equal to ``ignore_class`` count nowhere.
- ``class_weights``: one weight per class (``binary``: negative, positive; ``multilabel``: per
  label). A pixel-wise loss is the weighted mean ``sum(w * loss) / sum(w)`` over the valid
  targets, ``w`` the weight of each target's class (PyTorch's ``CrossEntropyLoss(weight=)``
  convention); an overlap loss is the weighted mean of the per-class losses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from rskeras.tasks import CLASSIFICATION_TASKS

__all__ = ["Crossentropy", "CrossentropyDice", "FocalCrossentropy", "MaskedMeanSquaredError", "SoftDice", "SoftJaccard",
           "SoftTversky", "balanced_class_weights", "count_labels", "valid_targets"]

EPSILON = 1e-7


def _is_nan(value) -> bool:
    return isinstance(value, float) and math.isnan(value)


def valid_targets(y_true, y_pred, task: str, sparse: bool = True, ignore_value=None):
    """Targets shaped for ``y_pred`` with the ignored ones replaced, and where they are valid.

    Args:
        y_true: targets as described in the module docstring.
        y_pred: model outputs ``(batch, ..., K)``.
        task: ``"regression"`` or a classification task.
        sparse: integer class targets (``multiclass``).
        ignore_value: the target value that counts nowhere (NaN targets of ``regression``
            count nowhere in any case).

    Returns:
        ``(targets, valid)``: for sparse ``multiclass`` integer targets ``(batch, ...)`` (ignored
        ones set to 0) and float32 ``valid`` of the same shape; otherwise float32 targets shaped
        like ``y_pred`` (ignored ones set to 0) and ``valid`` of that shape (one-hot: ``(..., 1)``).
    """
    if task == "multiclass" and sparse:
        y_true = ops.reshape(y_true, ops.shape(y_pred)[:-1])
        valid = ops.ones_like(y_true, dtype="bool") if ignore_value is None else ops.not_equal(y_true, ignore_value)
        return ops.where(valid, y_true, ops.zeros_like(y_true)), ops.cast(valid, "float32")
    y_true = ops.reshape(ops.cast(y_true, "float32"), ops.shape(y_pred))
    if task == "multiclass":  # one-hot rows; all zeros: unlabelled
        return y_true, ops.cast(ops.sum(y_true, axis=-1, keepdims=True) > 0, "float32")
    valid = ops.logical_not(ops.isnan(y_true))
    if ignore_value is not None and not _is_nan(ignore_value):
        valid = ops.logical_and(valid, ops.not_equal(y_true, ignore_value))
    return ops.where(valid, y_true, ops.zeros_like(y_true)), ops.cast(valid, "float32")


def _weighted_mean(values, weights):
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), EPSILON)


@keras.saving.register_keras_serializable(package="rskeras")
class MaskedMeanSquaredError(keras.losses.Loss):
    """Mean squared error over the targets that are neither NaN nor ``ignore_value`` (nodata).

    ``y_true`` and ``y_pred``: real values of the same shape ``(batch, ..., n)``. Returns the
    mean of ``(y_pred - y_true)²`` over the valid targets (0 for a batch without one).
    """

    def __init__(self, ignore_value: float | None = None, name: str = "mean_squared_error", **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        self.ignore_value = ignore_value

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        targets, valid = valid_targets(y_true, y_pred, "regression", ignore_value=self.ignore_value)
        return _weighted_mean(ops.square(y_pred - targets), valid)

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_value": self.ignore_value}


class _ClassificationLoss(keras.losses.Loss):
    """What every classification loss here shares: task, target kind, ignore value, class weights."""

    def __init__(self, task: str = "multiclass", sparse: bool = True, ignore_class: int | None = None,
                 class_weights: Sequence[float] | None = None, name: str | None = None, **kwargs):
        if task not in CLASSIFICATION_TASKS:
            raise ValueError(f"{type(self).__name__}: task {task!r} is not a classification task; "
                             f"choose one of {', '.join(CLASSIFICATION_TASKS)}")
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name, **kwargs)
        self.task = task
        self.sparse = bool(sparse) and task == "multiclass"
        self.ignore_class = ignore_class
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def _targets(self, y_true, y_pred):
        """``(probabilities, one-hot or 0/1 targets, valid)``, float32, targets shaped like the outputs."""
        p = ops.cast(y_pred, "float32")
        targets, valid = valid_targets(y_true, p, self.task, self.sparse, self.ignore_class)
        if self.sparse:
            targets = ops.one_hot(ops.cast(targets, "int32"), ops.shape(p)[-1])
            valid = ops.expand_dims(valid, -1)
        return p, targets, valid

    def _target_weights(self, targets):
        """The class weight of each target: ``(..., 1)`` for ``multiclass``, per output otherwise."""
        if self.class_weights is None:
            return ops.ones_like(targets[..., :1])
        w = ops.convert_to_tensor(self.class_weights, "float32")
        if self.task == "multiclass":
            return ops.sum(targets * w, axis=-1, keepdims=True)
        if self.task == "binary":
            return w[0] * (1.0 - targets) + w[1] * targets
        return ops.broadcast_to(w, ops.shape(targets))

    def get_config(self) -> dict:
        return {**super().get_config(), "task": self.task, "sparse": self.sparse, "ignore_class": self.ignore_class,
                "class_weights": self.class_weights}


def _pixel_crossentropy(p, targets, task: str, gamma: float = 0.0):
    """Cross-entropy per target (``(..., 1)`` for ``multiclass``, per output otherwise), focal for ``gamma > 0``."""
    p = ops.clip(p, EPSILON, 1.0 - EPSILON)
    if task == "multiclass":
        terms = -targets * ops.log(p) * (ops.power(1.0 - p, gamma) if gamma else 1.0)
        return ops.sum(terms, axis=-1, keepdims=True)
    ce = -(targets * ops.log(p) + (1.0 - targets) * ops.log(1.0 - p))
    if gamma:
        p_true = targets * p + (1.0 - targets) * (1.0 - p)
        ce = ce * ops.power(1.0 - p_true, gamma)
    return ce


@keras.saving.register_keras_serializable(package="rskeras")
class Crossentropy(_ClassificationLoss):
    """Cross-entropy of any classification task with an ignore value, class weights and label smoothing.

    ``multiclass``: ``-sum_k t_k log p_k`` per pixel; ``binary`` and ``multilabel``:
    ``-(t log p + (1 - t) log(1 - p))`` per output. Label smoothing moves each target towards
    ``1 / K`` (``multiclass``) or ``1 / 2``. Returns the weighted mean over the valid targets.
    """

    def __init__(self, task: str = "multiclass", sparse: bool = True, ignore_class: int | None = None,
                 class_weights: Sequence[float] | None = None, label_smoothing: float = 0.0,
                 name: str = "crossentropy", **kwargs):
        super().__init__(task, sparse, ignore_class, class_weights, name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        p, targets, valid = self._targets(y_true, y_pred)
        weights = self._target_weights(targets) * valid
        if self.label_smoothing:
            k = ops.cast(ops.shape(p)[-1], "float32") if self.task == "multiclass" else 2.0
            targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / k
        return _weighted_mean(_pixel_crossentropy(p, targets, self.task), weights)

    def get_config(self) -> dict:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


@keras.saving.register_keras_serializable(package="rskeras")
class FocalCrossentropy(_ClassificationLoss):
    """Focal loss (Lin et al. 2017): cross-entropy times ``(1 - p_true) ** gamma``, which down-weights easy pixels.

    ``gamma = 0`` is :class:`Crossentropy`; class weights play the role of the paper's ``alpha``.
    """

    def __init__(self, task: str = "multiclass", sparse: bool = True, ignore_class: int | None = None,
                 class_weights: Sequence[float] | None = None, gamma: float = 2.0, name: str = "focal", **kwargs):
        super().__init__(task, sparse, ignore_class, class_weights, name=name, **kwargs)
        if gamma < 0:
            raise ValueError(f"FocalCrossentropy: gamma must be >= 0, got {gamma!r}")
        self.gamma = float(gamma)

    def call(self, y_true, y_pred):
        p, targets, valid = self._targets(y_true, y_pred)
        weights = self._target_weights(targets) * valid
        return _weighted_mean(_pixel_crossentropy(p, targets, self.task, self.gamma), weights)

    def get_config(self) -> dict:
        return {**super().get_config(), "gamma": self.gamma}


@keras.saving.register_keras_serializable(package="rskeras")
class SoftTversky(_ClassificationLoss):
    """Tversky loss (Salehi et al. 2017) per class over the batch: ``1 - TP / (TP + alpha FP + beta FN)``.

    With soft counts over the valid targets of the batch, for each output column ``k``
    (classes of ``multiclass``, labels of ``multilabel``, the positive class of ``binary``):
    ``TP = sum p t``, ``FP = sum p (1 - t)``, ``FN = sum (1 - p) t``. The loss is the mean of
    ``1 - TP / (TP + alpha FP + beta FN)`` over the columns present in the batch's targets,
    weighted by ``class_weights`` (``binary``: one column, so weights do not apply).
    ``alpha = beta = 0.5`` is Dice, ``alpha = beta = 1`` Jaccard (IoU); ``beta > alpha``
    punishes missed pixels of rare classes more than false alarms.
    """

    def __init__(self, task: str = "multiclass", sparse: bool = True, ignore_class: int | None = None,
                 class_weights: Sequence[float] | None = None, alpha: float = 0.5, beta: float = 0.5,
                 name: str = "tversky", **kwargs):
        super().__init__(task, sparse, ignore_class, class_weights, name=name, **kwargs)
        if alpha < 0 or beta < 0 or alpha + beta == 0:
            raise ValueError(f"{type(self).__name__}: alpha and beta must be >= 0 and not both 0, "
                             f"got alpha={alpha!r}, beta={beta!r}")
        self.alpha, self.beta = float(alpha), float(beta)

    def call(self, y_true, y_pred):
        p, targets, valid = self._targets(y_true, y_pred)
        axes = tuple(range(len(p.shape) - 1))
        tp = ops.sum(valid * p * targets, axis=axes)
        fp = ops.sum(valid * p * (1.0 - targets), axis=axes)
        fn = ops.sum(valid * (1.0 - p) * targets, axis=axes)
        index = tp / ops.maximum(tp + self.alpha * fp + self.beta * fn, EPSILON)
        present = ops.cast(ops.sum(valid * targets, axis=axes) > 0, "float32")
        if self.class_weights is not None and self.task != "binary":
            present = present * ops.convert_to_tensor(self.class_weights, "float32")
        return _weighted_mean(1.0 - index, present)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


class _FixedTversky(SoftTversky):
    """:class:`SoftTversky` with ``alpha`` and ``beta`` fixed by the subclass (:data:`ALPHA_BETA`)."""

    ALPHA_BETA = (0.5, 0.5)
    NAME = "tversky"

    def __init__(self, task: str = "multiclass", sparse: bool = True, ignore_class: int | None = None,
                 class_weights: Sequence[float] | None = None, name: str | None = None, **kwargs):
        alpha, beta = self.ALPHA_BETA
        super().__init__(task, sparse, ignore_class, class_weights, alpha=alpha, beta=beta, name=name or self.NAME,
                         **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["alpha"], config["beta"]
        return config


@keras.saving.register_keras_serializable(package="rskeras")
class SoftDice(_FixedTversky):
    """Dice loss per class over the batch, ``1 - 2 TP / (2 TP + FP + FN)``: :class:`SoftTversky`, alpha = beta = 0.5."""

    ALPHA_BETA = (0.5, 0.5)
    NAME = "dice"


@keras.saving.register_keras_serializable(package="rskeras")
class SoftJaccard(_FixedTversky):
    """Jaccard (IoU) loss per class over the batch, ``1 - TP / (TP + FP + FN)``: :class:`SoftTversky`, alpha = beta = 1.
    """

    ALPHA_BETA = (1.0, 1.0)
    NAME = "jaccard"


@keras.saving.register_keras_serializable(package="rskeras")
class CrossentropyDice(_ClassificationLoss):
    """:class:`Crossentropy` plus :class:`SoftDice`: per-pixel calibration and per-class overlap together."""

    def __init__(self, task: str = "multiclass", sparse: bool = True, ignore_class: int | None = None,
                 class_weights: Sequence[float] | None = None, name: str = "crossentropy_dice", **kwargs):
        super().__init__(task, sparse, ignore_class, class_weights, name=name, **kwargs)
        parts = {"task": task, "sparse": sparse, "ignore_class": ignore_class, "class_weights": class_weights}
        self._crossentropy, self._dice = Crossentropy(**parts), SoftDice(**parts)

    def call(self, y_true, y_pred):
        return self._crossentropy.call(y_true, y_pred) + self._dice.call(y_true, y_pred)


# ----- class weights from the labels ------------------------------------------------------------

def count_labels(dataset, task: str, n_classes: int, ignore_class: int | None = None,
                 max_batches: int | None = None) -> np.ndarray:
    """Targets per class in a dataset of ``(image, target)`` (one pass; ``max_batches`` to sample).

    Args:
        dataset: a ``tf.data.Dataset`` (or any iterable) of ``(image, target)`` pairs or batches.
        task: ``"binary"`` and ``"multiclass"`` count integer classes (``binary``: 0 and 1),
            one-hot ``multiclass`` rows and ``multilabel`` 0/1 targets count the ones per column.
        n_classes: classes (``binary``: 2) or labels.
        ignore_class: a target value left out.
        max_batches: count only that many elements of ``dataset``.

    Returns:
        int64 ``(n_classes,)``.

    Raises:
        ValueError: a class value outside ``0 .. n_classes - 1`` (other than ``ignore_class``).
    """
    counts = np.zeros(n_classes, np.int64)
    for i, (_, target) in enumerate(dataset):
        if max_batches is not None and i >= max_batches:
            break
        y = np.asarray(target)
        one_hot = task == "multilabel" or (task == "multiclass" and y.ndim >= 2 and y.shape[-1] == n_classes > 1
                                           and np.issubdtype(y.dtype, np.floating))
        if one_hot:
            y = y.reshape(-1, n_classes)
            counts += np.where(y == ignore_class, 0, y).sum(axis=0).round().astype(np.int64)
            continue
        y = y.ravel()
        y = y[y != ignore_class] if ignore_class is not None else y
        y = y[~np.isnan(y)] if np.issubdtype(y.dtype, np.floating) else y
        outside = y[(y < 0) | (y >= n_classes)]
        if outside.size:
            raise ValueError(f"targets hold class value {outside[0].item()!r}, outside 0..{n_classes - 1} "
                             f"(ignore_class={ignore_class!r}); pass the ignore value the data uses")
        counts += np.bincount(y.astype(np.int64), minlength=n_classes)
    return counts


def balanced_class_weights(counts: Sequence[int]) -> list[float]:
    """``"balanced"`` weights, ``n / (k * n_c)`` (scikit-learn's rule) for the ``k`` classes present; 0 for absent ones.

    Args:
        counts: targets per class, e.g. from :func:`count_labels`.

    Raises:
        ValueError: no class has any target.
    """
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    if not present.any():
        raise ValueError("no labelled target to compute balanced class weights from (every count is 0)")
    weights = np.where(present, counts.sum() / (present.sum() * np.maximum(counts, 1)), 0.0)
    return [float(w) for w in weights]
