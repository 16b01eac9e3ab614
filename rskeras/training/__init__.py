"""Training: config-driven runs, precision, distribution, resumable run folders.

- :func:`train` (``rskeras train CONFIG.yaml``): a validated configuration (:mod:`.config`) ->
  data, model, resumable fit, evaluation, export; its pieces are in :mod:`.trainer`.
- :mod:`.precision`: ``precision="auto"`` -> mixed_float16 (GPU, compute capability >= 7.0),
  mixed_bfloat16 (TPU) or float32 (CPU); loss scaling under mixed_float16; :func:`describe_machine` names
  the CPU flags that decide whether ``mixed_bfloat16`` is worth choosing on a CPU.
- :mod:`.distribute`: ``tf.distribute`` strategies by name and dataset sharding options.
- :mod:`.runs`: the run folder (checkpoints surviving SIGKILL, best model, CSV and TensorBoard
  logs), seeds, and the guard against non-finite losses.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.data.augment": ["dihedral"],
        "rskeras.training.budget": ["FitToBudget", "ReplannableSchedule", "Throughput", "TimeLimit",
                                    "epochs_for_budget", "measure_throughput"],
        "rskeras.training.compile": ["compile_for_task"],
        "rskeras.training.config": ["Config", "ConfigError", "load_config"],
        "rskeras.training.distribute": ["STRATEGIES", "get_strategy", "shard_options"],
        "rskeras.training.trainer": ["TrainResult", "TrainingData", "build_model", "compile_model", "export_model", "fit",
                                 "learning_rate_schedule", "load_data", "make_optimizer", "one_hot_targets",
                                 "prepare_dataset", "resolve_class_weights", "train"],
        "rskeras.training.precision": ["CPU_PRECISION_FLAGS", "PRECISIONS", "describe_machine", "precision_scope",
                                       "resolve_precision", "set_precision", "with_dtype_policy", "wrap_optimizer"],
        "rskeras.training.progress": ["EpochProgress"],
        "rskeras.training.runs": ["AtomicBackupAndRestore", "NonFiniteLossError", "NonFiniteLossGuard", "RunChangedError",
                                  "RunFolder", "set_seeds", "truncate_log"],
    },
    deprecated={"MODELS": "rskeras.models.registry:MODELS"},  # the registry of model families
)
