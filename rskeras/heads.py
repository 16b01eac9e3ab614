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
"""

from __future__ import annotations

import warnings
from typing import Sequence

import keras

from rskeras.tasks import TASKS, Task, get_task

__all__ = ["TASKS", "MaskedSparseAccuracy", "Task", "TaskOutput", "compile_arguments", "get_task", "output_head"]


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
        if self.ignore_class is not None:
            y_true = keras.ops.reshape(y_true, keras.ops.shape(y_pred)[:-1])
            valid = keras.ops.cast(keras.ops.not_equal(y_true, self.ignore_class), self.dtype)
            sample_weight = valid if sample_weight is None else valid * keras.ops.cast(sample_weight, self.dtype)
        return super().update_state(y_true, y_pred, sample_weight=sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "ignore_class": self.ignore_class}


def compile_arguments(task: str | Task, sparse_labels: bool = True) -> dict:
    """Deprecated: ``loss`` and ``metrics`` for ``model.compile``.

    Use ``rskeras.training.compile_for_task(model, task)`` or ``get_task(task).compile(model, ...)``,
    which also set the optimizer, precision and ``jit_compile``.
    """
    warnings.warn("rskeras.heads.compile_arguments is deprecated; compile with "
                  "rskeras.training.compile_for_task(model, task) or rskeras.tasks.get_task(task).compile(model)",
                  DeprecationWarning, stacklevel=2)
    spec = get_task(task)
    return {"loss": spec.loss_object(sparse_labels), "metrics": spec.metrics(sparse_labels)}
