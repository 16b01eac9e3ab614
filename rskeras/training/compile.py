"""Compile a model with the loss and metrics of its task (from :mod:`rskeras.heads`)."""

from __future__ import annotations

import keras

from rskeras.heads import compile_arguments
from rskeras.models.metadata import model_metadata


def compile_for_task(
    model: keras.Model,
    task: str | None = None,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    learning_rate: float = 1e-3,
    sparse_labels: bool = True,
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
        **compile_kwargs: passed on to ``model.compile`` (e.g. ``jit_compile``).

    Returns:
        The same model, compiled.
    """
    if task is None:
        task = model_metadata(model).task
        if task is None:
            raise ValueError(f"model {model.name!r} has no rskeras TaskOutput layer; pass task=")
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get({"class_name": optimizer, "config": {"learning_rate": learning_rate}})
    model.compile(optimizer=optimizer, **compile_arguments(task, sparse_labels), **compile_kwargs)
    return model
