"""The four problem types (no TensorFlow here; :mod:`rskeras.heads` builds on it).

See :mod:`rskeras.heads` for the table of activations and losses.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Task:
    """One problem type: its final activation, loss and default metrics.

    Attributes:
        name: the ``task=`` name.
        activation: the final activation, by Keras name.
        loss: the loss for dense (one-hot or real-valued) targets.
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

    def metrics(self, sparse_labels: bool = True) -> list:
        """Fresh Keras metric objects (one set per compile) for this task."""
        import keras

        if self.name == "regression":
            return [
                keras.metrics.MeanAbsoluteError(name="mae"),
                keras.metrics.RootMeanSquaredError(name="rmse"),
            ]
        if self.name == "binary":
            return [keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")]
        if self.name == "multiclass":
            if sparse_labels:
                return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
            return [keras.metrics.CategoricalAccuracy(name="accuracy")]
        return [
            keras.metrics.BinaryAccuracy(name="accuracy"),
            keras.metrics.AUC(name="auc", multi_label=True),
        ]

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
