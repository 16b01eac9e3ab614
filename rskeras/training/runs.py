"""Resumable training runs: one folder with checkpoints, the best model, a CSV log and TensorBoard logs.

Layout of a run folder::

    run/
      checkpoints/    weights + optimizer state after the last finished epoch (state.json names the file)
      best.keras      the model of the best epoch so far (by ``monitor``)
      log.csv         one row per finished epoch
      tensorboard/    TensorBoard event files
      config.yaml     the configuration, recorded once when training starts (:func:`rskeras.training.train`)
      export.json     which SavedModel version the run exported, after which epoch

A run continues only with the configuration it was started with (:func:`check_resume`):
only :data:`RESUMABLE_KEYS` may change (more epochs extend a run). A run that never
checkpointed an epoch has trained nothing, so a new start replaces its configuration.

A run killed at any moment (SIGKILL included) and started again with the same callbacks
continues after its last saved epoch with the same weights and optimizer state
(``optimizer.iterations`` included): every file is written under a temporary name and
renamed, the checkpoint state points at a complete weights file, and log rows of epochs
that were not checkpointed are dropped before training resumes, so each epoch appears
in ``log.csv`` exactly once.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import keras
import yaml

from rskeras._compat import BackupAndRestoreHooks, ModelCheckpointHooks, set_resume_epoch
from rskeras.io import atomic_path, atomic_write_text
from rskeras.training.config import ConfigError

STATE_FILE = "state.json"
CONFIG_FILE = "config.yaml"
EXPORT_FILE = "export.json"
#: Configuration keys (or sections) that may differ when a run resumes: more epochs extend a run;
#: the output section says where the run lives and what is written after training, not how it trains.
RESUMABLE_KEYS = ("training.epochs", "training.verbose", "training.validation_freq", "output")


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and batch."""


class NonFiniteLossGuard(keras.callbacks.Callback):
    """Stops training with :class:`NonFiniteLossError` at the first batch whose loss is not finite.

    Keras logs the running mean of the epoch's loss, which turns non-finite at the first bad batch,
    so the error names that batch. The epoch's checkpoint is not written, so a resumed run
    starts again from the last finite state.
    """

    def __init__(self):
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise NonFiniteLossError(
                f"training loss is {float(loss)} at epoch {self._epoch + 1} (index {self._epoch}), batch index "
                f"{batch}; stopped before training on non-finite values. Check the inputs for NaN or nodata "
                "values, lower the learning rate, or train in float32"
            )


def _save_atomically(model: keras.Model, dst: Path, weights_only: bool) -> None:
    """``model.save`` / ``model.save_weights`` to a temporary file beside ``dst`` (same suffixes), then rename."""
    with atomic_path(dst) as tmp:
        if weights_only:
            model.save_weights(str(tmp), overwrite=True)
        else:
            model.save(str(tmp), overwrite=True)


class AtomicBackupAndRestore(BackupAndRestoreHooks):
    """``keras.callbacks.BackupAndRestore`` whose checkpoints survive SIGKILL at any moment.

    Each save writes ``epoch-NNNN[-batch-NNNNNN].weights.h5`` (model and optimizer variables)
    under a temporary name, renames it, then atomically replaces ``state.json``, which names
    that file and the epoch; older weights files are removed afterwards. A restart loads the
    file ``state.json`` names, so weights, optimizer state and epoch always match.
    """

    def __init__(self, backup_dir: str | os.PathLike, save_freq: str | int = "epoch"):
        super().__init__(str(backup_dir), save_freq=save_freq, delete_checkpoint=False)
        self._state_path = Path(backup_dir) / STATE_FILE

    def saved_state(self) -> dict | None:
        """The saved ``{"epoch", "batch", "weights"}``, or None before the first save."""
        return read_checkpoint_state(Path(self.backup_dir))

    def load_backup(self):
        state = self.saved_state()
        if state is None:
            return
        if not self.model.built:
            raise ValueError(f"model {self.model.name!r} must be built before fit() to restore {self.backup_dir}")
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(Path(self.backup_dir) / state["weights"]))
        set_resume_epoch(self.model, state["epoch"])

    def save_backup(self, epoch: int, batch: int):
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        suffix = f"-batch-{batch:06d}" if self.save_freq != "epoch" else ""
        name = f"epoch-{epoch:04d}{suffix}.weights.h5"
        _save_atomically(self.model, folder / name, weights_only=True)
        state = {"epoch": epoch, "batch": batch, "weights": name}
        atomic_write_text(self._state_path, json.dumps(state))
        for old in folder.glob("*.weights.h5"):
            if old.name != name:
                old.unlink(missing_ok=True)


class AtomicModelCheckpoint(ModelCheckpointHooks):
    """``keras.callbacks.ModelCheckpoint`` writing under a temporary name, then renaming."""

    def write_checkpoint(self, filepath: str):
        filepath = Path(filepath)
        filepath.parent.mkdir(parents=True, exist_ok=True)
        _save_atomically(self.model, filepath, weights_only=self.save_weights_only)


def read_checkpoint_state(folder: Path) -> dict | None:
    """The checkpoint state in ``folder`` (see :class:`AtomicBackupAndRestore`), or None."""
    path = folder / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not (folder / state["weights"]).exists():
        raise FileNotFoundError(f"{path} names {state['weights']}, which is missing from {folder}")
    return state


def saved_epoch(folder: str | os.PathLike) -> int:
    """Epochs finished and checkpointed in run folder ``folder`` (0 for a new or missing folder)."""
    state = read_checkpoint_state(Path(folder) / "checkpoints")
    return int(state["epoch"]) if state else 0


def _flatten(config: dict, prefix: str = "") -> dict[str, object]:
    """``{"model": {"options": {"widths": [8]}}}`` -> ``{"model.options.widths": [8]}``."""
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def config_changes(recorded: dict, config: dict, allowed: tuple[str, ...] = RESUMABLE_KEYS) -> list[tuple[str, str]]:
    """``[(dotted key, "old -> new")]`` for every value that differs between two configurations.

    Values are written as YAML flow text (``[32, 64] -> [16, 32]``); keys in ``allowed`` (or below a
    section named there) are skipped.
    """
    old, new = _flatten(recorded), _flatten(config)

    def text(flat, key):
        return yaml.safe_dump(flat[key], default_flow_style=True, width=10**6).strip().removesuffix("\n...") \
            if key in flat else "(unset)"

    keys = [k for k in dict.fromkeys([*old, *new])
            if not any(k == a or k.startswith(f"{a}.") for a in allowed) and old.get(k, ...) != new.get(k, ...)]
    return [(key, f"{text(old, key)} -> {text(new, key)}") for key in keys]


def check_resume(folder: str | os.PathLike, config: dict) -> int:
    """The epochs run folder ``folder`` has checkpointed (0: a new run); nothing is created or written.

    Raises:
        RunChangedError: the run has checkpoints and its ``config.yaml`` differs from
            ``config`` in keys other than :data:`RESUMABLE_KEYS`.
    """
    folder = Path(folder)
    epoch = saved_epoch(folder)
    recorded = folder / CONFIG_FILE
    if epoch == 0 or not recorded.exists():
        return epoch
    changes = config_changes(yaml.safe_load(recorded.read_text()) or {}, config)
    if changes:
        shown = "; ".join(f"{key}: {change}" for key, change in changes[:5])
        more = f" (and {len(changes) - 5} more)" if len(changes) > 5 else ""
        raise RunChangedError(
            f"run folder {folder} was trained {epoch} epoch(s) with another configuration ({recorded}): {shown}{more}; "
            "restore those values to resume, or set another output.run_dir for a new run (only "
            f"{_in_words(RESUMABLE_KEYS)} may change on resume)", key=changes[0][0])
    return epoch


def _in_words(keys: tuple[str, ...]) -> str:
    """``("training.epochs", "output")`` -> ``"training.epochs and the output section"``."""
    words = [key if "." in key else f"the {key} section" for key in keys]
    return ", ".join(words[:-1]) + f" and {words[-1]}" if len(words) > 1 else words[0]


class RunChangedError(ConfigError):
    """A run folder was started with another configuration; ``key`` is the first changed key."""


def truncate_log(path: Path, epochs: int) -> list[dict]:
    """Keep the header and the complete rows of epochs ``0 .. epochs - 1`` of a CSV log; returns those rows.

    Rows of epochs that were not checkpointed (and a row cut short by a kill) are removed, so a
    resumed run appends each epoch exactly once. The file is rewritten atomically.
    """
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if not lines:
        return []
    header = next(csv.reader([lines[0]]))
    kept, rows = [lines[0]], []
    for line in lines[1:]:
        values = next(csv.reader([line]), [])
        if not line.endswith("\n") or len(values) != len(header):
            continue
        row = dict(zip(header, values))
        try:
            epoch = int(row["epoch"])
        except (KeyError, ValueError):
            continue
        if epoch < epochs:
            kept.append(line)
            rows.append(row)
    if "".join(kept) != text:
        atomic_write_text(path, "".join(kept))
    return rows


def _best_so_far(rows: list[dict], monitor: str, mode: str) -> float | None:
    values = []
    for row in rows:
        try:
            values.append(float(row[monitor]))
        except (KeyError, ValueError):
            continue
    values = [v for v in values if math.isfinite(v)]
    if not values:
        return None
    if mode == "auto":
        mode = "max" if ("acc" in monitor or "auc" in monitor or "iou" in monitor) else "min"
    return max(values) if mode == "max" else min(values)


def set_seeds(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; ``deterministic`` also makes TensorFlow's ops deterministic."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


@dataclass
class RunFolder:
    """A run folder (see the module docstring) and the callbacks that fill it.

    Attributes:
        path: the folder; created when missing.
        chief: False on non-chief workers of multi-worker training, which write into
            ``path/workers/<index>/`` instead, so only the chief fills the run folder.
        worker: this worker's index.
    """

    path: Path
    chief: bool = True
    worker: int = 0

    def __post_init__(self):
        self.path = Path(self.path)
        if not self.chief:
            self.path = self.path / "workers" / str(self.worker)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_model(self) -> Path:
        return self.path / "best.keras"

    @property
    def log(self) -> Path:
        return self.path / "log.csv"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def config_file(self) -> Path:
        return self.path / CONFIG_FILE

    def saved_epoch(self) -> int:
        """Epochs finished and checkpointed so far (0 for a new run)."""
        return saved_epoch(self.path)

    def record_config(self, config: dict) -> None:
        """Write ``config.yaml`` when the run has not checkpointed an epoch yet (see :func:`check_resume`)."""
        if self.saved_epoch() == 0 or not self.config_file.exists():
            atomic_write_text(self.config_file, yaml.safe_dump(config, sort_keys=False))

    def exported(self, export: str | os.PathLike | None) -> Path | None:
        """The SavedModel version this run wrote to ``export`` after its current last epoch, if it still exists."""
        path = self.path / EXPORT_FILE
        if export is None or not path.exists():
            return None
        record = json.loads(path.read_text())
        version = Path(record["version"])
        same = Path(record["export"]) == Path(export) and record["epoch"] == self.saved_epoch()
        return version if same and version.is_dir() else None

    def record_export(self, export: str | os.PathLike, version: Path) -> None:
        """Remember that ``version`` (a folder under ``export``) holds the model after the last saved epoch."""
        record = {"export": str(export), "version": str(version), "epoch": self.saved_epoch()}
        atomic_write_text(self.path / EXPORT_FILE, json.dumps(record))

    def log_rows(self) -> list[dict]:
        """The rows of ``log.csv`` (strings, as written)."""
        if not self.log.exists():
            return []
        return list(csv.DictReader(io.StringIO(self.log.read_text())))

    def callbacks(self, monitor: str = "val_loss", mode: str = "auto", tensorboard: bool = True,
                  save_freq: str | int = "epoch") -> list[keras.callbacks.Callback]:
        """The callbacks of a resumable run, in the order that keeps the log and the checkpoint consistent.

        Call this right before ``model.fit`` (it trims ``log.csv`` to the checkpointed epochs). Pass
        ``initial_epoch=0`` to fit; the checkpoint sets where training resumes. ``epochs`` stays the total.

        Args:
            monitor: the logged quantity that selects ``best.keras`` (``"val_loss"``; use ``"loss"``
                without validation data).
            mode: ``"min"``, ``"max"`` or ``"auto"`` (max for accuracy, AUC and IoU).
            tensorboard: also write TensorBoard logs.
            save_freq: ``"epoch"`` or a number of batches between checkpoints.
        """
        rows = truncate_log(self.log, self.saved_epoch())
        best = _best_so_far(rows, monitor, mode)
        callbacks: list[keras.callbacks.Callback] = [
            NonFiniteLossGuard(),
            # the log row is written before the checkpoint: a kill between the two leaves a row for an
            # epoch that is not checkpointed, which truncate_log drops on restart (never a lost row)
            keras.callbacks.CSVLogger(str(self.log), append=True),
            AtomicModelCheckpoint(str(self.best_model), monitor=monitor, mode=mode, save_best_only=True,
                                  initial_value_threshold=best),
        ]
        if tensorboard:
            callbacks.append(keras.callbacks.TensorBoard(str(self.tensorboard), update_freq="epoch",
                                                         profile_batch=0, write_graph=False))
        callbacks.append(AtomicBackupAndRestore(self.checkpoints, save_freq=save_freq))
        return callbacks
