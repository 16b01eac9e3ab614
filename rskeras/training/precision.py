"""Numeric precision of training: float32, or mixed float16 / bfloat16 with float32 variables.

``"auto"`` picks ``mixed_float16`` on an NVIDIA GPU of compute capability 7.0 or higher
(Volta and later, with tensor cores), ``mixed_bfloat16`` on a TPU, and ``float32`` otherwise
(CPUs, older GPUs). Under a mixed policy layers compute in 16 bits and keep float32 weights;
rskeras' :class:`~rskeras.heads.TaskOutput` returns float32, so losses are float32. Under
``mixed_float16`` the optimizer is wrapped in Keras' ``LossScaleOptimizer`` (dynamic loss
scaling), which :func:`wrap_optimizer` does and ``model.compile`` also does by itself.

On a CPU ``"auto"`` stays float32: whether bfloat16 trains faster depends on the CPU's instructions and on
the day's load (the EuroSAT recipe's train step in ``mixed_bfloat16`` measured from 0.85x to 1.62x float32's
speed in ``benchmarks/training.py --paired``: README, Performance). :func:`describe_machine` names the
instructions that decide it; each benchmark's JSON and each EuroSAT budget run's summary record it.
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from pathlib import Path

import keras
import tensorflow as tf

from rskeras.models.metadata import all_layers

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")

#: ``/proc/cpuinfo`` flags that speed up bfloat16 and float16 arithmetic on x86 (oneDNN uses them when present).
CPU_PRECISION_FLAGS = ("avx512_bf16", "avx512_fp16", "amx_bf16", "amx_fp16", "amx_tile")


def describe_machine(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The machine a run trained or a benchmark ran on, e.g. ``'x86_64, 2 CPU cores, avx512_bf16 amx_bf16
    amx_tile'``: architecture, cores and the :data:`CPU_PRECISION_FLAGS` present; ``'..., none of avx512_bf16
    ...'`` where the CPU reports none of them, and no flags part where ``cpuinfo`` cannot be read (not Linux)."""
    text = f"{platform.machine()}, {os.cpu_count()} CPU cores"
    try:
        flags = set(cpuinfo.read_text().split())
    except OSError:
        return text
    present = [flag for flag in CPU_PRECISION_FLAGS if flag in flags]
    return f"{text}, {' '.join(present) if present else 'none of ' + ' '.join(CPU_PRECISION_FLAGS)}"


def _gpu_compute_capability() -> tuple[int, int] | None:
    """The lowest compute capability of the visible GPUs, or None without a GPU."""
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        if details.get("compute_capability"):
            capabilities.append(tuple(details["compute_capability"]))
    return min(capabilities) if capabilities else None


def resolve_precision(precision: str = "auto", strategy: tf.distribute.Strategy | None = None) -> str:
    """The Keras dtype policy name for ``precision`` on this machine.

    Args:
        precision: one of :data:`PRECISIONS`.
        strategy: the distribution strategy in use; a ``TPUStrategy`` means TPU.

    Raises:
        ValueError: ``precision`` is not one of :data:`PRECISIONS`.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if strategy is not None and isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    capability = _gpu_compute_capability()
    if capability is not None and capability >= (7, 0):
        return "mixed_float16"
    return "float32"


def set_precision(precision: str = "auto", strategy: tf.distribute.Strategy | None = None) -> str:
    """Set Keras' global dtype policy (affects models built afterwards); returns the policy name."""
    policy = resolve_precision(precision, strategy)
    keras.mixed_precision.set_dtype_policy(policy)
    return policy


@contextlib.contextmanager
def precision_scope(precision: str = "auto", strategy: tf.distribute.Strategy | None = None) -> Iterator[str]:
    """Models built inside the ``with`` block get ``precision``'s dtype policy (its name is yielded); the
    global policy before the block is restored when it ends, also on an error."""
    previous = keras.mixed_precision.dtype_policy()
    try:
        yield set_precision(precision, strategy)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def wrap_optimizer(optimizer: keras.optimizers.Optimizer, policy: str) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a ``LossScaleOptimizer`` under ``mixed_float16``, unchanged otherwise."""
    if policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def with_dtype_policy(model: keras.Model, policy: str = "float32") -> keras.Model:
    """``model`` with every layer that computes in a mixed policy set to ``policy``, and the same weights.

    A model trained under ``mixed_float16`` or ``mixed_bfloat16`` keeps float32 weights but computes
    in 16 bits, which is slow on CPUs without 16-bit arithmetic (and ONNX or LiteRT files would carry
    the casts). Its float32 copy computes the same function at full precision: the configuration is
    rebuilt with ``policy`` in place of each mixed policy, and the weights are copied in order.
    Layers that set their own dtype (float32 outputs, int inputs) keep it. ``model`` itself is
    returned when no layer computes in a mixed policy.

    Raises:
        ValueError: ``policy`` is not a Keras dtype policy name.
    """
    keras.dtype_policies.get(policy)  # a bad name raises here
    mixed = {"mixed_float16", "mixed_bfloat16"} - {policy}
    if not any(layer.dtype_policy.name in mixed for layer in all_layers(model)):
        return model
    config = keras.saving.serialize_keras_object(model)
    config.pop("compile_config", None)
    copy = keras.saving.deserialize_keras_object(_replace_policies(config, mixed, policy))
    copy.set_weights(model.get_weights())
    return copy


def _replace_policies(config, mixed: set[str], policy: str):
    """A serialised model with each dtype policy named in ``mixed`` (an object or a plain name) set to ``policy``."""
    if isinstance(config, dict):
        if config.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and config["config"].get("name") in mixed:
            return {**config, "config": {**config["config"], "name": policy}}
        return {key: (policy if key == "dtype" and isinstance(value, str) and value in mixed
                      else _replace_policies(value, mixed, policy))
                for key, value in config.items()}
    if isinstance(config, list):
        return [_replace_policies(value, mixed, policy) for value in config]
    return config
