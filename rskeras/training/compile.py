"""Compile a model for its task: the user's entry point to :meth:`rskeras.tasks.Task.compile`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from rskeras.models.metadata import model_metadata
from rskeras.tasks import get_task


def compile_for_task(
    model: keras.Model,
    task: str | None = None,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float = 1e-3,
    sparse_labels: bool = True,
    *,
    loss: str | Mapping[str, Any] | None = None,
    label_smoothing: float = 0.0,
    class_weights: Sequence[float] | None = None,
    ignore_class: float | None = None,
    **compile_kwargs,
) -> keras.Model:
    """Compile ``model`` for ``task`` (read from the model's output layer when None).

    Args:
        model: a model ending in :class:`rskeras.heads.TaskOutput`, or any model when
            ``task`` is given.
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        optimizer: an optimizer name or instance; a name gets ``learning_rate``.
        learning_rate: the learning rate for an optimizer given by name.
        sparse_labels: integer class labels (True) or one-hot targets (False).
        loss: the loss by name (``rskeras.tasks.losses_for(task)``: ``"crossentropy"``, ``"focal"``,
            ``"dice"``, ``"jaccard"``, ``"tversky"``, ``"crossentropy_dice"`` for classification), or
            ``{"name": ..., **settings}``; default: the task's (:data:`rskeras.tasks.TASKS`).
        label_smoothing: smoothing of the cross-entropy's targets.
        class_weights: one weight per class (``binary``: negative, positive), e.g. from
            :func:`rskeras.losses.balanced_class_weights`.
        ignore_class: a target value left out of the loss and the metrics (e.g. 255 for unlabelled
            pixels; for regression the targets' nodata value).
        **compile_kwargs: :meth:`rskeras.tasks.Task.compile` options (``policy``, ``jit_compile``)
            and ``model.compile`` arguments (``run_eagerly``, ``loss_weights``, ...).

    Returns:
        The same model, compiled.
    """
    if task is None:
        task = model_metadata(model).task
        if task is None:
            raise ValueError(f"model {model.name!r} has no rskeras TaskOutput layer; pass task=")
    return get_task(task).compile(
        model, optimizer, learning_rate=learning_rate if isinstance(optimizer, str) else None,
        loss=loss, sparse_labels=sparse_labels, label_smoothing=label_smoothing, class_weights=class_weights,
        ignore_class=ignore_class, **compile_kwargs,
    )
