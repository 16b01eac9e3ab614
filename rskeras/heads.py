"""Problem types and what each gets: final activation, loss and metrics (the Keras side of :mod:`rskeras.tasks`).

The one table every builder and the training code share (the seed lecture's
"problem type -> final activation -> loss" table; decoding and compile are
:meth:`rskeras.tasks.Task.decode` and :meth:`rskeras.tasks.Task.compile`):

============================  ==========  ==========================================
problem type (``task=``)      activation  loss
============================  ==========  ==========================================
``"regression"``              linear      mean squared error
``"binary"``                  sigmoid     binary cross-entropy
``"multiclass"`` (one label)  softmax     categorical cross-entropy (sparse accepted)
``"multilabel"`` (many)       sigmoid     binary cross-entropy
============================  ==========  ==========================================

Every builder ends in :class:`TaskOutput`, a layer that applies the task's
activation in float32 (also under a mixed-precision policy) and carries the
task name and class names in its config, so a saved model knows what it predicts.

The metrics that :meth:`rskeras.tasks.Task.metrics` adds where Keras' own lack an ignore value
(targets equal to ``ignore_class``, and NaN regression targets, count nowhere) live here too:
:class:`MaskedSparseAccuracy`, :class:`MaskedBinaryAccuracy`, :class:`MaskedAUC`,
:class:`MaskedMeanAbsoluteError`, :class:`MaskedRootMeanSquaredError`, and for per-pixel outputs
:class:`ClassIoU` (mean IoU) and :class:`ClassF1` (F1 of one class), both on the classes that
:meth:`~rskeras.tasks.Task.decode` gives.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import keras
from keras import ops

from rskeras.losses import valid_targets
from rskeras.tasks import DECISION_THRESHOLD, TASKS, Task, get_task

__all__ = ["TASKS", "ClassF1", "ClassIoU", "MaskedAUC", "MaskedBinaryAccuracy", "MaskedMeanAbsoluteError",
           "MaskedRootMeanSquaredError", "MaskedSparseAccuracy", "Task", "TaskOutput", "compile_arguments", "get_task",
           "output_head"]


@keras.saving.register_keras_serializable(package="rskeras")
class TaskOutput(keras.layers.Layer):
    """The final activation of a task, computed in float32.

    Input: logits of any shape ``(..., n_outputs)`` in any float dtype.
    Output: the same shape in float32 (probabilities for classification tasks,
    values for regression). The config carries ``task`` and ``class_names``,
    which :func:`rskeras.models.model_metadata` and ``predict_raster`` read back.
    """

    def __init__(self, task: str, class_names: Sequence[str] | None = None, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.task = get_task(task).name
        self.class_names = [str(c) for c in class_names] if class_names is not None else None
        self._activation = keras.activations.get(TASKS[self.task].activation)

    def call(self, inputs):
        return self._activation(keras.ops.cast(inputs, "float32"))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("dtype", None)
        config.update(task=self.task, class_names=self.class_names)
        return config


def output_head(
    x,
    task: str | Task,
    n_outputs: int,
    class_names: Sequence[str] | None = None,
    kind: str = "dense",
    name: str = "output",
):
    """Append the task's output: logits (Dense or 1x1 Conv2D), then :class:`TaskOutput`.

    Args:
        x: a feature tensor, ``(batch, features)`` for ``kind="dense"`` or
            ``(batch, H, W, channels)`` for ``kind="conv"`` (dense prediction).
        task: a name from :data:`TASKS`.
        n_outputs: classes (classification) or target values (regression).
        class_names: optional names of the ``n_outputs`` classes, stored in the model
            (for ``"binary"``: the names of the negative and the positive class).
        kind: ``"dense"`` or ``"conv"``.
        name: the name of the final layer; the logits layer is ``f"{name}_logits"``.

    Returns:
        ``(batch, n_outputs)`` or ``(batch, H, W, n_outputs)`` float32.
    """
    spec = get_task(task)
    spec.check_outputs(n_outputs)
    if class_names is not None and len(class_names) != n_outputs and not (spec.name == "binary" and len(class_names) == 2):
        raise ValueError(
            f"{len(class_names)} class names for n_outputs={n_outputs}: {list(class_names)}"
        )
    if kind == "dense":
        logits = keras.layers.Dense(n_outputs, name=f"{name}_logits")(x)
    elif kind == "conv":
        logits = keras.layers.Conv2D(n_outputs, 1, name=f"{name}_logits")(x)
    else:
        raise ValueError(f"unknown head kind {kind!r}; choose 'dense' or 'conv'")
    return TaskOutput(spec.name, class_names=class_names, name=name)(logits)


def _with_sample_weight(valid, sample_weight):
    """``valid`` times ``sample_weight`` (per sample ``(batch,)`` or per target), float32."""
    if sample_weight is None:
        return valid
    sample_weight = ops.cast(sample_weight, "float32")
    while len(sample_weight.shape) < len(valid.shape):
        sample_weight = ops.expand_dims(sample_weight, -1)
    return valid * sample_weight


@keras.saving.register_keras_serializable(package="rskeras")
class MaskedSparseAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Sparse categorical accuracy over the targets that are not ``ignore_class``.

    ``y_true``: integer classes ``(batch, ...)`` or ``(batch, ..., 1)``; ``y_pred``: probabilities
    ``(batch, ..., n_classes)``. Targets equal to ``ignore_class`` get weight 0 (they count neither
    as right nor as wrong); ``ignore_class=None`` is Keras' ``SparseCategoricalAccuracy``.
    """

    def __init__(self, ignore_class: int | None = None, name: str = "accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, valid = valid_targets(y_true, y_pred, "multiclass", True, self.ignore_class)
        return super().update_state(y_true, y_pred, sample_weight=_with_sample_weight(valid, sample_weight))

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_class": self.ignore_class}


@keras.saving.register_keras_serializable(package="rskeras")
class MaskedBinaryAccuracy(keras.metrics.BinaryAccuracy):
    """Binary accuracy (``p > 0.5`` is 1) per output over the targets that are not ``ignore_class``.

    ``y_true``: 0/1 (or ``ignore_class``) shaped like ``y_pred`` ``(batch, ..., n_outputs)``.
    """

    def __init__(self, ignore_class: int | None = None, name: str = "accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype, threshold=DECISION_THRESHOLD)
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, valid = valid_targets(y_true, y_pred, "binary", ignore_value=self.ignore_class)
        return super().update_state(y_true, y_pred, sample_weight=_with_sample_weight(valid, sample_weight))

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("threshold", None)
        return {**config, "ignore_class": self.ignore_class}


@keras.saving.register_keras_serializable(package="rskeras")
class MaskedAUC(keras.metrics.AUC):
    """Keras' ``AUC`` over the targets that are not ``ignore_class`` (0/1 targets shaped like ``y_pred``)."""

    def __init__(self, ignore_class: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.ignore_class = ignore_class

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true, valid = valid_targets(y_true, y_pred, "binary", ignore_value=self.ignore_class)
        return super().update_state(y_true, y_pred, sample_weight=_with_sample_weight(valid, sample_weight))

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_class": self.ignore_class}


@keras.saving.register_keras_serializable(package="rskeras")
class MaskedMeanAbsoluteError(keras.metrics.Mean):
    """Mean absolute error over the targets that are neither NaN nor ``ignore_value`` (regression nodata)."""

    def __init__(self, ignore_value: float | None = None, name: str = "mae", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.ignore_value = ignore_value

    def _errors(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        y_true, valid = valid_targets(y_true, y_pred, "regression", ignore_value=self.ignore_value)
        return ops.abs(y_pred - y_true), valid

    def update_state(self, y_true, y_pred, sample_weight=None):
        errors, valid = self._errors(y_true, y_pred)
        return super().update_state(errors, sample_weight=_with_sample_weight(valid, sample_weight))

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_value": self.ignore_value}


@keras.saving.register_keras_serializable(package="rskeras")
class MaskedRootMeanSquaredError(MaskedMeanAbsoluteError):
    """Root mean squared error over the targets that are neither NaN nor ``ignore_value``."""

    def __init__(self, ignore_value: float | None = None, name: str = "rmse", dtype=None):
        super().__init__(ignore_value, name=name, dtype=dtype)

    def _errors(self, y_true, y_pred):
        errors, valid = super()._errors(y_true, y_pred)
        return ops.square(errors), valid

    def result(self):
        return ops.sqrt(super().result())


@keras.saving.register_keras_serializable(package="rskeras")
class ClassIoU(keras.metrics.IoU):
    """Intersection over union of the decoded classes (:meth:`rskeras.tasks.Task.decode`), averaged over classes.

    ``y_true``: integer classes ``(batch, ...)`` or ``(batch, ..., 1)``; ``y_pred``: probabilities
    ``(batch, ..., K)`` (``binary``: ``K = 1``, classes 0 and 1). Keras' ``IoU`` over
    ``target_class_ids`` (all classes when None: the mean IoU) of the confusion matrix summed over
    the batches; targets equal to ``ignore_class`` are left out.
    """

    def __init__(self, num_classes: int, target_class_ids: Sequence[int] | None = None, task: str = "multiclass",
                 ignore_class: int | None = None, name: str = "mean_iou", dtype=None):
        ids = list(range(num_classes)) if target_class_ids is None else [int(i) for i in target_class_ids]
        super().__init__(num_classes, ids, name=name, ignore_class=ignore_class, dtype=dtype)
        self.task = get_task(task).name

    def update_state(self, y_true, y_pred, sample_weight=None):
        classes = get_task(self.task).decode(y_pred)
        y_true = ops.reshape(y_true, ops.shape(classes))
        return super().update_state(y_true, classes, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {"num_classes": self.num_classes, "target_class_ids": list(self.target_class_ids), "task": self.task,
                "ignore_class": self.ignore_class, "name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="rskeras")
class ClassF1(ClassIoU):
    """F1 score of one class, ``2 TP / (2 TP + FP + FN)``, from its IoU: ``F1 = 2 IoU / (1 + IoU)``.

    Same inputs as :class:`ClassIoU`; ``class_id`` is the class scored.
    """

    def __init__(self, num_classes: int, class_id: int, task: str = "multiclass", ignore_class: int | None = None,
                 name: str | None = None, dtype=None):
        super().__init__(num_classes, [class_id], task, ignore_class, name=name or f"f1_{class_id}", dtype=dtype)

    def result(self):
        iou = super().result()
        return 2.0 * iou / (1.0 + iou)

    def get_config(self) -> dict:
        config = super().get_config()
        config["class_id"] = config.pop("target_class_ids")[0]
        return config


def compile_arguments(task: str | Task, sparse_labels: bool = True) -> dict:
    """Deprecated: ``loss`` and ``metrics`` for ``model.compile``.

    Use ``rskeras.training.compile_for_task(model, task)`` or ``get_task(task).compile(model, ...)``,
    which also set the optimizer, precision and ``jit_compile``.
    """
    warnings.warn("rskeras.heads.compile_arguments is deprecated; compile with "
                  "rskeras.training.compile_for_task(model, task) or rskeras.tasks.get_task(task).compile(model)",
                  DeprecationWarning, stacklevel=2)
    spec = get_task(task)
    return {"loss": spec.loss_object(sparse_labels=sparse_labels), "metrics": spec.metrics(sparse_labels)}
