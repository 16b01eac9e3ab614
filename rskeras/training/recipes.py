"""Training recipes: EuroSAT classification from scratch, sized to the hardware and a time budget.

:func:`eurosat_recipe` is the configuration (a dict for :func:`rskeras.training.train`) of the best
recipe rskeras offers for EuroSAT RGB without pretrained weights: a compact residual network
(:func:`rskeras.models.compact_resnet`) with its normalisation inside, the eight
flips and rotations of each patch, label smoothing 0.1, AdamW with a one-cycle schedule.
On a GPU the same recipe trains ResNet-50 or GoogLeNet in mixed precision. Its best CPU run adds
``precision="mixed_bfloat16"`` (where the CPU has bfloat16 arithmetic) and
``progressive_resizing=[[32, 0.2], [48, 0.2]]`` (:mod:`rskeras.training.progressive`): more epochs fit
the budget.
:func:`train_eurosat` measures the throughput, picks the epochs that fit a time budget, trains,
evaluates on the validation split and exports the model (``.keras`` and a SavedModel version).
"""

from __future__ import annotations

import copy
import functools
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow as tf

from rskeras.models.metadata import all_layers
from rskeras.training.budget import (
    FitToBudget,
    Throughput,
    TimeLimit,
    epochs_for_budget,
    measure_throughput,
)
from rskeras.training.config import load_config
from rskeras.training.precision import describe_machine, precision_scope, resolve_precision
from rskeras.training.progressive import stage_epochs
from rskeras.training.trainer import (
    build_model,
    compile_model,
    export_model,
    load_data,
    make_optimizer,
    prepare_dataset,
    resizing_model,
)
from rskeras.training.trainer import train as train_config


@dataclass(frozen=True)
class EurosatModel:
    """One model of the EuroSAT recipe.

    Attributes:
        family: its family in :data:`rskeras.models.MODELS`.
        options: the family's options (builder keyword arguments).
        batch_size: the batch size it trains with.
        learning_rate: the peak learning rate of its one-cycle schedule.
    """

    family: str
    options: dict = field(default_factory=dict)
    batch_size: int = 64
    learning_rate: float = 2e-3


#: recipe model name -> its family, options, batch size and learning rate
EUROSAT_MODELS: dict[str, EurosatModel] = {
    "compact_resnet": EurosatModel("compact_resnet", {"widths": [32, 64, 128, 256], "blocks": [1, 1, 1, 1],
                                                      "stem_filters": 32, "dropout": 0.1}),
    "compact_resnet_small": EurosatModel("compact_resnet", {"widths": [24, 48, 96, 192], "blocks": [1, 1, 1, 1],
                                                            "stem_filters": 16, "dropout": 0.1}),
    "resnet50": EurosatModel("resnet50", {"dropout": 0.2}, batch_size=128, learning_rate=1e-3),
    "googlenet": EurosatModel("googlenet", {"dropout": 0.4}, batch_size=128, learning_rate=1e-3),
}


def eurosat_model(name: str) -> EurosatModel:
    """The recipe model ``name`` (a key of :data:`EUROSAT_MODELS`); the error lists them."""
    if name not in EUROSAT_MODELS:
        raise ValueError(f"no EuroSAT recipe for model {name!r}; recipes: {', '.join(EUROSAT_MODELS)}")
    return EUROSAT_MODELS[name]


def default_model() -> str:
    """``"resnet50"`` where a GPU is visible, else ``"compact_resnet"``."""
    return "resnet50" if tf.config.list_physical_devices("GPU") else "compact_resnet"


def eurosat_recipe(root: str | os.PathLike | None, model: str = "compact_resnet", epochs: int = 20,
                   run_dir: str | os.PathLike = "runs/eurosat", limit: int | None = None,
                   validation_limit: int | None = None, precision: str = "auto", seed: int = 0,
                   verbose: int = 1, progressive_resizing: list | None = None, augment=True,
                   validation_freq: int = 1) -> dict:
    """The training configuration of the EuroSAT RGB recipe for ``model`` (a key of :data:`EUROSAT_MODELS`)
    (``progressive_resizing``, ``augment``, ``validation_freq``: the ``training`` keys)."""
    recipe = eurosat_model(model)
    return {
        "data": {"source": "eurosat", "root": None if root is None else str(root), "bands": "rgb",
                 "batch_size": recipe.batch_size, "limit": limit, "validation_limit": validation_limit, "cache": True},
        "model": {"name": recipe.family, "options": copy.deepcopy(recipe.options)},
        "task": {"type": "multiclass"},
        "training": {"epochs": epochs, "optimizer": "adamw", "learning_rate": recipe.learning_rate,
                     "weight_decay": 0.05, "schedule": "onecycle", "label_smoothing": 0.1,
                     "augment": copy.deepcopy(augment),
                     "precision": precision, "strategy": "auto", "seed": seed, "monitor": "val_accuracy",
                     "verbose": verbose, "progressive_resizing": copy.deepcopy(progressive_resizing),
                     "validation_freq": validation_freq},
        "output": {"run_dir": str(run_dir), "export": None, "evaluate": True, "tensorboard": True},
    }


#: untimed steps of each throughput probe (tracing, first allocations)
WARMUP_STEPS = 3
#: share of the budget's remaining seconds that the epochs are planned to fill: the speed of a whole
#: run differs from its probe's by up to about 10 % on 2 shared cores (TimeLimit stops a run that overruns)
PLANNED_SHARE = 0.95


def calibrate(config: dict, steps: int = 20) -> Throughput:
    """Training and validation speeds of ``config``'s model on its data (a throw-away model, a few batches).

    The model is built in the run's precision (``training.precision``). With
    ``training.progressive_resizing`` each stage's size is measured, and the training speed is the
    average over the epochs (the stages' shares of the time, weighted by their shares of the
    epochs); validation always runs at the full size.
    """
    cfg, data, ds = _probe_data(config)
    schedule = cfg.training.progressive_resizing or []
    with precision_scope(cfg.training.precision) as policy:
        def build(size: int | None = None):
            model, _ = resizing_model(cfg, build_model(cfg, data))  # as in the run: wrapped at every size
            if size is not None:
                model.size.assign(size)
            optimizer = make_optimizer(cfg.training, 10)
            return compile_model(model, "multiclass", optimizer, cfg.training.label_smoothing, policy)

        measure = functools.partial(measure_throughput, dataset=ds, steps=steps, warmup=WARMUP_STEPS,
                                    batch_size=cfg.data.batch_size)
        full = measure(build)
        print(f"[eurosat] {full.train:.0f} images/s at the full size, {full.evaluate:.0f} in validation ({policy})")
        seconds_per_image = (1 - sum(share for _, share in schedule)) / full.train
        for size, share in schedule:
            speed = measure(functools.partial(build, size)).train
            print(f"[eurosat] {speed:.0f} images/s at {size} x {size} pixels")
            seconds_per_image += share / speed
    return Throughput(1 / seconds_per_image, full.evaluate)


def _probe_data(config: dict):
    """``(checked config, data, training batches)`` of ``config``'s training split for a probe.

    As in the run, the decoded images of the whole split come from the cache (filled here, before any
    timing), shuffled: on 40 cached batches a step ran about 6 % faster than on the whole split, and on
    3 batches repeated every third step waited about 40 ms for the shuffle buffer to refill.
    """
    probe = copy.deepcopy(config)
    probe["data"].update(validation_split=None, stats_samples=64, cache=True)
    cfg = load_config(probe)
    data = load_data(cfg)
    ds = prepare_dataset(data.train, "multiclass", len(data.class_names), True, cfg.training.augment,
                         cfg.training.label_smoothing)
    for _ in data.train:  # fills the cache of decoded images (upstream of the augmentation)
        pass
    return cfg, data, ds


def train_eurosat(
    root: str | os.PathLike | None,
    out: str | os.PathLike,
    model: str = "auto",
    minutes: float | None = None,
    epochs: int | None = None,
    export_dir: str | os.PathLike | None = "saved_models",
    export_name: str | None = None,
    models_config: bool = True,
    limit: int | None = None,
    validation_limit: int | None = None,
    resume: bool = False,
    seed: int = 0,
    verbose: int = 1,
    precision: str = "auto",
    progressive_resizing: list | None = None,
    augment=True,
    validation_freq: int = 1,
) -> dict:
    """Train, evaluate and export a EuroSAT RGB classifier; returns the report (also in ``out/evaluation/metrics.json``).

    Args:
        root: EuroSAT folder (None: tensorflow-datasets ``eurosat/rgb``).
        out: output folder: the run folder ``out/run``, ``out/evaluation/`` (metrics.json,
            confusion_matrix.png).
        model: a key of :data:`EUROSAT_MODELS`, or ``"auto"`` (:func:`default_model`).
        minutes: time budget of the whole call; the epochs are chosen from a measured throughput
            (and training stops at the budget whatever happens).
        epochs: fixed epochs instead of a budget (one of ``minutes`` and ``epochs`` is needed).
        export_dir: where the model folder is written (``.keras`` and SavedModel version 1); None: no export.
        export_name: the model folder's name (default ``eurosat_<model>``).
        models_config: add the model to ``export_dir/models.config`` (TF Serving's list of models).
        limit, validation_limit: use only that many training / validation images.
        resume: continue the run in ``out/run`` (default: start afresh).
        seed: seeds weights, shuffling and augmentation.
        verbose: Keras' per-batch progress bar (1) or one line per epoch (2).
        precision: ``training.precision`` (``"auto"``: mixed precision on a GPU, float32 elsewhere).
        progressive_resizing: ``training.progressive_resizing``, e.g. ``[[32, 0.2], [48, 0.2]]``: the
            first 20 % of the epochs on 32 x 32 patches, the next 20 % at 48 x 48 (the budget then
            holds more epochs; :mod:`rskeras.training.progressive`).
        augment: ``training.augment`` (True: the eight flips and rotations; e.g. ``["flip", "shift"]``
            adds random shifts of up to 4 pixels).
        validation_freq: validate after every ``validation_freq``-th epoch only (``training.validation_freq``):
            a validation pass costs about 8 % of a 64-px epoch in bfloat16, time a budget spends on training
            instead; the final model is evaluated on the whole validation split either way.
    """
    from rskeras.evaluation import write_report

    if (minutes is None) == (epochs is None):
        raise ValueError("give either minutes (a time budget) or epochs")
    start = time.perf_counter()
    model = default_model() if model == "auto" else model
    out = Path(out)
    config = eurosat_recipe(root, model, epochs or 1, out / "run", limit, validation_limit, precision=precision,
                            seed=seed, verbose=verbose, progressive_resizing=progressive_resizing, augment=augment,
                            validation_freq=validation_freq)
    load_config(config)  # a bad setting (precision, ...) raises here, before an earlier run is emptied
    _run_folder(out / "run", resume)
    n_train, n_validation = _split_sizes(root, limit, validation_limit)
    throughput = None
    if epochs is None:
        throughput, epochs = _plan_epochs(config, model, minutes, start, n_train, n_validation)
        config["training"]["epochs"] = epochs
    seconds = _seconds_left(minutes, start, _reserve_seconds(n_validation, throughput))
    limit_cb = TimeLimit(seconds)
    fit_cb = None if minutes is None else _fit_to_budget(config, seconds)
    result = train_config(config, callbacks=[limit_cb] + ([fit_cb] if fit_cb else []))
    report = dict(result.evaluation or {})
    report["summary"] = summary = _summary(result, config, model, epochs, limit_cb, n_train, n_validation,
                                           throughput)
    summary["epochs_replanned"] = fit_cb.end_epoch if fit_cb else None
    if export_dir is not None:
        summary.update(_export(result.model, Path(export_dir) / (export_name or f"eurosat_{model}"), models_config))
    summary["wall_seconds"] = time.perf_counter() - start
    write_report(report, out / "evaluation", title=f"EuroSAT RGB, {model}: validation accuracy "
                 f"{100 * (summary['validation_accuracy'] or 0):.2f} %")
    return report


def _fit_to_budget(config: dict, seconds: float) -> FitToBudget:
    """The callback that re-plans the full-size epochs of ``config``'s run to end within ``seconds``."""
    training = config["training"]
    return FitToBudget(seconds, steady_from=sum(stage_epochs(training["progressive_resizing"] or [],
                                                             training["epochs"])))


def _run_folder(run_dir: Path, resume: bool) -> None:
    """Empty ``run_dir`` for a new run (kept when the run is resumed)."""
    if not resume and run_dir.exists():
        shutil.rmtree(run_dir)


def _split_sizes(root: str | os.PathLike | None, limit: int | None, validation_limit: int | None) -> tuple[int, int]:
    """Images in the training and validation splits used (tensorflow-datasets: EuroSAT's 21,600 / 5,400)."""
    from rskeras.data.eurosat_dataset import eurosat_files

    if root is None:
        return limit or 21600, validation_limit or 5400
    return (len(eurosat_files(root, "train").paths[:limit]),
            len(eurosat_files(root, "validation").paths[:validation_limit]))


def _reserve_seconds(n_validation: int, throughput: Throughput | None) -> float:
    """Seconds kept back from the budget for the final evaluation and export (the evaluation planned at
    half the training speed: the saved float32 copy of a 16-bit model evaluates more slowly)."""
    return 60 + (n_validation / (2 * throughput.train) if throughput else 0)


def _seconds_left(minutes: float | None, start: float, reserve: float) -> float:
    """Seconds of a budget of ``minutes`` counted from ``start`` (``time.perf_counter()``), less ``reserve``;
    infinite without a budget."""
    if minutes is None:
        return float("inf")
    return minutes * 60 - (time.perf_counter() - start) - reserve


def _plan_epochs(config: dict, model: str, minutes: float, start: float, n_train: int,
                 n_validation: int) -> tuple[Throughput, int]:
    """``(measured speeds, epochs)`` that fit a budget of ``minutes`` counted from ``start``
    (a ``time.perf_counter()`` value), measured on ``config``'s model."""
    print(f"[eurosat] measuring the training speed of {model} ...")
    throughput = calibrate(config)
    remaining = _seconds_left(minutes, start, _reserve_seconds(n_validation, throughput))
    every = config["training"]["validation_freq"]
    epochs = epochs_for_budget(PLANNED_SHARE * remaining, throughput.train, n_train, n_validation,
                               validation_images_per_second=throughput.evaluate, validation_freq=every)
    print(f"[eurosat] {throughput.train:.0f} images/s -> {epochs} epoch(s) of {n_train} images (and "
          f"{n_validation} validated at {throughput.evaluate:.0f} images/s "
          f"{'after every epoch' if every == 1 else f'every {every} epochs'}) "
          f"in the {minutes:g} minute budget")
    return throughput, epochs


def _summary(result, config: dict, model: str, epochs: int, limit_cb: TimeLimit, n_train: int, n_validation: int,
             throughput: Throughput | None) -> dict:
    """The run in numbers: model, precision, epochs, accuracy, per-class F1, speeds and the machine (its CPU
    decides how many epochs a time budget holds: :func:`~rskeras.training.precision.describe_machine`)."""
    report = result.evaluation or {}
    train_seconds = limit_cb.elapsed
    return {
        "model": model,
        "parameters": int(result.model.count_params()),
        "precision": resolve_precision(config["training"]["precision"]),
        "saved_model_computes_in": sorted({layer.dtype_policy.compute_dtype for layer in all_layers(result.model)}),
        "progressive_resizing": config["training"]["progressive_resizing"],
        "validation_freq": config["training"]["validation_freq"],
        "epochs": len(result.run.log_rows()),
        "epochs_planned": epochs,
        "stopped_at_time_limit": limit_cb.stopped,
        "n_train": n_train,
        "n_validation": n_validation,
        "validation_accuracy": report.get("overall_accuracy"),
        "kappa": report.get("kappa"),
        "per_class_f1": {name: v["f1"] for name, v in report.get("per_class", {}).items()},
        "train_seconds": train_seconds,
        "train_images_per_second": (limit_cb.steps * config["data"]["batch_size"] / train_seconds
                                    if train_seconds else None),
        "calibrated_images_per_second": throughput.train if throughput else None,
        "calibrated_validation_images_per_second": throughput.evaluate if throughput else None,
        "inference_images_per_second": report.get("images_per_second"),
        "machine": describe_machine(),
    }


def _export(model, folder: Path, models_config: bool) -> dict:
    """``.keras`` and SavedModel version 1 in ``folder``; returns their paths for the summary."""
    version = export_model(model, folder, version=1, overwrite=True, models_config=models_config)
    return {"export": str(version), "keras_file": str(folder / f"{folder.name}.keras")}
