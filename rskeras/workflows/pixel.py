"""Field data + a raster -> band vectors -> a trained pixel-wise ANN, evaluated on held-out points."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import keras
import numpy as np
from tqdm.keras import TqdmCallback

from rskeras._checks import check_integer, check_number
from rskeras.data.labels import EncodedLabels, encode_labels, split_indices
from rskeras.data.points import Points, read_points
from rskeras.data.sampling import Samples, sample_raster
from rskeras.evaluation import classification_report, regression_report
from rskeras.models.ann import ann
from rskeras.tasks import get_task


@dataclass
class PixelTrainingResult:
    """What :func:`train_pixel_model` produced.

    Attributes:
        model: the trained model; it takes raw band values of ``bands``.
        bands: the raster bands the model reads (rasterio 1-based indexes), for ``predict_raster``.
        samples: the band vectors with the counts of dropped points.
        targets: the encoded labels of the kept points.
        train_index, test_index: positions in ``samples`` used to train and to evaluate.
        metrics: the held-out evaluation (classification or regression report).
        history: ``model.fit``'s history.
    """

    model: keras.Model
    bands: list[int]
    samples: Samples
    targets: EncodedLabels
    train_index: np.ndarray
    test_index: np.ndarray
    metrics: dict
    history: dict = field(default_factory=dict)


def train_pixel_model(
    raster: str | os.PathLike,
    points: Points | str | os.PathLike,
    label: str,
    *,
    task: str = "multiclass",
    bands: Sequence[int | str] | None = None,
    sensor: str | None = None,
    hidden: Sequence[int] = (64, 64),
    activation: str = "relu",
    dropout: float = 0.1,
    epochs: int = 100,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    test_fraction: float = 0.3,
    class_names: Sequence[str] | None = None,
    seed: int = 0,
    progress: bool = True,
) -> PixelTrainingResult:
    """Train the pixel-wise ANN on band vectors sampled at field points.

    Args:
        raster: the image to sample (any CRS; points are reprojected to it).
        points: field data, or a path for :func:`rskeras.data.read_points`.
        label: the attribute column holding the class or the value to estimate.
        task: ``"multiclass"``, ``"binary"`` or ``"regression"``.
        bands: raster bands to use (1-based indexes or names); all when None.
        sensor: a name of :data:`rskeras.data.SENSORS` giving band names to rasters
            without band descriptions.
        hidden, activation, dropout: the network, see :func:`rskeras.models.ann`.
        epochs, batch_size, learning_rate: training settings (Adam).
        test_fraction: share of points held out (stratified by class) for the metrics.
        class_names: the class order; sorted labels when None.
        seed: makes sampling, splitting and weight initialisation repeatable.
        progress: show an epoch progress bar.

    Raises:
        ValueError: an argument out of range (``epochs=0``, ``test_fraction=1.5``; checked before
            anything is read), or a fault of the data naming the file, column or band.
    """
    check_training_arguments(task, hidden, dropout, epochs, batch_size, learning_rate, test_fraction)
    if not isinstance(points, Points):
        points = read_points(points)
    points.column(label)  # fails early, naming the file and listing the columns
    samples = sample_raster(raster, points, bands=bands, label=label, sensor=sensor)
    targets = encode_labels(samples.labels, task, class_names=class_names, field=label)
    stratify = targets.y if targets.class_names is not None else None
    train, test = split_indices(len(samples.values), test_fraction, stratify=stratify, seed=seed)
    keras.utils.set_random_seed(seed)
    spec = get_task(task)
    n_outputs = len(targets.class_names) if task == "multiclass" else (1 if task == "binary" else targets.y.shape[1])
    model = ann(
        samples.values.shape[1],
        task=task,
        n_outputs=n_outputs,
        hidden=hidden,
        activation=activation,
        dropout=dropout,
        training_vectors=samples.values[train],
        band_names=samples.band_names,
        class_names=targets.class_names,
    )
    spec.compile(model, "adam", learning_rate=learning_rate)
    y = targets.y.astype("float32").reshape(-1, 1) if task == "binary" else targets.y
    history = model.fit(
        samples.values[train], y[train], epochs=epochs, batch_size=batch_size, verbose=0,
        callbacks=[TqdmCallback(epochs, verbose=0, desc="training ANN")] if progress else [],
    )
    predicted = model.predict(samples.values[test], batch_size=4096, verbose=0)
    if task == "regression":
        metrics = regression_report(targets.y[test], predicted)
    else:
        metrics = classification_report(targets.y[test], spec.decode(predicted), targets.class_names)
    metrics.update(n_train=int(len(train)), n_test=int(len(test)), sampling=samples.summary())
    return PixelTrainingResult(
        model=model, bands=samples.indexes, samples=samples, targets=targets,
        train_index=train, test_index=test, metrics=metrics, history=history.history,
    )


PIXEL_TASKS = ("multiclass", "binary", "regression")


def check_training_arguments(task: str, hidden: Sequence[int], dropout: float, epochs: int, batch_size: int,
                     learning_rate: float, test_fraction: float) -> None:
    """Refuse settings of :func:`train_pixel_model` that cannot train a model, before any data is read."""
    if task not in PIXEL_TASKS:
        raise ValueError(f"task={task!r} must be one of {', '.join(PIXEL_TASKS)}")
    for units in hidden:
        check_integer("hidden", units)
    check_number("dropout", dropout, 0, 1, high_open=True)
    check_integer("epochs", epochs)
    check_integer("batch_size", batch_size)
    check_number("learning_rate", learning_rate, 0, low_open=True)
    check_number("test_fraction", test_fraction, 0, 1, low_open=True, high_open=True)
