"""The training configuration: five sections (data, model, task, training, output), validated before training.

A YAML file (or a dict of the same shape)::

    data:
      source: eurosat               # eurosat | earthengine | rasters (see DataConfig)
      root: ../shared/data/eurosat_rgb   # omit to read eurosat/rgb through tensorflow-datasets
      bands: rgb                    # rgb | all | a list of band names | {input: [bands]} (multi-input models)
      batch_size: 64
    model:
      name: compact_resnet          # a family of rskeras.models.MODELS (`rskeras models` lists them)
      options: {widths: [32, 64, 128, 256]}   # the family's options (keyword arguments of its builder)
    task: multiclass                # or {type: multiclass, class_names: [...]}
    training:
      epochs: 30
      optimizer: adamw
      learning_rate: 0.002
      schedule: onecycle
      label_smoothing: 0.1
      loss: crossentropy            # or focal, dice, jaccard, tversky, crossentropy_dice; {name: tversky, beta: 0.7}
      class_weights: balanced       # or one weight per class, or {class name: weight}
      ignore_class: 255             # target value that counts nowhere (unlabelled pixels, nodata)
      augment: true                 # flips and 90-degree rotations; or [flip, shift, {noise: {std: 50}}, mixup]
      precision: auto
      progressive_resizing: [[32, 0.2], [48, 0.2]]   # first 20 % of the epochs at 32 px, next 20 % at 48 px
      validation_freq: 5            # validate every 5th epoch (the final model is evaluated anyway)
      strategy: auto
    output:
      run_dir: runs/eurosat
      export: saved_models/eurosat_compact_resnet

Every unknown section, key, model, model option, band or value is reported with the valid
choices by :func:`load_config`, before any data is read or model built.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rskeras.tasks import TASKS

# builder arguments the training fills from the data and the task section
FILLED_ARGUMENTS = ("input_shape", "task", "n_outputs", "class_names", "band_names", "band_stats")
SOURCES = ("eurosat", "earthengine", "rasters")
#: What each model predicts, hence the targets source ``rasters`` makes for it: a class or value per
#: pixel of the patch ("dense"), one per patch ("patch"), one per pixel vector ("pixel"). The model
#: registry's family kinds replace this table once it lands.
RASTER_SAMPLERS = ("random", "grid")
PATCH_TARGETS = ("majority", "centre")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("constant", "cosine", "onecycle")
MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")


class ConfigError(ValueError):
    """A configuration names an unknown section, key, model, option, band or value.

    Attributes:
        key: the dotted key at fault (``"training.epochs"``), when known; :func:`load_config`
            uses it to name the YAML line (or the ``--set`` override) the value came from.
    """

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


@dataclass
class ConfigOrigin:
    """Where the values of a configuration came from, for error messages.

    Attributes:
        path: the YAML file (``"<dict>"`` for a configuration given as a dict).
        lines: dotted key -> its 1-based line in ``path``.
        overrides: dotted key -> the ``--set KEY=VALUE`` item that replaced it.
    """

    path: str = "<dict>"
    lines: dict[str, int] = field(default_factory=dict)
    overrides: dict[str, str] = field(default_factory=dict)

    def where(self, key: str | None) -> str:
        """``"c.yaml, line 7"``, ``"c.yaml, --set data.bands=all"`` or ``"c.yaml"`` for ``key`` (or its nearest parent)."""
        parts = key.split(".") if key else []
        for end in range(len(parts), 0, -1):
            name = ".".join(parts[:end])
            if name in self.overrides:
                return f"{self.path}, {self.overrides[name]}"
            if name in self.lines:
                return f"{self.path}, line {self.lines[name]}"
        return self.path

    def locate(self, err: ConfigError) -> ConfigError:
        """``err`` (a message starting ``"<path>: "``) with the line or override of its key after the path."""
        prefix = f"{self.path}: "
        text = str(err)
        if not text.startswith(prefix):
            return err
        rest = text[len(prefix):]
        leading = re.match(r"[a-z_]+(\.[a-z_0-9]+)+", rest)
        key = err.key or (leading[0] if leading else None)
        return ConfigError(f"{self.where(key)}: {rest}", key=key)


@dataclass
class DataConfig:
    """``data:`` where the patches come from.

    Attributes:
        source: ``"eurosat"`` (:func:`rskeras.data.eurosat_dataset`), ``"earthengine"`` (TFRecord
            patches in Earth Engine's layout, :func:`rskeras.data.ee_patch_dataset`) or ``"rasters"``
            (GeoTIFF/COG scenes with a label raster or vector file, :func:`rskeras.data.raster_dataset`).
        root: EuroSAT folder (None: tensorflow-datasets).
        bands: ``"rgb"``, ``"all"`` or band names (EuroSAT); band names, or ``{input: band names}``
            for a model with several inputs (Earth Engine; M3Net's ``multispectral`` and ``multiview``);
            ``"all"`` or 1-based band numbers and names (rasters).
        batch_size: global batch size (split over the replicas of a distribution strategy).
        train_split, validation_split: EuroSAT splits.
        train_files, validation_files: Earth Engine TFRecord files or glob patterns.
        label: Earth Engine property or band holding the target.
        patch_size: Earth Engine patch side in pixels (None: read from the first record; 1 for
            pixel models, which take the band vectors of table exports); rasters: the patch side
            (None: 64).
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
    bands: str | list[str | int] | dict[str, list[str]] = "rgb"
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

    @property
    def has_validation(self) -> bool:
        """Whether validation data is configured (a EuroSAT split, or Earth Engine files)."""
        return bool(self.validation_files if self.source == "earthengine" else self.validation_split)


@dataclass
class ModelConfig:
    """``model:`` a family of :data:`rskeras.models.MODELS` and its options (keyword arguments of its builder)."""

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
        loss: a loss of the task (:func:`rskeras.tasks.losses_for`), or ``{name: ..., <setting>: ...}``
            (``gamma`` of focal, ``alpha``/``beta`` of tversky); None: the task's default.
        class_weights: ``"balanced"`` (counted from the training labels; the weights used are
            written to the run folder's ``class_weights.json``), one weight per class, or a mapping
            of class name -> weight.
        ignore_class: a target value left out of the loss and the metrics (unlabelled pixels,
            nodata; for regression the targets' nodata value).
        augment: True (random flips and 90-degree rotations of patches and of dense targets), False,
            or the steps of :func:`rskeras.data.augment.parse_augment` (flip, crop, shift, brightness,
            noise, mixup, cutmix), as a list or a mapping of step -> settings.
        precision: ``"auto"``, ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        strategy: ``"auto"``, ``"default"``, ``"mirrored"``, ``"multi_worker"`` or ``"tpu"``.
        seed: seeds weights, shuffling and augmentation.
        deterministic: deterministic TensorFlow ops (slower).
        monitor: logged quantity that selects the best model.
        jit_compile: XLA compilation of the training step.
        progressive_resizing: ``[[size, share], ...]``: the first ``share`` of the epochs train on
            patches resized to ``size`` x ``size`` pixels, stage after stage, the rest at full size
            (patch models; :mod:`rskeras.training.progressive`). None: every epoch at full size.
        verbose: Keras' per-batch progress bar (1), or one line per epoch (0).
        validation_freq: validate after every ``validation_freq``-th epoch (Keras' ``fit`` argument);
            ``log.csv`` has ``NA`` for the other epochs' validation columns, and ``best.keras`` is chosen
            among validated epochs only. The final model is evaluated after training whatever this is.
    """

    epochs: int = 10
    steps_per_epoch: int | None = None
    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    loss: str | dict | None = None
    class_weights: str | list[float] | dict[str, float] | None = None
    ignore_class: int | float | None = None
    augment: bool | list | dict = True
    precision: str = "auto"
    strategy: str = "auto"
    seed: int = 0
    deterministic: bool = False
    monitor: str = "val_loss"
    jit_compile: bool = False
    progressive_resizing: list | None = None
    verbose: int = 1
    validation_freq: int = 1


@dataclass
class OutputConfig:
    """``output:`` the run folder and what is written at the end.

    Attributes:
        run_dir: the resumable run folder (:class:`rskeras.training.runs.RunFolder`).
        export: a ``saved_models/<name>`` folder for a SavedModel version and a ``.keras`` copy.
        evaluate: evaluate the final model on the validation data and write ``evaluation/``.
        tensorboard: write TensorBoard logs.
        precision: what the final model (``model.keras``, the evaluation, the export) computes in:
            ``"float32"``, a float32 copy of a mixed-precision model with the same weights
            (:func:`rskeras.training.precision.with_dtype_policy`: fast on every CPU, and what ONNX and
            LiteRT files need), or ``"trained"``, the precision it trained in.
    """

    run_dir: str = "runs/run"
    export: str | None = None
    evaluate: bool = True
    tensorboard: bool = True
    precision: str = "float32"


@dataclass
class Config:
    """A whole, validated training configuration."""

    data: DataConfig
    model: ModelConfig
    task: TaskConfig
    training: TrainingConfig
    output: OutputConfig
    source: str = "<dict>"
    origin: ConfigOrigin = field(default_factory=ConfigOrigin, repr=False, compare=False)

    def to_dict(self) -> dict:
        """The configuration as plain data (what ``config.yaml`` of a run holds)."""
        out = dataclasses.asdict(self)
        out.pop("source")
        out.pop("origin")
        return out


#: ``output.precision``: a float32 copy of the trained model, or the model as trained
OUTPUT_PRECISIONS = ("float32", "trained")

SECTIONS: dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "task": TaskConfig, "training": TrainingConfig, "output": OutputConfig,
}


def _section(raw: Any, cls: type, where: str, section: str):
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: section {section!r} must be a mapping of keys to values, got {raw!r}", key=section)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))} in section {section!r}; "
                          f"valid keys: {', '.join(names)}", key=f"{section}.{unknown[0]}")
    hints = typing.get_type_hints(cls)
    for name, value in raw.items():
        if not _matches(value, hints[name]):
            raise ConfigError(f"{where}: {section}.{name} must be {_describe(hints[name])}, got {value!r}",
                              key=f"{section}.{name}")
    return cls(**raw)


def _matches(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a field's type hint (``int`` excludes booleans; ``float`` takes integers)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in args)
    if origin is list:
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    if hint is type(None):
        return value is None
    if hint is dict or origin is dict:
        return isinstance(value, Mapping)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return hint is Any or isinstance(value, hint)


def _describe(hint: Any) -> str:
    """A type hint in words: ``str | list[str] | None`` -> ``"a string or a list of strings or null"``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in args)
    if origin is list:
        return f"a list of {_describe(args[0]).split(' ', 1)[1]}s"
    words = {int: "an integer", float: "a number", bool: "true or false", str: "a string", dict: "a mapping",
             list: "a list", type(None): "null"}
    return words.get(hint, words.get(origin, str(hint)))


def _choice(value, choices, key: str, where: str) -> None:
    if value not in choices:
        raise ConfigError(f"{where}: {key} {value!r} is not one of {', '.join(map(str, choices))}", key=key)


def _positive(value, key: str, where: str, integer: bool = False, allow_none: bool = False,
              allow_zero: bool = False) -> None:
    if value is None and allow_none:
        return
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"{where}: {key} must be a {'non-negative' if allow_zero else 'positive'} "
                          f"{'integer' if integer else 'number'}, got {value!r}", key=key)


def _check_data(data: DataConfig, where: str) -> None:
    _choice(data.source, SOURCES, "data.source", where)
    _positive(data.batch_size, "data.batch_size", where, integer=True)
    for key in ("limit", "validation_limit", "patch_size"):
        _positive(getattr(data, key), f"data.{key}", where, integer=True, allow_none=True)
    _positive(data.stats_samples, "data.stats_samples", where, integer=True)
    if data.source == "eurosat":
        from rskeras.data.eurosat_dataset import SPLITS, check_folder_bands, resolve_bands

        _choice(data.train_split, SPLITS, "data.train_split", where)
        if data.validation_split is not None:
            _choice(data.validation_split, SPLITS, "data.validation_split", where)
        if data.root is not None and not Path(data.root).is_dir():
            raise ConfigError(f"{where}: data.root {data.root!r} is not a folder (omit it to use tensorflow-datasets)")
        try:
            resolve_bands(data.bands)
            if data.root is not None:
                check_folder_bands(data.root, data.bands)
        except KeyError as err:
            raise ConfigError(f"{where}: data.bands: {err.args[0]}") from None
    elif data.source == "earthengine":
        if not data.train_files:
            raise ConfigError(f"{where}: data.train_files is required for source 'earthengine' "
                              "(TFRecord files or glob patterns, e.g. gs://bucket/train*.tfrecord.gz)")
        groups = data.bands.values() if isinstance(data.bands, Mapping) else [data.bands]
        if not data.bands or any(isinstance(g, str) or not g for g in groups):
            raise ConfigError(f"{where}: data.bands must list the band names to read for source 'earthengine' "
                              f"(or give {{input: [band names]}} for a model with several inputs), got {data.bands!r}")
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
    from rskeras.models.registry import MODELS

    kind = MODELS[config.model.name].kind
    kind = "dense" if kind == "multi-input" else kind
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
    from rskeras.models.registry import MODELS

    if model.name not in MODELS:
        raise ConfigError(f"{where}: model.name: unknown model {model.name!r}; choose one of {', '.join(MODELS)}")
    if not isinstance(model.options, Mapping):
        raise ConfigError(f"{where}: model.options must be a mapping of builder arguments, got {model.options!r}")
    family = MODELS[model.name]
    valid = [*family.options(), "weights", "name"]
    renamed = family.renamed_options  # old names still accepted (the builder warns)
    filled = sorted(o for o in model.options if renamed.get(o, o) in FILLED_ARGUMENTS)
    unknown = sorted(o for o in model.options if renamed.get(o, o) not in (*valid, *FILLED_ARGUMENTS))
    if filled:
        raise ConfigError(f"{where}: model.options {', '.join(map(repr, filled))} come from the data and task "
                          "sections; remove them from model.options")
    if unknown:
        raise ConfigError(f"{where}: unknown option(s) {', '.join(map(repr, unknown))} for model {model.name!r}; "
                          f"valid options: {', '.join(valid)}")


def _check_model_fits(config: Config, where: str) -> None:
    """The model family against the data, task and training sections (what its inputs and loss need)."""
    from rskeras.models.registry import MODELS

    family, task = MODELS[config.model.name], config.task
    _choice(task.type, family.tasks, f"task.type (model {family.name!r})", where)
    if task.type in ("multiclass", "multilabel") and config.data.source == "earthengine" and not (
            task.class_names or task.n_outputs):
        raise ConfigError(f"{where}: task {task.type!r} needs the classes: give task.class_names or task.n_outputs")
    _check_model_inputs(family, config.data, where)
    if family.kind in ("pixel", "multi-input") and config.training.augment:
        raise ConfigError(f"{where}: training.augment flips and rotates image patches; model {family.name!r} "
                          f"({family.kind}) is not augmented by rskeras train: set training.augment: false")
    if family.training_wrapper and config.training.label_smoothing:
        raise ConfigError(f"{where}: model {family.name!r} brings its own loss; training.label_smoothing must be 0")
    if config.training.progressive_resizing and (family.kind != "patch" or family.training_wrapper or family.inputs):
        raise ConfigError(f"{where}: training.progressive_resizing resizes the image patches of a model with one "
                          f"label per patch; model {family.name!r} ({family.kind}) cannot be trained so: remove it",
                          key="training.progressive_resizing")


def _check_model_inputs(family, data: DataConfig, where: str) -> None:
    """Pixel models read band vectors (1x1 Earth Engine patches, or the labelled pixels of rasters), multi-input
    models one band list per input of Earth Engine exports."""
    grouped = isinstance(data.bands, Mapping)
    if family.kind == "pixel" and data.source not in ("earthengine", "rasters"):
        raise ConfigError(f"{where}: model {family.name!r} (pixel) reads band vectors of Earth Engine table exports "
                          "or of labelled raster pixels: set data.source: earthengine or rasters")
    if family.kind == "multi-input" and data.source != "earthengine":
        raise ConfigError(f"{where}: model {family.name!r} (multi-input) reads one band list per input of Earth "
                          "Engine exports: set data.source: earthengine")
    if family.kind == "pixel" and data.source == "earthengine" and data.patch_size not in (None, 1):
        raise ConfigError(f"{where}: model {family.name!r} takes one pixel's band vector: data.patch_size must be 1 "
                          f"(or omitted), got {data.patch_size!r}")
    if family.inputs and (not grouped or set(data.bands) != set(family.inputs)):
        raise ConfigError(f"{where}: model {family.name!r} has the inputs {', '.join(family.inputs)}: give data.bands "
                          f"as {{input: [band names]}} for each, got {data.bands!r}")
    if grouped and not family.inputs:
        raise ConfigError(f"{where}: data.bands names inputs ({', '.join(data.bands)}) but model {family.name!r} has "
                          "one input: give a list of band names")


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
    _positive(training.validation_freq, "training.validation_freq", where, integer=True)
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
    if training.progressive_resizing is not None:
        from rskeras.training.progressive import check_schedule

        try:
            check_schedule(training.progressive_resizing)
        except ValueError as err:
            raise ConfigError(f"{where}: training.progressive_resizing: {err}",
                              key="training.progressive_resizing") from None
    _check_loss(training, task, where)


def _n_classes(task: TaskConfig) -> int | None:
    """Classes of the task when the configuration knows them (``binary``: 2)."""
    if task.type == "binary":
        return 2
    return task.n_outputs or (len(task.class_names) if task.class_names else None)


def _check_loss(training: TrainingConfig, task: TaskConfig, where: str) -> None:
    """``training.loss``, ``class_weights``, ``ignore_class`` and ``augment`` against the task."""
    from rskeras.data.augment import MIXING, parse_augment
    from rskeras.tasks import get_task

    spec = get_task(task.type)
    n_classes, weights = _n_classes(task), training.class_weights
    if isinstance(weights, Mapping):
        unknown = sorted(set(weights) - set(task.class_names or weights))
        if unknown:
            raise ConfigError(f"{where}: training.class_weights names unknown class(es) {', '.join(map(repr, unknown))}"
                              f"; task.class_names: {', '.join(task.class_names or [])}")
        weights = [weights.get(name, 1.0) for name in task.class_names or weights]
    if weights == "balanced":
        weights = None
        if not spec.is_classification:
            raise ConfigError(f"{where}: training.class_weights 'balanced' applies to classification, not task "
                              f"{task.type!r}")
    elif isinstance(weights, str):
        raise ConfigError(f"{where}: training.class_weights must be 'balanced', a list of weights or a mapping of "
                          f"class name -> weight, got {weights!r}")
    try:
        spec.loss_object(training.loss, sparse_labels=True, class_weights=weights, n_classes=n_classes,
                         ignore_class=training.ignore_class)
        steps = parse_augment(training.augment)
    except ValueError as err:
        raise ConfigError(f"{where}: training: {err}") from None
    mixing = [name for name in steps if name in MIXING]
    if mixing and not spec.is_classification:
        raise ConfigError(f"{where}: training.augment {', '.join(mixing)} mix class labels; task {task.type!r} "
                          "has none")


def read_yaml(path: str | os.PathLike) -> tuple[Any, dict[str, int]]:
    """The data of a YAML file and the 1-based line of every dotted key of its mappings.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ConfigError: the file is not UTF-8 text, is malformed YAML, or repeats a key (each
            naming the file and line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a YAML text file (not UTF-8)") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        context, context_mark = getattr(err, "context", None), getattr(err, "context_mark", None)
        if context and context_mark is not None and context_mark.line != getattr(mark, "line", None):
            problem += f" ({context} started on line {context_mark.line + 1})"
        raise ConfigError(f"{where}: malformed YAML: {problem}") from None
    lines: dict[str, int] = {}
    _key_lines(node, "", lines, path)
    return data, lines


def _key_lines(node: yaml.Node | None, prefix: str, lines: dict[str, int], path: Path) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        if key in lines:
            raise ConfigError(f"{path}, line {key_node.start_mark.line + 1}: key {key} appears twice "
                              f"(first on line {lines[key]}); keep one", key=key)
        lines[key] = key_node.start_mark.line + 1
        _key_lines(value_node, f"{key}.", lines, path)


def apply_overrides(config: dict, overrides: Sequence[str]) -> dict[str, str]:
    """Apply ``--set KEY=VALUE`` items (dotted keys, YAML values) to ``config`` in place.

    ``task.KEY`` turns a task given as a name into its mapping. Returns dotted key -> the
    ``"--set ..."`` item, for :class:`ConfigOrigin`.
    """
    origins = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        parts = key.split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise ConfigError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ConfigError(f"--set {item}: the value is not valid YAML ({getattr(err, 'problem', err)})") from None
        if parts[0] == "task" and isinstance(config.get("task"), str):
            config["task"] = {"type": config["task"]}
        target = config
        for depth, part in enumerate(parts[:-1], start=1):
            if target.get(part) is None:
                target[part] = {}
            if not isinstance(target[part], dict):
                raise ConfigError(f"--set {item}: {'.'.join(parts[:depth])} is not a mapping in the configuration")
            target = target[part]
        target[parts[-1]] = parsed
        origins[key] = f"--set {item}"
    return origins


def load_config(config: str | os.PathLike | Mapping | Config, overrides: Sequence[str] = ()) -> Config:
    """Read and validate a configuration (a YAML path, a dict, or a :class:`Config`).

    Args:
        config: the configuration.
        overrides: ``"SECTION.KEY=VALUE"`` items (YAML values) applied before validation, as
            ``rskeras train --set`` does; errors about them name the override.

    Raises:
        ConfigError: malformed YAML; unknown sections, keys, models, model options, bands or
            values, each reported with the valid choices and with the file and line (or the
            override) of the value at fault.
        FileNotFoundError: the YAML file does not exist.
    """
    if isinstance(config, Config) and not overrides:
        return config
    origin = ConfigOrigin()
    if isinstance(config, Config):
        config = config.to_dict()
    elif isinstance(config, (str, os.PathLike)):
        origin.path = str(config)
        config, origin.lines = read_yaml(config)
        config = {} if config is None else config
    if not isinstance(config, Mapping):
        raise ConfigError(f"{origin.path}: a configuration is a mapping with sections {', '.join(SECTIONS)}")
    raw = copy.deepcopy(dict(config))
    try:
        origin.overrides = apply_overrides(raw, overrides)
        return _validate(raw, origin)
    except ConfigError as err:
        raise origin.locate(err) from None


def _validate(raw: dict, origin: ConfigOrigin) -> Config:
    where = origin.path
    unknown = sorted(set(raw) - set(SECTIONS), key=str)
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(map(repr, unknown))}; "
                          f"valid sections: {', '.join(SECTIONS)}", key=str(unknown[0]))
    if isinstance(raw.get("task"), str):
        raw["task"] = {"type": raw["task"]}
    parts = {name: _section(raw.get(name), cls, where, name) for name, cls in SECTIONS.items()}
    result = Config(**parts, source=where, origin=origin)
    _check_data(result.data, where)
    _check_model(result.model, where)
    _check_task(result.task, where)
    _check_training(result.training, result.task, where)
    _choice(result.output.precision, OUTPUT_PRECISIONS, "output.precision", where)
    _check_rasters(result, where)
    _check_model_fits(result, where)
    return result
