"""Field data + a raster, or an Earth Engine table export of pixel samples -> band vectors -> a trained
pixel-wise ANN, evaluated on held-out samples."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Sequence

import keras
import numpy as np
from tqdm.keras import TqdmCallback

from rskeras._checks import check_integer, check_number
from rskeras.data.ee_records._io import TFRECORD_SUFFIXES
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
        bands: the raster bands the model reads (rasterio 1-based indexes), for ``predict_raster``; the
            band properties for a table export.
        samples: the band vectors with the counts of dropped points (None for a table export).
        targets: the encoded labels of the kept samples.
        train_index, test_index: positions in ``samples`` used to train and to evaluate.
        metrics: the held-out evaluation (classification or regression report).
        history: ``model.fit``'s history.
    """

    model: keras.Model
    bands: list[int] | list[str]
    samples: Samples | None
    targets: EncodedLabels
    train_index: np.ndarray
    test_index: np.ndarray
    metrics: dict
    history: dict = field(default_factory=dict)


def is_table_export(source) -> bool:
    """Whether ``source`` names TFRecord files (a table export) rather than a raster."""
    names = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    return bool(names) and all(os.fspath(n).lower().endswith(TFRECORD_SUFFIXES) for n in names)


def _table_targets(labels: np.ndarray, task: str, class_names: Sequence[str] | None, label: str) -> EncodedLabels:
    """Targets from a table export's label property: class codes ``0, 1, ...`` (named by ``class_names``)
    or values."""
    if task == "regression" or class_names is None:
        codes = labels.astype(np.int64) if task != "regression" and np.all(labels == np.round(labels)) else labels
        return encode_labels(codes, task, field=label)
    codes = labels.astype(np.int64)
    bad = sorted(set(labels[(labels != codes) | (codes < 0) | (codes >= len(class_names))].tolist()))
    if bad:
        raise ValueError(f"property {label!r} holds {bad[:5]}, which are not codes 0..{len(class_names) - 1} of "
                         f"class_names {list(class_names)}")
    return EncodedLabels(codes.astype(np.int32), list(class_names))


def _vectors(source, points, label: str, bands, sensor, task, class_names) -> tuple:
    """``(values (n, bands), targets, band names, band ids for the result, samples or None, summary)``."""
    if is_table_export(source):
        from rskeras.data.ee_records.tables import read_sample_table

        if points is not None:
            raise ValueError("a table export holds its samples: give points only with a raster")
        if not bands or not all(isinstance(b, str) for b in bands):
            raise ValueError(f"bands= must name the band properties of the table export {source}, got {bands!r}")
        values, labels = read_sample_table(source, bands, label)
        if not len(values):
            raise ValueError(f"the table export {source} holds no records")
        targets = _table_targets(labels, task, class_names, label)
        return values, targets, list(bands), list(bands), None, f"{len(values)} samples from {source}"
    if points is None:
        raise ValueError(f"give the field points to sample {source} at (or a table export of pixel samples as the "
                         "source: *.tfrecord.gz)")
    if not isinstance(points, Points):
        points = read_points(points)
    points.column(label)  # fails early, naming the file and listing the columns
    samples = sample_raster(source, points, bands=bands, label=label, sensor=sensor)
    targets = encode_labels(samples.labels, task, class_names=class_names, field=label)
    return samples.values, targets, samples.band_names, samples.indexes, samples, samples.summary()


def train_pixel_model(
    source: str | os.PathLike | Sequence[str | os.PathLike],
    points: Points | str | os.PathLike | None = None,
    label: str | None = None,
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
    """Train the pixel-wise ANN on band vectors: sampled at field points, or read from a table export.

    Args:
        source: the image to sample (any CRS; points are reprojected to it), or an Earth Engine table
            export of pixel samples (``image.sampleRegions`` exported as TFRecord: ``*.tfrecord.gz`` files,
            a pattern or a list, local or ``gs://``), one record per sample with a property per band.
        points: field data, or a path for :func:`rskeras.data.read_points` (rasters only).
        label: the attribute column, or the table's property, holding the class or the value to estimate.
        task: ``"multiclass"``, ``"binary"`` or ``"regression"``.
        bands: raster bands to use (1-based indexes or names; all when None); for a table export the
            band properties to read, in the model's order (required).
        sensor: a name of :data:`rskeras.data.SENSORS` giving band names to rasters
            without band descriptions.
        hidden, activation, dropout: the network, see :func:`rskeras.models.ann`.
        epochs, batch_size, learning_rate: training settings (Adam).
        test_fraction: share of samples held out (stratified by class) for the metrics.
        class_names: the class order; sorted labels when None. A table export's labels are class codes
            ``0, 1, ...`` (what Earth Engine exports), and ``class_names`` names them in that order.
        seed: makes sampling, splitting and weight initialisation repeatable.
        progress: show an epoch progress bar.

    Raises:
        ValueError: an argument out of range (``epochs=0``, ``test_fraction=1.5``; checked before
            anything is read), or a fault of the data naming the file, column or band.
    """
    check_training_arguments(task, hidden, dropout, epochs, batch_size, learning_rate, test_fraction)
    if not label:
        raise ValueError("label= must name the column or property holding the classes or values")
    values, targets, band_names, band_ids, samples, summary = _vectors(source, points, label, bands, sensor, task,
                                                                        class_names)
    stratify = targets.y if targets.class_names is not None else None
    train, test = split_indices(len(values), test_fraction, stratify=stratify, seed=seed)
    keras.utils.set_random_seed(seed)
    spec = get_task(task)
    n_outputs = len(targets.class_names) if task == "multiclass" else (1 if task == "binary" else targets.y.shape[1])
    model = ann(
        values.shape[1],
        task=task,
        n_outputs=n_outputs,
        hidden=hidden,
        activation=activation,
        dropout=dropout,
        training_vectors=values[train],
        band_names=band_names,
        class_names=targets.class_names,
    )
    spec.compile(model, "adam", learning_rate=learning_rate)
    y = targets.y.astype("float32").reshape(-1, 1) if task == "binary" else targets.y
    history = model.fit(
        values[train], y[train], epochs=epochs, batch_size=batch_size, verbose=0,
        callbacks=[TqdmCallback(epochs, verbose=0, desc="training ANN")] if progress else [],
    )
    predicted = model.predict(values[test], batch_size=4096, verbose=0)
    if task == "regression":
        metrics = regression_report(targets.y[test], predicted)
    else:
        metrics = classification_report(targets.y[test], spec.decode(predicted), targets.class_names)
    metrics.update(n_train=int(len(train)), n_test=int(len(test)), sampling=summary)
    return PixelTrainingResult(
        model=model, bands=band_ids, samples=samples, targets=targets,
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
