"""Config-driven training: ``rskeras.training.train(config)`` and the pieces it is made of.

::

    from rskeras.training import train
    result = train("eurosat.yaml")          # or a dict with the same sections
    result.evaluation["overall_accuracy"], result.run.path

The steps, each usable on its own: :func:`load_data` (datasets, shapes, band statistics),
:func:`build_model` (the builder of ``model.name`` with the normalisation inside),
:func:`make_optimizer` (optimizer and learning-rate schedule), :func:`compile_model`
(loss with label smoothing, the task's metrics, loss scaling), :func:`prepare_dataset`
(augmentation, one-hot targets, sharding), and :func:`fit` (``model.fit`` in a resumable run
folder).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
import yaml

from rskeras.io import atomic_path, atomic_write_text
from rskeras.layers.normalization import band_statistics
from rskeras.tasks import get_task
from rskeras.data.augment import dihedral
from rskeras.training.config import (
    MODEL_KINDS,
    Config,
    TaskConfig,
    TrainingConfig,
    load_config,
    model_builder,
    raster_bands,
    raster_classes,
    raster_sampler,
    raster_split,
)
from rskeras.training.distribute import (
    build_for_multi_worker,
    get_strategy,
    is_chief,
    shard_options,
    worker_index,
)
from rskeras.training.precision import set_precision
from rskeras.training.runs import RunFolder, set_seeds


@dataclass
class TrainingData:
    """Datasets and what the model needs to know about them.

    Attributes:
        train, validation: ``(image, target)`` datasets, batched (validation may be None).
        input_shape: ``(H, W, bands)`` of one patch.
        band_names: the bands, in channel order.
        class_names: class names in label order (classification), else None.
        band_stats: ``(mean, std)`` per band of raw training values, for the model's normalisation.
        steps_per_epoch: batches in one pass over ``train``.
        ignore_class: the target of unlabelled pixels, to leave out of the loss and the metrics
            (dense targets of source ``rasters``), else None.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    input_shape: tuple[int, int, int]
    band_names: list[str]
    class_names: list[str] | None
    band_stats: tuple[list[float], list[float]]
    steps_per_epoch: int
    ignore_class: int | None = None


@dataclass
class TrainResult:
    """What :func:`train` produced: the model, its history, the run folder, the evaluation and the export."""

    model: keras.Model
    history: dict
    run: RunFolder
    config: Config
    evaluation: dict | None = None
    export: Path | None = None
    files: dict = field(default_factory=dict)


def _stats(dataset: tf.data.Dataset, samples: int) -> tuple[list[float], list[float]]:
    images = [x.numpy() for x, _ in dataset.unbatch().take(samples).batch(256)]
    mean, std = band_statistics(np.concatenate(images).reshape(-1, images[0].shape[-1]))
    return [float(v) for v in mean], [float(v) for v in std]


def _count_batches(dataset: tf.data.Dataset) -> int:
    n = int(dataset.cardinality())
    if n >= 0:
        return n
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def load_data(config: Config | Mapping, drop_remainder: bool = False) -> TrainingData:
    """The training and validation datasets of ``config.data`` (raw values; no augmentation yet)."""
    config = load_config(config)
    data, seed = config.data, config.training.seed
    ignore_class = None
    if data.source == "rasters":
        train, validation, stats_source, class_names, band_names, ignore_class = _raster_data(config, drop_remainder)
    elif data.source == "eurosat":
        from rskeras.data.eurosat_dataset import eurosat, eurosat_class_names, resolve_bands

        _, _, band_names = resolve_bands(data.bands)
        common = {"root": data.root, "bands": data.bands, "batch_size": data.batch_size, "seed": seed,
                  "cache": data.cache}
        train = eurosat(split=data.train_split, limit=data.limit, drop_remainder=drop_remainder, **common)
        validation = None
        if data.validation_split is not None:
            validation = eurosat(split=data.validation_split, limit=data.validation_limit, shuffle=False, **common)
        class_names = config.task.class_names or eurosat_class_names(data.root)
        stats_source = eurosat(split=data.train_split, limit=data.limit, shuffle=False, root=data.root,
                               bands=data.bands, batch_size=256, seed=seed)
    else:
        from rskeras.data.ee_records import ee_patch_dataset

        band_names = list(data.bands)
        label_dtype = "int32" if config.task.type == "multiclass" else "float32"
        common = {"bands": band_names, "label": data.label, "patch_size": data.patch_size,
                  "batch_size": data.batch_size, "label_dtype": label_dtype, "seed": seed}
        train = ee_patch_dataset(data.train_files, shuffle=2048, cache="memory" if data.cache else None,
                                 drop_remainder=drop_remainder, **common)
        validation = ee_patch_dataset(data.validation_files, **common) if data.validation_files else None
        if data.limit:
            train = train.take(math.ceil(data.limit / data.batch_size))
        if validation is not None and data.validation_limit:
            validation = validation.take(math.ceil(data.validation_limit / data.batch_size))
        class_names = config.task.class_names
        stats_source = ee_patch_dataset(data.train_files, **common)
    first = next(iter(train.take(1)))[0]
    input_shape = tuple(int(d) for d in first.shape[1:])
    return TrainingData(
        train=train, validation=validation, input_shape=input_shape, band_names=band_names, class_names=class_names,
        band_stats=_stats(stats_source, data.stats_samples), steps_per_epoch=_count_batches(train),
        ignore_class=ignore_class,
    )


def _raster_data(config: Config, drop_remainder: bool) -> tuple:
    """Source ``rasters``: ``(train, validation, stats source, class names, band names, ignore class)``.

    Targets follow the model (:data:`MODEL_KINDS`): a class per pixel with ``data.ignore_value``
    where there is no label (dense models; multiclass), a class per patch by ``data.patch_target``
    or one 0/1 per class (``multilabel``; patch classifiers), labelled pixels' band vectors (pixel
    models). Training patches come from ``data.sampler`` in subset ``train`` of ``data.spatial_split``;
    validation patches from a grid over subset ``validation`` (None without a split).
    """
    from rskeras.data import GridSampler, raster_dataset

    data, task = config.data, config.task.type
    kind = MODEL_KINDS.get(config.model.name, "patch")
    target = {"dense": "dense", "pixel": "pixel"}.get(kind, "multilabel" if task == "multilabel" else data.patch_target)
    sampler, split = raster_sampler(data.sampler), raster_split(data.spatial_split)
    common = {"bands": raster_bands(data.bands), "sensor": data.sensor, "patch_size": data.patch_size or 64,
              "label_column": data.label_column, "label_layer": data.label_layer, "classes": raster_classes(config),
              "values": task == "regression", "target": target, "buffer": data.buffer, "crs": data.crs,
              "ignore_value": data.ignore_value, "max_nodata": data.max_nodata, "resolution": data.resolution,
              "batch_size": data.batch_size, "seed": config.training.seed}

    def read(subset: str | None, sampler, **options):
        return raster_dataset(data.images, data.labels, sampler=sampler, split=split, subset=subset, **common,
                              **options)

    cached = "memory" if data.cache else None
    train = read("train" if split else None, sampler, shuffle=256, drop_remainder=drop_remainder,
                 cache=cached if isinstance(sampler, GridSampler) else None)
    names = (train.class_names, train.band_names)
    validation = None
    if split is not None and "validation" in split.subset_names():
        validation = read("validation", GridSampler(), cache=cached)
    if data.limit:
        train = train.take(math.ceil(data.limit / data.batch_size))
    if validation is not None and data.validation_limit:
        validation = validation.take(math.ceil(data.validation_limit / data.batch_size))
    ignore = data.ignore_value if kind == "dense" and task == "multiclass" else None
    return train, validation, read("train" if split else None, sampler), *names, ignore


def n_outputs(task: TaskConfig, class_names: Sequence[str] | None) -> int:
    """Outputs of the model: ``task.n_outputs``, else the number of classes, else 1."""
    if task.n_outputs is not None:
        return task.n_outputs
    if task.type == "binary":
        return 1
    return len(class_names) if class_names else 1


def build_model(config: Config | Mapping, data: TrainingData) -> keras.Model:
    """The model ``config.model`` describes, for ``data``'s patches, with their band statistics inside."""
    config = load_config(config)
    builder = model_builder(config.model.name)
    class_names = data.class_names if config.task.type in ("multiclass", "multilabel") else None
    return builder(
        data.input_shape, task=config.task.type, n_outputs=n_outputs(config.task, data.class_names),
        class_names=class_names, band_names=data.band_names, band_stats=data.band_stats, **config.model.options,
    )


def learning_rate_schedule(training: TrainingConfig, steps_per_epoch: int):
    """The learning rate as a function of the optimizer step (a float for ``"constant"``)."""
    total = max(1, training.epochs * steps_per_epoch)
    peak = training.learning_rate
    if training.schedule == "constant":
        return peak
    if training.schedule == "onecycle":
        warmup = int(0.3 * total)
        start = peak / 25
    else:
        warmup = min(int(training.warmup_epochs * steps_per_epoch), total - 1)
        start = peak / 10 if warmup else peak
    return keras.optimizers.schedules.CosineDecay(
        start, decay_steps=max(1, total - warmup), alpha=0.0,
        warmup_target=peak if warmup else None, warmup_steps=warmup,
    )


def make_optimizer(training: TrainingConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The optimizer of ``training`` with its learning-rate schedule; weight decay spares biases and norms."""
    lr = learning_rate_schedule(training, steps_per_epoch)
    if training.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if training.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(lr, weight_decay=training.weight_decay)
    else:
        optimizer = keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, weight_decay=training.weight_decay or None)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def compile_model(model: keras.Model, task: str, optimizer: keras.optimizers.Optimizer, label_smoothing: float = 0.0,
                  policy: str = "float32", jit_compile: bool = False, ignore_class: int | None = None) -> keras.Model:
    """Compile ``model`` for ``task`` with :meth:`rskeras.tasks.Task.compile`: the task's loss (smoothed
    one-hot targets when ``label_smoothing``), its metrics, and loss scaling under ``mixed_float16``;
    ``ignore_class``: a target left out of the loss and the accuracy (unlabelled pixels).

    With ``label_smoothing`` a multiclass model expects one-hot targets (see :func:`prepare_dataset`).
    """
    spec = get_task(task)
    sparse_labels = not (label_smoothing and spec.name == "multiclass")
    return spec.compile(model, optimizer, sparse_labels=sparse_labels, label_smoothing=label_smoothing,
                        ignore_class=ignore_class, policy=policy, jit_compile=jit_compile)


def prepare_dataset(dataset: tf.data.Dataset, task: str, n_classes: int, training: bool, augment: bool = False,
                    label_smoothing: float = 0.0, seed: int | None = None) -> tf.data.Dataset:
    """Batches ready for ``fit``: augmented (training), one-hot targets under label smoothing, sharded by element."""
    if training and augment:
        dataset = dataset.map(lambda x, y: dihedral(x, y, seed=seed), num_parallel_calls=tf.data.AUTOTUNE)
    if label_smoothing and task == "multiclass":
        def one_hot(x, y):
            y = tf.cast(y, tf.int32)
            if y.shape.rank == 4:
                y = tf.squeeze(y, -1)
            return x, tf.one_hot(y, n_classes)

        dataset = dataset.map(one_hot, num_parallel_calls=tf.data.AUTOTUNE)
    return shard_options(dataset.prefetch(tf.data.AUTOTUNE))


def fit(model: keras.Model, train: tf.data.Dataset, validation: tf.data.Dataset | None, run: RunFolder,
        epochs: int, steps_per_epoch: int | None = None, monitor: str = "val_loss", tensorboard: bool = True,
        callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int | str = 1) -> dict:
    """``model.fit`` in the resumable ``run`` folder; returns the history of the epochs run now.

    A run with checkpoints continues after its last saved epoch up to ``epochs``; a finished run
    returns an empty history. Training stops with :class:`~rskeras.training.runs.NonFiniteLossError`
    at the first batch with a non-finite loss.
    """
    if validation is None and monitor.startswith("val_"):
        monitor = monitor.removeprefix("val_")
    if not model.built:
        model.build((None, *model.input_shape[1:]))
    build_for_multi_worker(model, train)
    history = model.fit(
        train, validation_data=validation, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose, shuffle=False,
        callbacks=[*run.callbacks(monitor=monitor, tensorboard=tensorboard), *callbacks],
    )
    return dict(history.history)


def train(config: str | Mapping | Config, callbacks: Sequence[keras.callbacks.Callback] = ()) -> TrainResult:
    """Train, evaluate and export as ``config`` says (a YAML path, a dict or a :class:`Config`).

    The configuration is validated before any data is read. The run folder gets
    ``config.yaml``, checkpoints, ``best.keras``, ``log.csv``, TensorBoard logs, the final
    ``model.keras`` and (``output.evaluate``) ``evaluation/metrics.json`` with the confusion
    matrix figure; ``output.export`` receives the SavedModel and a ``.keras`` copy. Started
    again, a killed run continues from its last finished epoch.
    """
    config = load_config(config)
    t = config.training
    set_seeds(t.seed, deterministic=t.deterministic)
    strategy = get_strategy(t.strategy)
    run = RunFolder(Path(config.output.run_dir), chief=is_chief(strategy), worker=worker_index(strategy))
    if run.chief:
        atomic_write_text(run.path / "config.yaml", yaml.safe_dump(config.to_dict(), sort_keys=False))
    data = load_data(config, drop_remainder=strategy.num_replicas_in_sync > 1)
    steps = t.steps_per_epoch or data.steps_per_epoch
    previous_policy = keras.mixed_precision.dtype_policy()
    try:
        with strategy.scope():
            policy = set_precision(t.precision, strategy)
            model = build_model(config, data)
            compile_model(model, config.task.type, make_optimizer(t, steps), t.label_smoothing, policy,
                          jit_compile=t.jit_compile, ignore_class=data.ignore_class)
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
    n_classes = n_outputs(config.task, data.class_names)
    train_ds = prepare_dataset(data.train, config.task.type, n_classes, True, t.augment, t.label_smoothing, t.seed)
    val_ds = None
    if data.validation is not None:
        val_ds = prepare_dataset(data.validation, config.task.type, n_classes, False, label_smoothing=t.label_smoothing)
    print(f"rskeras train: {config.model.name} ({model.count_params():,} parameters, {policy}, "
          f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)) on {data.input_shape} patches, "
          f"{steps} steps per epoch, run folder {run.path}")
    history = fit(model, train_ds, val_ds, run, t.epochs, t.steps_per_epoch, t.monitor, config.output.tensorboard,
                  callbacks, verbose=t.verbose)
    result = TrainResult(model=model, history=history, run=run, config=config)
    if not run.chief:
        return result
    with atomic_path(run.path / "model.keras") as tmp:
        model.save(tmp)
    result.files["model"] = run.path / "model.keras"
    if config.output.evaluate and data.validation is not None:
        from rskeras.evaluation import evaluate_model, write_report

        report = evaluate_model(model, data.validation, class_names=data.class_names, ignore_index=data.ignore_class)
        result.evaluation = report
        result.files.update(write_report(report, run.path / "evaluation"))
    if config.output.export:
        result.export = export_model(model, config.output.export)
        result.files["export"] = result.export
    return result


def export_model(model: keras.Model, folder: str | Path, version: int | None = None, overwrite: bool = False,
                 models_config: bool = True) -> Path:
    """``folder/<name>.keras`` and a SavedModel version folder ``folder/<version>/`` (:mod:`rskeras.serving`).

    Both hold the model without its optimizer state (for inference and serving; resume training from
    the run folder's checkpoints).

    ``version`` None adds one after the existing versions; ``overwrite`` replaces an existing one;
    ``models_config`` adds the model to the parent folder's TF Serving ``models.config``.
    Returns the version folder.
    """
    from rskeras.serving import export_saved_model

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    # the same layers in an uncompiled model: no optimizer state in the exported files
    served = keras.Model(model.inputs, model.outputs, name=model.name)
    with atomic_path(folder / f"{folder.name}.keras") as tmp:
        served.save(tmp)
    return export_saved_model(served, folder, version=version, overwrite=overwrite, models_config=models_config)
