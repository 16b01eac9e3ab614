"""The training configuration: five sections (data, model, task, training, output), validated before training.

A YAML file (or a dict of the same shape)::

    data:
      source: eurosat               # eurosat | earthengine | rasters (see DataConfig)
      root: ../shared/data/eurosat_rgb   # omit to read eurosat/rgb through tensorflow-datasets
      bands: rgb                    # rgb | all | a list of band names
      batch_size: 64
    model:
      name: compact_resnet          # see MODELS
      options: {widths: [32, 64, 128, 256]}   # keyword arguments of the builder
    task: multiclass                # or {type: multiclass, class_names: [...]}
    training:
      epochs: 30
      optimizer: adamw
      learning_rate: 0.002
      schedule: onecycle
      label_smoothing: 0.1
      augment: true                 # random flips and 90-degree rotations
      precision: auto
      strategy: auto
    output:
      run_dir: runs/eurosat
      export: saved_models/eurosat_compact_resnet

Every unknown section, key, model, model option, band or value is reported with the valid
choices by :func:`load_config`, before any data is read or model built.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rskeras.tasks import TASKS

# model name -> (module, builder); every builder takes input_shape, task, n_outputs, class_names,
# band_names and band_stats
MODELS: dict[str, tuple[str, str]] = {
    "cnn": ("rskeras.models.cnn", "cnn"),
    "compact_resnet": ("rskeras.models.compact_resnet", "compact_resnet"),
    "resnet50": ("rskeras.models.resnet", "resnet50"),
    "googlenet": ("rskeras.models.googlenet", "googlenet"),
    "unet": ("rskeras.models.unet", "unet"),
    "pspnet": ("rskeras.models.pspnet", "pspnet"),
    "deeplabv3": ("rskeras.models.deeplabv3", "deeplabv3"),
}
# arguments the training fills from the data and the task section
FILLED_ARGUMENTS = ("input_shape", "task", "n_outputs", "class_names", "band_names", "band_stats")
SOURCES = ("eurosat", "earthengine", "rasters")
#: What each model predicts, hence the targets source ``rasters`` makes for it: a class or value per
#: pixel of the patch ("dense"), one per patch ("patch"), one per pixel vector ("pixel"). The model
#: registry's family kinds replace this table once it lands.
MODEL_KINDS = {"cnn": "patch", "compact_resnet": "patch", "resnet50": "patch", "googlenet": "patch",
               "unet": "dense", "pspnet": "dense", "deeplabv3": "dense", "ann": "pixel"}
RASTER_SAMPLERS = ("random", "grid")
PATCH_TARGETS = ("majority", "centre")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")


class ConfigError(ValueError):
    """A configuration names an unknown section, key, model, option, band or value."""


@dataclass
class DataConfig:
    """``data:`` where the patches come from.

    Attributes:
        source: ``"eurosat"`` (:func:`rskeras.data.eurosat_dataset`), ``"earthengine"`` (TFRecord
            patches in Earth Engine's layout, :func:`rskeras.data.ee_patch_dataset`) or ``"rasters"``
            (GeoTIFF/COG scenes with a label raster or vector file, :func:`rskeras.data.raster_dataset`).
        root: EuroSAT folder (None: tensorflow-datasets).
        bands: ``"rgb"``, ``"all"`` or band names (EuroSAT); band names (Earth Engine); ``"all"`` or
            1-based band numbers and names (rasters).
        batch_size: global batch size (split over the replicas of a distribution strategy).
        train_split, validation_split: EuroSAT splits.
        train_files, validation_files: Earth Engine TFRecord files or glob patterns.
        label: Earth Engine property or band holding the target.
        patch_size: Earth Engine patch side in pixels (None: read from the first record); rasters:
            the patch side (None: 64).
        limit, validation_limit: use only that many training / validation patches.
        cache: keep decoded patches in memory after the first epoch (rasters: the validation
            patches and a grid sampler's; a random sampler draws new windows every epoch).
        stats_samples: patches used to compute the band statistics of the model's normalisation.

    Source ``rasters`` (see :func:`rskeras.data.raster_dataset` for each):
        images: the scenes (a file, a glob pattern, a list; a mapping band -> file).
        labels: a label raster (classes, or values for regression) or a vector file.
        label_column, label_layer: the class or value column (and layer) of a vector file.
        classes: label values in class order, or a mapping label value -> class name
            (default: the values found; ``task.class_names`` serves as the list too).
        sensor, crs, resolution: band names of undescribed files, and the target grid.
        sampler: ``random``, ``grid``, or ``{type: random, length: N, balanced: true}`` /
            ``{type: grid, stride: N}`` for the training patches (validation: a grid).
        spatial_split: ``{blocks: 64, fractions: [0.8, 0.2], seed: 0}`` or ``{regions: FILE,
            column: split}``: training patches from subset ``train``, validation from ``validation``.
        patch_target: the class of a patch for patch classifiers: ``majority`` or ``centre``
            (``multilabel`` tasks get one 0/1 per class; dense models one class per pixel, with
            ``ignore_value`` where there is no label, left out of the loss; pixel models the
            labelled pixels' band vectors).
        ignore_value, max_nodata, buffer: the target of unlabelled pixels, the nodata fraction
            above which a patch is skipped, and the buffer of vector points and lines.
    """

    source: str = "eurosat"
    root: str | None = None
    bands: str | list[str | int] = "rgb"
    batch_size: int = 64
    train_split: str = "train"
    validation_split: str | None = "validation"
    train_files: str | list[str] | None = None
    validation_files: str | list[str] | None = None
    label: str | None = None
    patch_size: int | None = None
    limit: int | None = None
    validation_limit: int | None = None
    cache: bool = True
    stats_samples: int = 2048
    images: str | list | dict | None = None
    labels: str | list[str] | None = None
    label_column: str | None = None
    label_layer: str | None = None
    classes: list | dict | None = None
    sensor: str | None = None
    crs: str | None = None
    resolution: float | None = None
    sampler: str | dict = "random"
    spatial_split: dict | None = None
    patch_target: str = "majority"
    ignore_value: int = 255
    max_nodata: float = 0.5
    buffer: float = 0.0


@dataclass
class ModelConfig:
    """``model:`` the builder (a name of :data:`MODELS`) and its keyword arguments."""

    name: str = "compact_resnet"
    options: dict = field(default_factory=dict)


@dataclass
class TaskConfig:
    """``task:`` the problem type (a name of :data:`rskeras.tasks.TASKS`), class names, outputs."""

    type: str = "multiclass"
    class_names: list[str] | None = None
    n_outputs: int | None = None


@dataclass
class TrainingConfig:
    """``training:`` optimisation, precision, distribution and seeds.

    Attributes:
        epochs: total epochs (a resumed run continues up to this number).
        steps_per_epoch: batches per epoch (None: one pass over the data).
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"`` (momentum 0.9, Nesterov).
        learning_rate: peak learning rate.
        weight_decay: decoupled weight decay (AdamW, SGD); biases and normalisation are excluded.
        schedule: ``"constant"``, ``"cosine"`` (linear warm-up over ``warmup_epochs``, cosine
            decay to 0) or ``"onecycle"`` (warm-up from ``learning_rate / 25`` over the first
            30 % of the steps, then cosine decay to 0).
        warmup_epochs: warm-up of the cosine schedule.
        label_smoothing: smoothing of one-hot targets (classification).
        augment: random flips and 90-degree rotations of patches (and of dense targets).
        precision: ``"auto"``, ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        strategy: ``"auto"``, ``"default"``, ``"mirrored"``, ``"multi_worker"`` or ``"tpu"``.
        seed: seeds weights, shuffling and augmentation.
        deterministic: deterministic TensorFlow ops (slower).
        monitor: logged quantity that selects the best model.
        jit_compile: XLA compilation of the training step.
        verbose: Keras' per-batch progress bar (1), or one line per epoch (0).
    """

    epochs: int = 10
    steps_per_epoch: int | None = None
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    augment: bool = True
    precision: str = "auto"
    strategy: str = "auto"
    seed: int = 0
    deterministic: bool = False
    monitor: str = "val_loss"
    jit_compile: bool = False
    verbose: int = 1


@dataclass
class OutputConfig:
    """``output:`` the run folder and what is written at the end.

    Attributes:
        run_dir: the resumable run folder (:class:`rskeras.training.runs.RunFolder`).
        export: a ``saved_models/<name>`` folder for a SavedModel version and a ``.keras`` copy.
        evaluate: evaluate the final model on the validation data and write ``evaluation/``.
        tensorboard: write TensorBoard logs.
    """

    run_dir: str = "runs/run"
    export: str | None = None
    evaluate: bool = True
    tensorboard: bool = True


@dataclass
class Config:
    """A whole, validated training configuration."""

    data: DataConfig
    model: ModelConfig
    task: TaskConfig
    training: TrainingConfig
    output: OutputConfig
    source: str = "<dict>"

    def to_dict(self) -> dict:
        """The configuration as plain data (what ``config.yaml`` of a run holds)."""
        out = dataclasses.asdict(self)
        out.pop("source")
        return out


SECTIONS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "task": TaskConfig, "training": TrainingConfig, "output": OutputConfig,
}


def model_builder(name: str) -> Callable:
    """The builder function of model ``name``; the error lists :data:`MODELS`."""
    if name not in MODELS:
        raise ConfigError(f"model.name: unknown model {name!r}; choose one of {', '.join(MODELS)}")
    module, attr = MODELS[name]
    return getattr(importlib.import_module(module), attr)


def _section(raw: Any, cls: type, where: str, section: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: section {section!r} must be a mapping of keys to values, got {raw!r}")
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} in section {section!r}; "
                          f"valid keys: {', '.join(names)}")
    return cls(**raw)


def _choice(value, choices, key: str, where: str) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: {key} {value!r} is not one of {', '.join(map(str, choices))}")


def _positive(value, key: str, where: str, integer: bool = False, allow_none: bool = False,
              allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{where}: {key} must be a {'non-negative' if allow_zero else 'positive'} "
                          f"{'integer' if integer else 'number'}, got {value!r}")


def _check_data(data: DataConfig, where: str) -> None:
    _choice(data.source, SOURCES, "data.source", where)
    _positive(data.batch_size, "data.batch_size", where, integer=True)
    for key in ("limit", "validation_limit", "patch_size"):
        _positive(getattr(data, key), f"data.{key}", where, integer=True, allow_none=True)
    _positive(data.stats_samples, "data.stats_samples", where, integer=True)
    if data.source == "eurosat":
        from rskeras.data.eurosat_dataset import SPLITS, resolve_bands

        _choice(data.train_split, SPLITS, "data.train_split", where)
        if data.validation_split is not None:
            _choice(data.validation_split, SPLITS, "data.validation_split", where)
        try:
            resolve_bands(data.bands)
        except KeyError as err:
            raise ConfigError(f"{where}: data.bands: {err.args[0]}") from None
        if data.root is not None and not Path(data.root).is_dir():
            raise ConfigError(f"{where}: data.root {data.root!r} is not a folder (omit it to use tensorflow-datasets)")
    elif data.source == "earthengine":
        if not data.train_files:
            raise ConfigError(f"{where}: data.train_files is required for source 'earthengine' "
                              "(TFRecord files or glob patterns, e.g. gs://bucket/train*.tfrecord.gz)")
        if isinstance(data.bands, str) or not data.bands:
            raise ConfigError(f"{where}: data.bands must list the band names to read for source 'earthengine', "
                              f"got {data.bands!r}")
        if not data.label:
            raise ConfigError(f"{where}: data.label is required for source 'earthengine' (a property or a band)")


def raster_sampler(spec: str | Mapping, where: str = "<dict>"):
    """``data.sampler`` as a :class:`~rskeras.data.RandomSampler` or :class:`~rskeras.data.GridSampler`."""
    from rskeras.data.samplers import GridSampler, RandomSampler

    options = {"type": spec} if isinstance(spec, str) else dict(spec)
    kind = options.pop("type", "random")
    _choice(kind, RASTER_SAMPLERS, "data.sampler.type", where)
    cls = RandomSampler if kind == "random" else GridSampler
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} in data.sampler (type {kind!r}); "
                          f"valid keys: type, {', '.join(valid)}")
    try:
        return cls(**options)
    except ValueError as err:
        raise ConfigError(f"{where}: data.sampler: {err}") from None


def raster_split(spec: Mapping | None, where: str = "<dict>"):
    """``data.spatial_split`` as a :class:`~rskeras.data.BlockSplit` or :class:`~rskeras.data.RegionSplit` (or None)."""
    from rskeras.data.samplers import BlockSplit, RegionSplit

    if spec is None:
        return None
    options = dict(spec)
    keys = {"blocks": ("blocks", "fractions", "seed"), "regions": ("regions", "column", "layer")}
    kind = [k for k in keys if k in options]
    if len(kind) != 1:
        raise ConfigError(f"{where}: data.spatial_split needs one of blocks (a block side in pixels) or regions "
                          f"(a polygon file), got {spec!r}")
    unknown = sorted(set(options) - set(keys[kind[0]]))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} in data.spatial_split; "
                          f"valid keys: {', '.join(keys[kind[0]])}")
    try:
        if kind == ["blocks"]:
            return BlockSplit(options.pop("blocks"), **options)
        return RegionSplit(options.pop("regions"), **options)
    except ValueError as err:
        raise ConfigError(f"{where}: data.spatial_split: {err}") from None


def raster_classes(config: Config) -> list | dict | None:
    """The classes of source ``rasters``: ``data.classes``, else ``task.class_names``, else None (found)."""
    return config.data.classes if config.data.classes is not None else config.task.class_names


def raster_bands(bands: str | list) -> list | None:
    """``data.bands`` of source ``rasters``: ``"all"`` -> None (every band), else the list."""
    return None if bands == "all" else bands


def _check_rasters(config: Config, where: str) -> None:
    """Source ``rasters``: its keys, what the model and task need, and the files (headers only)."""
    data, task = config.data, config.task.type
    if data.source != "rasters":
        return
    for key in ("images", "labels"):
        if getattr(data, key) is None:
            raise ConfigError(f"{where}: data.{key} is required for source 'rasters' (GeoTIFF/COG scenes and a label "
                              "raster or vector file)")
    if isinstance(data.bands, str) and data.bands != "all":
        raise ConfigError(f"{where}: data.bands for source 'rasters' is 'all' or a list of 1-based band numbers and "
                          f"names, got {data.bands!r}")
    _choice(data.patch_target, PATCH_TARGETS, "data.patch_target", where)
    if not 0 <= data.max_nodata <= 1:
        raise ConfigError(f"{where}: data.max_nodata must be a fraction in [0, 1], got {data.max_nodata!r}")
    kind = MODEL_KINDS.get(config.model.name, "patch")
    if kind == "dense" and task in ("binary", "multilabel"):
        raise ConfigError(f"{where}: task {task!r} with the dense model {config.model.name!r} and source 'rasters': "
                          "use task multiclass (unlabelled pixels are left out of its loss through data.ignore_value)")
    if kind == "patch" and task == "regression":
        raise ConfigError(f"{where}: task 'regression' with the patch classifier {config.model.name!r}: source "
                          "'rasters' gives values per pixel; use a dense model (unet, pspnet, deeplabv3)")
    if kind == "dense" and task == "multiclass" and config.training.label_smoothing:
        raise ConfigError(f"{where}: training.label_smoothing makes one-hot targets, which cannot carry "
                          "data.ignore_value for unlabelled pixels; set it to 0 for a dense model on source 'rasters'")
    raster_sampler(data.sampler, where)
    split = raster_split(data.spatial_split, where)
    _check_raster_files(data, task, raster_classes(config), split, where)


def _check_raster_files(data: DataConfig, task: str, classes, split, where: str) -> None:
    """Open the scenes and the labels (headers, vector columns) and check the split's subsets."""
    from rskeras.data.label_sources import open_labels
    from rskeras.data.raster_scenes import WindowReader, open_scenes
    from rskeras.data.samplers import split_maps

    try:
        scenes, _ = open_scenes(data.images, raster_bands(data.bands), sensor=data.sensor, crs=data.crs,
                                resolution=data.resolution)
    except KeyError as err:
        raise ConfigError(f"{where}: data.bands: {err.args[0]}") from None
    except (ValueError, OSError) as err:
        raise ConfigError(f"{where}: data.images: {err}") from None
    try:
        open_labels(data.labels, scenes, WindowReader(), column=data.label_column, classes=classes,
                    kind="values" if task == "regression" else "classes", buffer=data.buffer,
                    layer=data.label_layer, find_classes=False)
    except KeyError as err:
        raise ConfigError(f"{where}: data.label_column: {err.args[0]}") from None
    except (ValueError, OSError) as err:
        raise ConfigError(f"{where}: data.labels: {err}") from None
    if split is not None:
        try:
            split_maps(split, scenes, "train")
        except (KeyError, ValueError, OSError) as err:
            raise ConfigError(f"{where}: data.spatial_split: {err.args[0] if isinstance(err, KeyError) else err}") \
                from None


def _check_model(model: ModelConfig, where: str) -> None:
    if model.name not in MODELS:
        raise ConfigError(f"{where}: model.name: unknown model {model.name!r}; choose one of {', '.join(MODELS)}")
    if not isinstance(model.options, Mapping):
        raise ConfigError(f"{where}: model.options must be a mapping of builder arguments, got {model.options!r}")
    params = inspect.signature(model_builder(model.name)).parameters
    valid = [p for p in params if p not in FILLED_ARGUMENTS]
    unknown = sorted(set(model.options) - set(valid))
    filled = sorted(set(model.options) & set(FILLED_ARGUMENTS))
    if filled:
        raise ConfigError(f"{where}: model.options {', '.join(map(repr, filled))} come from the data and task "
                          "sections; remove them from model.options")
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(map(repr, unknown))} for model {model.name!r}; "
                          f"valid options: {', '.join(valid)}")


def _check_task(task: TaskConfig, where: str) -> None:
    _choice(task.type, tuple(TASKS), "task.type", where)
    _positive(task.n_outputs, "task.n_outputs", where, integer=True, allow_none=True)
    if task.class_names is not None and task.n_outputs is not None and len(task.class_names) != task.n_outputs:
        raise ConfigError(f"{where}: task.class_names has {len(task.class_names)} names but task.n_outputs is "
                          f"{task.n_outputs}")


def _check_training(training: TrainingConfig, task: TaskConfig, where: str) -> None:
    from rskeras.training.distribute import STRATEGIES
    from rskeras.training.precision import PRECISIONS

    _positive(training.epochs, "training.epochs", where, integer=True)
    _positive(training.steps_per_epoch, "training.steps_per_epoch", where, integer=True, allow_none=True)
    _positive(training.learning_rate, "training.learning_rate", where)
    _positive(training.weight_decay, "training.weight_decay", where, allow_zero=True)
    _positive(training.warmup_epochs, "training.warmup_epochs", where, allow_zero=True)
    _choice(training.optimizer, OPTIMIZERS, "training.optimizer", where)
    _choice(training.schedule, SCHEDULES, "training.schedule", where)
    _choice(training.precision, PRECISIONS, "training.precision", where)
    _choice(training.strategy, STRATEGIES, "training.strategy", where)
    _choice(training.monitor, MONITORS, "training.monitor", where)
    if not 0 <= training.label_smoothing < 1:
        raise ConfigError(f"{where}: training.label_smoothing must be in [0, 1), got {training.label_smoothing!r}")
    if training.label_smoothing and task.type == "regression":
        raise ConfigError(f"{where}: training.label_smoothing applies to classification, not task 'regression'")


def load_config(config: str | os.PathLike | Mapping | Config) -> Config:
    """Read and validate a configuration (a YAML path, a dict, or a :class:`Config`).

    Raises:
        ConfigError: unknown sections, keys, models, model options, bands or values, each
            reported with the valid choices.
        FileNotFoundError: the YAML file does not exist.
    """
    if isinstance(config, Config):
        return config
    where = "<dict>"
    if isinstance(config, (str, os.PathLike)):
        where = str(config)
        path = Path(config)
        if not path.exists():
            raise FileNotFoundError(f"configuration file {path} does not exist")
        config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config, Mapping):
        raise ConfigError(f"{where}: a configuration is a mapping with sections {', '.join(SECTIONS)}")
    unknown = sorted(set(config) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(map(repr, unknown))}; "
                          f"valid sections: {', '.join(SECTIONS)}")
    raw = dict(config)
    if isinstance(raw.get("task"), str):
        raw["task"] = {"type": raw["task"]}
    parts = {name: _section(raw.get(name), cls, where, name) for name, cls in SECTIONS.items()}
    result = Config(**parts, source=where)
    _check_data(result.data, where)
    _check_model(result.model, where)
    _check_task(result.task, where)
    _check_training(result.training, result.task, where)
    _check_rasters(result, where)
    return result
