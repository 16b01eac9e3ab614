"""The task table: for each problem type its final activation, loss, metrics, decoding and compile.

Every builder, the training, fine-tuning, inference, serving, evaluation and the workflows
read this one table (no TensorFlow is imported here until a method needs it):

==============  ==========  =====================================  ===========================================
``task=``       activation  loss (a key of :data:`LOSSES`)         :meth:`Task.decode`: outputs -> classes
==============  ==========  =====================================  ===========================================
regression      linear      mean_squared_error                     (values, nothing to decode)
binary          sigmoid     binary_crossentropy                    1 where p > 0.5, else 0
multiclass      softmax     sparse_categorical_crossentropy        argmax; a tie goes to the lowest class index
                            (categorical_crossentropy for one-hot)
multilabel      sigmoid     binary_crossentropy                    per label: 1 where p > 0.5, else 0
==============  ==========  =====================================  ===========================================

The rules new code follows:

- **Decode** with :meth:`Task.decode`, never with an own ``argmax`` or ``> 0.5``. A probability of
  exactly 0.5 is negative (class 0), as Keras' own ``BinaryAccuracy(threshold=0.5)`` counts it
  (``y_pred > threshold``). It works on NumPy arrays and on TensorFlow tensors (inside a
  ``tf.function`` too, e.g. a serving signature), with the same result.
- **Compile** with :meth:`Task.compile` (``rskeras.training.compile_for_task`` is its entry point):
  it builds the loss from :data:`LOSSES`, the task's metrics, wraps the optimizer for the precision
  policy and passes ``jit_compile``. A new loss (focal, Dice, ...) is one entry of :data:`LOSSES`
  (a :class:`LossSpec` naming the options it supports), not a new compile.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: A probability above this is the positive class (binary, multilabel); exactly 0.5 is negative.
DECISION_THRESHOLD = 0.5


@dataclass(frozen=True)
class LossSpec:
    """One loss of :data:`LOSSES`: how to build it and which compile options it honours.

    Attributes:
        name: the key in :data:`LOSSES`.
        build: ``build(**options) -> keras.losses.Loss``, called with the options in ``options``.
        options: the keyword options of :meth:`Task.compile` this loss supports
            (``"label_smoothing"``, ``"ignore_class"``); any other non-default option is an error.
        targets: what the loss expects as targets, for error messages.
    """

    name: str
    build: Callable[..., Any]
    options: tuple[str, ...]
    targets: str


def _mean_squared_error():
    import keras

    return keras.losses.MeanSquaredError()


def _binary_crossentropy(label_smoothing: float = 0.0):
    import keras

    return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)


def _categorical_crossentropy(label_smoothing: float = 0.0):
    import keras

    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)


def _sparse_categorical_crossentropy(ignore_class: int | None = None):
    import keras

    return keras.losses.SparseCategoricalCrossentropy(ignore_class=ignore_class)


#: The losses :meth:`Task.compile` can build, by name. Issue 13's losses (focal, Dice, ...) plug in here.
LOSSES: dict[str, LossSpec] = {
    spec.name: spec
    for spec in (
        LossSpec("mean_squared_error", _mean_squared_error, (), "real values"),
        LossSpec("binary_crossentropy", _binary_crossentropy, ("label_smoothing",), "0/1 per output"),
        LossSpec("categorical_crossentropy", _categorical_crossentropy, ("label_smoothing",),
                 "one-hot class vectors"),
        LossSpec("sparse_categorical_crossentropy", _sparse_categorical_crossentropy, ("ignore_class",),
                 "integer class indices"),
    )
}


def _tensorflow_for(value: Any):
    """The ``tensorflow`` module when ``value`` is a TensorFlow tensor, else None (TensorFlow is not imported)."""
    tf = sys.modules.get("tensorflow")
    return tf if tf is not None and tf.is_tensor(value) else None


@dataclass(frozen=True)
class Task:
    """One problem type: its final activation, loss, metrics, decoding and compile.

    Attributes:
        name: the ``task=`` name.
        activation: the final activation, by Keras name.
        loss: the loss for dense (one-hot or real-valued) targets, a key of :data:`LOSSES`.
        sparse_loss: the loss for integer class targets, where it differs.
        description: one line for documentation and error messages.
    """

    name: str
    activation: str
    loss: str
    sparse_loss: str | None
    description: str

    @property
    def is_classification(self) -> bool:
        return self.name != "regression"

    def loss_for(self, sparse_labels: bool = True) -> str:
        """The loss name; integer labels get the sparse loss for ``multiclass``."""
        if sparse_labels and self.sparse_loss is not None:
            return self.sparse_loss
        return self.loss

    def metrics(self, sparse_labels: bool = True, ignore_class: int | None = None) -> list:
        """Fresh Keras metric objects (one set per compile) for this task.

        With ``ignore_class`` (``multiclass`` with integer labels) the accuracy leaves out the
        targets equal to it (:class:`rskeras.heads.MaskedSparseAccuracy`).
        """
        import keras

        if self.name == "regression":
            return [
                keras.metrics.MeanAbsoluteError(name="mae"),
                keras.metrics.RootMeanSquaredError(name="rmse"),
            ]
        if self.name == "binary":
            return [keras.metrics.BinaryAccuracy(name="accuracy", threshold=DECISION_THRESHOLD),
                    keras.metrics.AUC(name="auc")]
        if self.name == "multiclass":
            if ignore_class is not None:
                from rskeras.heads import MaskedSparseAccuracy

                return [MaskedSparseAccuracy(ignore_class=ignore_class, name="accuracy")]
            if sparse_labels:
                return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
            return [keras.metrics.CategoricalAccuracy(name="accuracy")]
        return [
            keras.metrics.BinaryAccuracy(name="accuracy", threshold=DECISION_THRESHOLD),
            keras.metrics.AUC(name="auc", multi_label=True),
        ]

    def loss_object(self, sparse_labels: bool = True, label_smoothing: float = 0.0,
                    ignore_class: int | None = None):
        """The Keras loss of this task from :data:`LOSSES`, with the options it supports.

        Raises:
            ValueError: an option the loss does not support, naming the option and the losses that do.
        """
        spec = LOSSES[self.loss_for(sparse_labels)]
        given = {"label_smoothing": label_smoothing, "ignore_class": ignore_class}
        defaults = {"label_smoothing": 0.0, "ignore_class": None}
        for option, value in given.items():
            if value != defaults[option] and option not in spec.options:
                raise ValueError(self._unsupported(option, value, spec, sparse_labels))
        if label_smoothing and not 0 <= label_smoothing < 1:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        return spec.build(**{option: given[option] for option in spec.options})

    def _unsupported(self, option: str, value: Any, spec: LossSpec, sparse_labels: bool) -> str:
        supporting = [s.name for s in LOSSES.values() if option in s.options]
        message = (f"{option}={value!r} does not apply to task {self.name!r} with sparse_labels={sparse_labels} "
                   f"(loss {spec.name!r}, targets: {spec.targets}); losses that support {option}: "
                   f"{', '.join(supporting)}")
        if self.name == "multiclass" and option == "label_smoothing":
            message += "; pass sparse_labels=False with one-hot targets (rskeras.training.prepare_dataset makes them)"
        if self.name == "multiclass" and option == "ignore_class":
            message += "; pass sparse_labels=True with integer class targets"
        return message

    def compile(
        self,
        model,
        optimizer: Any = "adam",
        *,
        learning_rate: float | None = None,
        sparse_labels: bool = True,
        label_smoothing: float = 0.0,
        ignore_class: int | None = None,
        policy: str | None = None,
        jit_compile: bool | str = "auto",
        **compile_kwargs,
    ):
        """Compile ``model`` for this task: the one compile every rskeras entry point uses.

        Args:
            model: a Keras model; a model with several outputs gets this task's loss and metrics per
                output (``loss_weights=`` weighs them).
            optimizer: a Keras optimizer, or its name (e.g. ``"adam"``).
            learning_rate: the learning rate of an optimizer given by name (Keras' default when None).
            sparse_labels: integer class targets (True) or one-hot / real-valued targets (False).
            label_smoothing: smoothing of the targets of cross-entropy with one-hot or 0/1 targets.
            ignore_class: a target class index left out of the loss and the accuracy (e.g. 255 for
                unlabelled pixels); ``multiclass`` with integer targets.
            policy: the dtype policy the model was built under; ``mixed_float16`` wraps the optimizer
                in a ``LossScaleOptimizer`` (:func:`rskeras.training.precision.wrap_optimizer`).
                Default: Keras' global policy now.
            jit_compile: XLA compilation of the train step, as ``model.compile`` takes it.
            **compile_kwargs: further ``model.compile`` arguments (``loss_weights``, ``run_eagerly``...).

        Returns:
            The same model, compiled.

        Raises:
            ValueError: an option this task's loss does not support, or a learning rate for an
                optimizer object.
        """
        import keras

        from rskeras.training.precision import wrap_optimizer

        if isinstance(optimizer, str):
            config = {} if learning_rate is None else {"learning_rate": learning_rate}
            optimizer = keras.optimizers.get({"class_name": optimizer, "config": config})
        elif learning_rate is not None:
            raise ValueError(f"learning_rate={learning_rate!r} applies to an optimizer given by name; "
                             f"set it on the {type(optimizer).__name__} object instead")
        if policy is None:
            policy = keras.mixed_precision.dtype_policy().name
        n_outputs = len(model.outputs) if getattr(model, "outputs", None) else 1
        losses = [self.loss_object(sparse_labels, label_smoothing, ignore_class) for _ in range(n_outputs)]
        metrics = [self.metrics(sparse_labels, ignore_class) for _ in range(n_outputs)]
        if n_outputs == 1:
            losses, metrics = losses[0], metrics[0]
        model.compile(optimizer=wrap_optimizer(optimizer, policy), loss=losses, metrics=metrics,
                      jit_compile=jit_compile, **compile_kwargs)
        return model

    def decode(self, outputs: Any, axis: int = -1):
        """Model outputs -> classes: the one decoding rule (see the module table).

        Args:
            outputs: probabilities, a NumPy array (or anything ``np.asarray`` takes) or a TensorFlow
                tensor, with the outputs on ``axis``: ``(..., n_classes)`` for ``multiclass``,
                ``(..., 1)`` for ``binary``, ``(..., n_labels)`` for ``multilabel``.
            axis: the outputs' axis (``0`` for channel-first rasters ``(n_outputs, H, W)``).

        Returns:
            int64 classes of the input's kind: ``multiclass`` and ``binary`` without ``axis``
            (``(...)``: class index, or 0/1), ``multilabel`` with it (``(..., n_labels)`` of 0/1).

        Raises:
            ValueError: a regression task (values have no classes), or a binary output with
                more than one value on ``axis``.
        """
        if not self.is_classification:
            raise ValueError("task 'regression' predicts values, not classes: there is nothing to decode")
        tf = _tensorflow_for(outputs)
        if tf is not None:
            return self._decode_tensor(tf, outputs, axis)
        y = np.asarray(outputs)
        if self.name == "binary":
            self._check_binary(y.shape, axis)
        if self.name == "multiclass":
            return np.argmax(y, axis=axis).astype(np.int64)  # NumPy returns the first maximum
        positive = (y > DECISION_THRESHOLD).astype(np.int64)
        return np.squeeze(positive, axis=axis) if self.name == "binary" else positive

    def _decode_tensor(self, tf, y, axis: int):
        if self.name == "binary":
            self._check_binary(tuple(y.shape), axis)
        if self.name == "multiclass":
            # tf.argmax leaves ties unspecified; keep the first maximum, as NumPy does
            is_max = tf.equal(y, tf.reduce_max(y, axis=axis, keepdims=True))
            first = tf.logical_and(is_max, tf.equal(tf.cumsum(tf.cast(is_max, tf.int32), axis=axis), 1))
            return tf.argmax(tf.cast(first, tf.int32), axis=axis, output_type=tf.int64)
        positive = tf.cast(y > DECISION_THRESHOLD, tf.int64)
        return tf.squeeze(positive, axis=axis) if self.name == "binary" else positive

    @staticmethod
    def _check_binary(shape: Sequence[int | None], axis: int) -> None:
        if shape and shape[axis] not in (1, None):
            raise ValueError(f"binary outputs have one probability on axis {axis}, got shape {tuple(shape)}; "
                             "decode several labels with task 'multilabel', classes with 'multiclass'")

    def check_outputs(self, n_outputs: int) -> None:
        """Raise ``ValueError`` when ``n_outputs`` cannot serve this task."""
        if n_outputs < 1:
            raise ValueError(f"n_outputs must be at least 1, got {n_outputs}")
        if self.name == "binary" and n_outputs != 1:
            raise ValueError(
                f"task 'binary' has one sigmoid output, got n_outputs={n_outputs}; "
                "use task='multiclass' (softmax) or 'multilabel' (sigmoids) for more"
            )
        if self.name == "multiclass" and n_outputs < 2:
            raise ValueError(
                f"task 'multiclass' needs n_outputs >= 2 classes, got {n_outputs}; "
                "use task='binary' for two classes with one output"
            )


TASKS: dict[str, Task] = {
    "regression": Task(
        "regression", "linear", "mean_squared_error", None,
        "real-valued targets (e.g. NDVI, building height in metres)",
    ),
    "binary": Task(
        "binary", "sigmoid", "binary_crossentropy", None,
        "two classes, one sigmoid output (e.g. building / not building)",
    ),
    "multiclass": Task(
        "multiclass", "softmax", "categorical_crossentropy", "sparse_categorical_crossentropy",
        "one label out of many classes (e.g. EuroSAT land use, land cover)",
    ),
    "multilabel": Task(
        "multilabel", "sigmoid", "binary_crossentropy", None,
        "any number of labels out of many classes (e.g. BigEarthNet)",
    ),
}


def get_task(task: str | Task) -> Task:
    """Look up a task by name; the error lists the names that exist."""
    if isinstance(task, Task):
        return task
    try:
        return TASKS[task]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown task {task!r}; choose one of {', '.join(repr(t) for t in TASKS)}"
        ) from None
