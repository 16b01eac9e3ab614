"""Training: config-driven runs, precision, distribution, resumable run folders.

- :func:`train` (``rskeras train CONFIG.yaml``): a validated configuration (:mod:`.config`) ->
  data, model, resumable fit, evaluation, export; its pieces are in :mod:`.fit`.
- :mod:`.precision`: ``precision="auto"`` -> mixed_float16 (GPU, compute capability >= 7.0),
  mixed_bfloat16 (TPU) or float32 (CPU); loss scaling under mixed_float16.
- :mod:`.distribute`: ``tf.distribute`` strategies by name and dataset sharding options.
- :mod:`.runs`: the run folder (checkpoints surviving SIGKILL, best model, CSV and TensorBoard
  logs), seeds, and the guard against non-finite losses.
"""

from rskeras.data.augment import dihedral
from rskeras.training.budget import TimeLimit, epochs_for_budget, measure_throughput
from rskeras.training.compile import compile_for_task
from rskeras.training.config import MODELS, Config, ConfigError, load_config
from rskeras.training.distribute import STRATEGIES, get_strategy, shard_options
from rskeras.training.fit import (
    TrainingData,
    TrainResult,
    build_model,
    compile_model,
    export_model,
    fit,
    learning_rate_schedule,
    load_data,
    make_optimizer,
    prepare_dataset,
    train,
)
from rskeras.training.precision import (
    PRECISIONS,
    resolve_precision,
    set_precision,
    wrap_optimizer,
)
from rskeras.training.progress import EpochProgress
from rskeras.training.runs import (
    AtomicBackupAndRestore,
    NonFiniteLossError,
    NonFiniteLossGuard,
    RunFolder,
    set_seeds,
    truncate_log,
)

__all__ = [
    "MODELS",
    "PRECISIONS",
    "STRATEGIES",
    "AtomicBackupAndRestore",
    "Config",
    "ConfigError",
    "EpochProgress",
    "NonFiniteLossError",
    "NonFiniteLossGuard",
    "RunFolder",
    "TimeLimit",
    "TrainResult",
    "TrainingData",
    "build_model",
    "compile_for_task",
    "compile_model",
    "dihedral",
    "epochs_for_budget",
    "export_model",
    "fit",
    "get_strategy",
    "learning_rate_schedule",
    "load_config",
    "load_data",
    "make_optimizer",
    "measure_throughput",
    "prepare_dataset",
    "resolve_precision",
    "set_precision",
    "set_seeds",
    "shard_options",
    "train",
    "truncate_log",
    "wrap_optimizer",
]
