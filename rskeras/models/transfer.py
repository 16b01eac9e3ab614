"""Transfer learning: freeze a model's backbone, and two-stage fine-tuning (head first, then everything).

The lecture's "use a pre-trained network" in two lines::

    model = rskeras.models.resnet50((64, 64, 13), n_outputs=10, weights="imagenet")
    head, full = rskeras.models.fine_tune(model, train_ds, val_ds, task="multiclass",
                                          head_epochs=5, full_epochs=10)
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple, Sequence

import keras

from rskeras.tasks import get_task
from rskeras.models.backbones import BACKBONES, get_backbone_spec
from rskeras.models.metadata import all_layers


def backbone_layers(model: keras.Model, backbone: str | Sequence[str] | None = None) -> list[keras.layers.Layer]:
    """The layers of ``model`` that belong to a registered backbone, found by their name prefix.

    Args:
        model: any model built on :func:`rskeras.models.backbones.build_backbone`.
        backbone: restrict to this backbone (or these); default every registered one.
    """
    names = [backbone] if isinstance(backbone, str) else list(backbone or BACKBONES)
    prefixes = tuple(get_backbone_spec(name).prefix for name in names)
    return [layer for layer in all_layers(model) if layer.name.startswith(prefixes)]


def freeze_backbone(model: keras.Model, trainable: bool = False,
                    backbone: str | Sequence[str] | None = None) -> list[str]:
    """Set ``trainable`` on every backbone layer of ``model`` (freeze by default, ``True`` to unfreeze).

    A frozen layer's weights stay as they are, and a frozen BatchNormalization
    layer runs in inference mode (it uses, and keeps, its moving statistics).
    Recompile the model afterwards for the change to take effect in training.

    Returns:
        The names of the layers changed.

    Raises:
        ValueError: ``model`` has no layer of a registered backbone.
    """
    layers = backbone_layers(model, backbone)
    if not layers:
        raise ValueError(
            f"model {model.name!r} has no layer of the backbone(s) "
            f"{backbone if backbone is not None else list(BACKBONES)} (layer names start with the backbone name)"
        )
    for layer in layers:
        layer.trainable = trainable
    return [layer.name for layer in layers]


class FineTuneHistories(NamedTuple):
    """The ``History`` of each stage of :func:`fine_tune`."""

    head: keras.callbacks.History
    full: keras.callbacks.History


def _compile(model: keras.Model, optimizer: str, learning_rate: float, task: str, sparse_labels: bool,
             loss_weights: Sequence[float] | None, compile_kwargs: Mapping[str, Any]) -> None:
    get_task(task).compile(model, optimizer, learning_rate=learning_rate, sparse_labels=sparse_labels,
                           loss_weights=loss_weights, **compile_kwargs)


def fine_tune(
    model: keras.Model,
    train_ds,
    val_ds=None,
    *,
    task: str,
    head_epochs: int = 5,
    full_epochs: int = 5,
    head_lr: float = 1e-3,
    full_lr: float = 1e-5,
    callbacks: Sequence[keras.callbacks.Callback] | None = None,
    sparse_labels: bool = True,
    loss_weights: Sequence[float] | None = None,
    optimizer: str = "adam",
    backbone: str | Sequence[str] | None = None,
    compile_kwargs: Mapping[str, Any] | None = None,
    verbose: str | int = "auto",
) -> FineTuneHistories:
    """Two-stage transfer learning, as in the Keras transfer-learning guide.

    1. The backbone is frozen and the rest (the head) trains for ``head_epochs``
       at ``head_lr``.
    2. Every layer is unfrozen except the BatchNormalization layers, which stay
       in inference mode (``trainable=False``) so their statistics, learnt on the
       pre-training data, are not wrecked by small batches; the model is
       recompiled and trains for ``full_epochs`` more at the lower ``full_lr``.

    Both stages compile with :meth:`rskeras.tasks.Task.compile` for ``task`` (one
    loss and metric set per output for multi-output models such as GoogLeNet with
    auxiliary classifiers; pass ``loss_weights=[1.0, 0.3, 0.3]`` there). The model
    is left compiled for stage 2, with BatchNormalization frozen.

    Args:
        model: a model on a registered backbone (e.g. :func:`rskeras.models.resnet50`).
        train_ds, val_ds: what ``model.fit`` takes as ``x`` and ``validation_data``
            (e.g. a ``tf.data.Dataset`` of ``(image, label)`` batches).
        task: the model's task (``"multiclass"``, ...).
        head_epochs, full_epochs: epochs of each stage (the epoch numbers continue).
        head_lr, full_lr: learning rates of each stage.
        callbacks: given to both stages.
        sparse_labels: integer class labels (``multiclass``).
        loss_weights: per-output loss weights, for multi-output models.
        optimizer: a Keras optimizer name.
        backbone: which backbone to freeze in stage 1 (default: every registered one found).
        compile_kwargs: further :meth:`rskeras.tasks.Task.compile` options for both stages
            (e.g. ``loss="dice"``, ``class_weights=[...]``, ``ignore_class=255``, ``label_smoothing=0.1``,
            ``jit_compile=True``, ``run_eagerly=True``).
        verbose: as ``model.fit``.

    Returns:
        ``FineTuneHistories(head, full)``.
    """
    callbacks = list(callbacks or [])
    freeze_backbone(model, trainable=False, backbone=backbone)
    _compile(model, optimizer, head_lr, task, sparse_labels, loss_weights, compile_kwargs or {})
    head = model.fit(train_ds, validation_data=val_ds, epochs=head_epochs, callbacks=callbacks, verbose=verbose)
    for layer in all_layers(model):
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    _compile(model, optimizer, full_lr, task, sparse_labels, loss_weights, compile_kwargs or {})
    full = model.fit(train_ds, validation_data=val_ds, initial_epoch=head_epochs,
                     epochs=head_epochs + full_epochs, callbacks=callbacks, verbose=verbose)
    return FineTuneHistories(head=head, full=full)
