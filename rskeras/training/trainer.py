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

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from rskeras.data.ee_records.stats import BandStats
from rskeras.io import atomic_path, atomic_write_text, check_output, check_outputs
from rskeras.layers.normalization import band_statistics
from rskeras.models.contract import default_outputs
from rskeras.models.registry import get_model_family
from rskeras.tasks import get_task
from rskeras.data.augment import MIXING, batch_augmenter, parse_augment
from rskeras.training.config import (
    Config,
    ConfigError,
    TaskConfig,
    TrainingConfig,
    load_config,
    raster_bands,
    raster_classes,
    raster_sampler,
    raster_split,
)
from rskeras.training.budget import ReplannableSchedule
from rskeras.training.distribute import (
    build_for_multi_worker,
    get_strategy,
    is_chief,
    shard_options,
    worker_index,
)
from rskeras.training.precision import precision_scope, with_dtype_policy
from rskeras.training.progressive import ProgressiveResizing, ResizeSchedule, check_network, sizes_by_epoch
from rskeras.training.runs import RunChangedError, RunFolder, check_resume, set_seeds


@dataclass
class TrainingData:
    """Datasets and what the model needs to know about them.

    Attributes:
        train, validation: ``(image, target)`` datasets, batched (validation may be None).
        input_shape: ``(H, W, bands)`` of one patch, ``(bands,)`` of one pixel (pixel models), or
            ``{input: (H, W, bands)}`` (multi-input models).
        band_names: the bands, in channel order (per input for multi-input models).
        class_names: class names in label order (classification), else None.
        band_stats: mean, std and value ranges per band of raw training values (:class:`BandStats`,
            unnamed), for the model's normalisation and input contract (per input for multi-input models).
        steps_per_epoch: batches in one pass over ``train``.
        ignore_class: the target of unlabelled pixels, to leave out of the loss and the metrics
            (dense targets of source ``rasters``), else None.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    input_shape: tuple[int, ...] | dict[str, tuple[int, ...]]
    band_names: list[str] | dict[str, list[str]]
    class_names: list[str] | None
    band_stats: BandStats | dict[str, BandStats]
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


def _stats(dataset: tf.data.Dataset, samples: int) -> BandStats | dict[str, BandStats]:
    """Mean, std and value ranges per band of the first ``samples`` inputs (a dict of them for dict inputs),
    unnamed: the model takes its band names from ``band_names``."""
    batches = [x for x, _ in dataset.unbatch().take(samples).batch(256)]
    if isinstance(batches[0], Mapping):
        return {key: band_statistics(np.concatenate([b[key].numpy() for b in batches])) for key in batches[0]}
    return band_statistics(np.concatenate([b.numpy() for b in batches]))


def _pixel_vectors(images: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(batch, 1, 1, bands)`` patches of a table export -> ``(batch, bands)`` vectors for pixel models."""
    return tf.reshape(images, (-1, images.shape[-1])), targets


def _count_batches(dataset: tf.data.Dataset) -> int:
    n = int(dataset.cardinality())
    if n >= 0:
        return n
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def load_data(config: Config | Mapping, drop_remainder: bool = False) -> TrainingData:
    """The training and validation datasets of ``config.data`` (raw values; no augmentation yet).

    Pixel models (``ann``) get ``(batch, bands)`` vectors from 1x1 Earth Engine patches (a table
    export); multi-input models (``m3net``) get dict images from ``data.bands`` given per input.
    """
    config = load_config(config)
    data, seed = config.data, config.training.seed
    family = get_model_family(config.model.name)
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

        band_names = data.bands if isinstance(data.bands, Mapping) else list(data.bands)
        integer_labels = config.task.type == "multiclass" and family.target_output is None
        common = {"bands": band_names, "label": data.label, "batch_size": data.batch_size, "seed": seed,
                  "patch_size": 1 if family.kind == "pixel" else data.patch_size,
                  "label_dtype": "int32" if integer_labels else "float32"}
        train = ee_patch_dataset(data.train_files, shuffle=2048, cache="memory" if data.cache else None,
                                 drop_remainder=drop_remainder, **common)
        validation = ee_patch_dataset(data.validation_files, **common) if data.validation_files else None
        if data.limit:
            train = train.take(math.ceil(data.limit / data.batch_size))
        if validation is not None and data.validation_limit:
            validation = validation.take(math.ceil(data.validation_limit / data.batch_size))
        class_names = config.task.class_names
        stats_source = ee_patch_dataset(data.train_files, **common)
        if family.kind == "pixel":
            train, stats_source = train.map(_pixel_vectors), stats_source.map(_pixel_vectors)
            validation = validation.map(_pixel_vectors) if validation is not None else None
    first = next(iter(train.take(1)))[0]
    input_shape = tf.nest.map_structure(lambda t: tuple(int(d) for d in t.shape[1:]), first)
    return TrainingData(
        train=train, validation=validation, input_shape=input_shape, band_names=band_names, class_names=class_names,
        band_stats=_stats(stats_source, data.stats_samples), steps_per_epoch=_count_batches(train),
        ignore_class=ignore_class,
    )


def _raster_data(config: Config, drop_remainder: bool) -> tuple:
    """Source ``rasters``: ``(train, validation, stats source, class names, band names, ignore class)``.

    Targets follow the model's kind (:data:`rskeras.models.MODELS`): a class per pixel with ``data.ignore_value``
    where there is no label (dense models; multiclass), a class per patch by ``data.patch_target``
    or one 0/1 per class (``multilabel``; patch classifiers), labelled pixels' band vectors (pixel
    models). Training patches come from ``data.sampler`` in subset ``train`` of ``data.spatial_split``;
    validation patches from a grid over subset ``validation`` (None without a split).
    """
    from rskeras.data import GridSampler, raster_dataset

    data, task = config.data, config.task.type
    kind = get_model_family(config.model.name).kind
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
    """Outputs of the model (:func:`rskeras.models.default_outputs` for ``task.n_outputs`` and the classes)."""
    return default_outputs(task.type, task.n_outputs, _model_class_names(task, class_names))


def _model_class_names(task: TaskConfig, class_names: Sequence[str] | None) -> list[str] | None:
    """The class names a model of ``task`` stores: those of multiclass and multilabel tasks."""
    return list(class_names) if class_names and task.type in ("multiclass", "multilabel") else None


def build_model(config: Config | Mapping, data: TrainingData) -> keras.Model:
    """The model ``config.model`` describes, for ``data``'s inputs, with their band statistics inside.

    The family comes from :data:`rskeras.models.MODELS`; a family with a training wrapper
    (M3Net: :class:`rskeras.models.UncertaintyWeightedModel`) is returned wrapped, ready for
    ``compile`` and ``fit`` (:func:`trained_network` gives the network inside).
    """
    config = load_config(config)
    family = get_model_family(config.model.name)
    network = family.build(
        data.input_shape, task=config.task.type, n_outputs=config.task.n_outputs,
        class_names=_model_class_names(config.task, data.class_names), band_names=data.band_names,
        band_stats=data.band_stats, **config.model.options,
    )
    return family.for_training(network)


def trained_network(config: Config | Mapping, model: keras.Model) -> keras.Model:
    """The network of a model from :func:`build_model` or :func:`resizing_model`, for saving, evaluation
    and export (unwrapped)."""
    if isinstance(model, ProgressiveResizing):
        model = model.network
    return get_model_family(load_config(config).model.name).network_of(model)


def resizing_model(config: Config, model: keras.Model) -> tuple[keras.Model, list[keras.callbacks.Callback]]:
    """``model`` wrapped for ``training.progressive_resizing`` with the callback that sets each epoch's patch
    side (:mod:`rskeras.training.progressive`); ``model`` and no callback without it."""
    schedule = config.training.progressive_resizing
    if not schedule:
        return model, []
    try:
        check_network(model, [size for size, _ in schedule])
    except ValueError as err:
        raise ConfigError(f"{config.origin.where('training.progressive_resizing')}: training.progressive_resizing: "
                          f"{err}", key="training.progressive_resizing") from None
    sizes = sizes_by_epoch(schedule, config.training.epochs, model.input_shape[1])
    return ProgressiveResizing(model, name=f"{model.name}_resizing"), [ResizeSchedule(sizes)]


def evaluated_model(config: Config | Mapping, network: keras.Model) -> keras.Model:
    """The part of ``network`` that :func:`train` evaluates: the family's target output, else all of it."""
    target = get_model_family(load_config(config).model.name).target_output
    return network if target is None else keras.Model(network.inputs, network.output[target], name=network.name)


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
    cosine = keras.optimizers.schedules.CosineDecay(
        start, decay_steps=max(1, total - warmup), alpha=0.0,
        warmup_target=peak if warmup else None, warmup_steps=warmup,
    )
    return ReplannableSchedule(cosine, total)  # FitToBudget can move its end


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


def one_hot_targets(task: str, label_smoothing: float = 0.0, augment=False) -> bool:
    """Whether a ``multiclass`` model trains on one-hot targets: under label smoothing or with mixup/cutmix."""
    mixing = any(name in MIXING for name in parse_augment(augment))
    return task == "multiclass" and bool(label_smoothing or mixing)


def compile_model(model: keras.Model, task: str, optimizer: keras.optimizers.Optimizer, label_smoothing: float = 0.0,
                  policy: str = "float32", jit_compile: bool = False, *, loss=None,
                  class_weights: Sequence[float] | None = None, ignore_class: float | None = None,
                  augment=False) -> keras.Model:
    """Compile ``model`` for ``task`` with :meth:`rskeras.tasks.Task.compile`: the loss (the task's, or
    ``loss``) with label smoothing, class weights and the ignore value, the task's metrics, and loss
    scaling under ``mixed_float16``.

    Under label smoothing or with mixup/cutmix in ``augment`` a multiclass model expects one-hot
    targets (:func:`one_hot_targets`; :func:`prepare_dataset` makes them).
    """
    sparse_labels = not one_hot_targets(task, label_smoothing, augment)
    return get_task(task).compile(model, optimizer, loss=loss, sparse_labels=sparse_labels,
                                  label_smoothing=label_smoothing, class_weights=class_weights,
                                  ignore_class=ignore_class, policy=policy, jit_compile=jit_compile)


def prepare_dataset(dataset: tf.data.Dataset, task: str, n_classes: int, training: bool, augment=False,
                    label_smoothing: float = 0.0, seed: int | None = None) -> tf.data.Dataset:
    """Batches ready for ``fit``: one-hot targets where :func:`one_hot_targets` says so (an ignored target
    becomes a row of zeros), augmented (training; ``augment`` as :func:`rskeras.data.augment.parse_augment`
    takes it), sharded by element."""
    if one_hot_targets(task, label_smoothing, augment):
        def one_hot(x, y):
            y = tf.cast(y, tf.int32)
            if y.shape.rank == 4:
                y = tf.squeeze(y, -1)
            return x, tf.one_hot(y, n_classes)

        dataset = dataset.map(one_hot, num_parallel_calls=tf.data.AUTOTUNE)
    if training and parse_augment(augment):
        dataset = dataset.map(batch_augmenter(augment, seed=seed, n_classes=n_classes),
                              num_parallel_calls=tf.data.AUTOTUNE)
    return shard_options(dataset.prefetch(tf.data.AUTOTUNE))


def resolve_class_weights(config: Config, data: TrainingData) -> dict | None:
    """The class weights of ``training.class_weights`` for ``data``: given, or ``"balanced"`` from the labels.

    Returns:
        None without class weights, else ``{"source": "balanced" | "given", "class_names": [...],
        "counts": [...] or None, "weights": [...]}`` (what the run folder's ``class_weights.json`` holds).
    """
    from rskeras.losses import balanced_class_weights, count_labels

    given, task = config.training.class_weights, get_task(config.task.type)
    if given is None:
        return None
    n_classes = task.n_classes(n_outputs(config.task, data.class_names))
    names = list(data.class_names) if data.class_names and len(data.class_names) == n_classes else [
        str(k) for k in range(n_classes)]
    counts = None
    if given == "balanced":
        counts = count_labels(data.train, task.name, n_classes, config.training.ignore_class)
        weights = balanced_class_weights(counts)
        counts = [int(c) for c in counts]
    elif isinstance(given, Mapping):
        missing = sorted(set(given) - set(names))
        if missing:
            raise ValueError(f"training.class_weights names class(es) {', '.join(map(repr, missing))} the data does "
                             f"not have; its classes: {', '.join(names)}")
        weights = [float(given.get(name, 1.0)) for name in names]
    else:
        weights = [float(w) for w in given]
    return {"source": "balanced" if given == "balanced" else "given", "class_names": names, "counts": counts,
            "weights": weights}


def fit(model: keras.Model, train: tf.data.Dataset, validation: tf.data.Dataset | None, run: RunFolder,
        epochs: int, steps_per_epoch: int | None = None, monitor: str = "val_loss", tensorboard: bool = True,
        callbacks: Sequence[keras.callbacks.Callback] = (), verbose: int | str = 1,
        validation_freq: int = 1) -> dict:
    """``model.fit`` in the resumable ``run`` folder; returns the history of the epochs run now.

    ``validation`` is evaluated after every ``validation_freq``-th epoch (counted from the run's
    first epoch, so a resumed run validates the same epochs).

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
        train, validation_data=validation, validation_freq=validation_freq, epochs=epochs,
        steps_per_epoch=steps_per_epoch, verbose=verbose, shuffle=False,
        callbacks=[*run.callbacks(monitor=monitor, tensorboard=tensorboard), *callbacks],
    )
    return dict(history.history)


def train(config: str | Mapping | Config, callbacks: Sequence[keras.callbacks.Callback] = ()) -> TrainResult:
    """Train, evaluate and export as ``config`` says (a YAML path, a dict or a :class:`Config`).

    Everything that can be checked before data is read is checked first: the configuration
    (bands against the data folder included), the output folders, and a run folder's recorded
    configuration. The run folder gets ``config.yaml`` (once, when training starts),
    checkpoints, ``best.keras``, ``log.csv``, TensorBoard logs, the final ``model.keras`` and
    (``output.evaluate``) ``evaluation/metrics.json`` with the confusion matrix figure;
    ``output.export`` receives the SavedModel and a ``.keras`` copy. The final model computes in
    float32 unless ``output.precision`` is ``"trained"`` (a mixed-precision run's copy has the same weights).

    Started again, a killed run continues from its last finished epoch (the first line printed
    says so); a changed configuration is refused, naming what changed (only
    :data:`~rskeras.training.runs.RESUMABLE_KEYS` may change); a finished run is neither
    trained nor exported again.
    """
    config = load_config(config)
    t = config.training
    done = _check_run(config)
    if done >= t.epochs:
        finished = _finished_run(config, done)
        if finished is not None:
            return finished
    if done:
        print(f"rskeras train: resuming run {config.output.run_dir} after epoch {min(done, t.epochs)} of {t.epochs}")
    set_seeds(t.seed, deterministic=t.deterministic)
    strategy = get_strategy(t.strategy)
    data = load_data(config, drop_remainder=strategy.num_replicas_in_sync > 1)
    class_weights = resolve_class_weights(config, data)
    steps = t.steps_per_epoch or data.steps_per_epoch
    with strategy.scope(), precision_scope(t.precision, strategy) as policy:
        model, resizing = resizing_model(config, build_model(config, data))
        compile_model(model, config.task.type, make_optimizer(t, steps), t.label_smoothing, policy,
                      jit_compile=t.jit_compile, loss=t.loss, augment=t.augment,
                      ignore_class=t.ignore_class if t.ignore_class is not None else data.ignore_class,
                      class_weights=class_weights and class_weights["weights"])
    n_classes = n_outputs(config.task, data.class_names)
    train_ds = prepare_dataset(data.train, config.task.type, n_classes, True, t.augment, t.label_smoothing, t.seed)
    val_ds = None
    if data.validation is not None:
        val_ds = prepare_dataset(data.validation, config.task.type, n_classes, False, t.augment, t.label_smoothing)
    run = RunFolder(Path(config.output.run_dir), chief=is_chief(strategy), worker=worker_index(strategy))
    if run.chief:
        run.record_config(config.to_dict())
        if class_weights is not None:
            atomic_write_text(run.path / "class_weights.json", json.dumps(class_weights, indent=2))
    print(f"rskeras train: {config.model.name} ({model.count_params():,} parameters, {policy}, "
          f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)) on {data.input_shape} patches, "
          f"{steps} steps per epoch, run folder {run.path}")
    history = fit(model, train_ds, val_ds, run, t.epochs, t.steps_per_epoch, t.monitor, config.output.tensorboard,
                  [*resizing, *callbacks], verbose=t.verbose, validation_freq=t.validation_freq)
    network = trained_network(config, model)
    if config.output.precision == "float32":
        network = with_dtype_policy(network)
    result = TrainResult(model=network, history=history, run=run, config=config)
    if not run.chief:
        return result
    with atomic_path(run.path / "model.keras") as tmp:
        network.save(tmp)
    result.files["model"] = run.path / "model.keras"
    if config.output.evaluate and data.validation is not None:
        from rskeras.evaluation import evaluate_model, write_report

        report = evaluate_model(evaluated_model(config, network), data.validation, class_names=data.class_names,
                                ignore_index=data.ignore_class)
        result.evaluation = report
        result.files.update(write_report(report, run.path / "evaluation"))
    _export(result)
    return result


def _check_run(config: Config) -> int:
    """Check the output folders and a run folder's recorded configuration; returns the epochs it has saved."""
    output = config.output
    outputs = [(output.run_dir, (), "output.run_dir")]
    if output.export:
        outputs.append((output.export, (), "output.export"))
    check_outputs(outputs, inputs=[config.data.root] if config.data.root else [], folder=True)
    try:
        return check_resume(output.run_dir, config.to_dict())
    except RunChangedError as err:
        raise RunChangedError(f"{config.origin.where(err.key)}: {err}", err.key) from None


def _finished_run(config: Config, done: int) -> TrainResult | None:
    """The result of a run that trained all its epochs and wrote everything asked for, read from its folder.

    None when something is missing (``model.keras``, the evaluation, the export of the last epoch):
    then :func:`train` restores the last checkpoint and writes it.
    """
    from rskeras.saving import load_model

    run = RunFolder(Path(config.output.run_dir))
    model, metrics = run.path / "model.keras", run.path / "evaluation" / "metrics.json"
    evaluated = config.output.evaluate and config.data.has_validation
    exported = run.exported(config.output.export)
    if not model.exists() or (evaluated and not metrics.exists()) or (config.output.export and exported is None):
        return None
    print(f"rskeras train: run {run.path} has finished {done} epoch(s) (training.epochs: {config.training.epochs}); "
          "nothing to train or export (raise training.epochs to continue it)")
    result = TrainResult(model=load_model(model), history={}, run=run, config=config, export=exported,
                         files={"model": model})
    if evaluated:
        result.evaluation = json.loads(metrics.read_text())
        result.files["metrics"] = metrics
        if "confusion_matrix" in result.evaluation:
            result.files["confusion_matrix"] = metrics.with_name("confusion_matrix.png")
    if exported is not None:
        result.files["export"] = exported
    return result


def _export(result: TrainResult) -> None:
    """Export the model of ``result`` to ``output.export``, unless this run already exported this epoch."""
    export, run = result.config.output.export, result.run
    if not export:
        return
    result.export = run.exported(export)
    if result.export is None:
        result.export = export_model(result.model, export)
        run.record_export(export, result.export)
    result.files["export"] = result.export


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
    check_output(folder, what="folder", folder=True)
    # the same layers in an uncompiled model: no optimizer state in the exported files
    served = keras.Model(model.inputs, model.outputs, name=model.name)
    with atomic_path(folder / f"{folder.name}.keras") as tmp:  # appears once the SavedModel version exists
        served.save(tmp)
        return export_saved_model(served, folder, version=version, overwrite=overwrite, models_config=models_config)
