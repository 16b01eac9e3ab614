"""tf.distribute strategies by name, and datasets prepared to be sharded under them.

======================  ===============================================================
``strategy=``           what it gives
======================  ===============================================================
``"auto"``              TPU when one is found (Colab: ``COLAB_TPU_ADDR`` / ``TPU_NAME``),
                        several workers when ``TF_CONFIG`` names a cluster, several GPUs,
                        else the default strategy
``"default"``           the default strategy (one device: CPU or the first GPU)
``"mirrored"``          ``MirroredStrategy``: one process, all local GPUs (or CPU devices)
``"multi_worker"``      ``MultiWorkerMirroredStrategy`` configured from ``TF_CONFIG``
``"tpu"``               ``TPUStrategy`` through ``TPUClusterResolver`` (Colab, Cloud TPU)
======================  ===============================================================

Build and compile the model inside ``strategy.scope()``; ``model.fit`` then splits each global
batch over the replicas. :func:`shard_options` sets how a dataset is split over *workers*:
rskeras' datasets (EuroSAT file lists, Earth Engine TFRecords) are sharded by element
(``AutoShardPolicy.DATA``) where there are too few files to give each worker its own.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from rskeras._compat import build_from_local_batch, patch_multi_worker_logs

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")


def _tf_config_workers() -> int:
    """Number of workers (chief included) that ``TF_CONFIG`` describes; 0 without it."""
    config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    cluster = config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _tpu_strategy(tpu: str | None = None) -> tf.distribute.TPUStrategy:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def get_strategy(name: str | tf.distribute.Strategy = "auto") -> tf.distribute.Strategy:
    """The ``tf.distribute`` strategy called ``name`` (see the module table); a strategy is returned as is.

    Raises:
        ValueError: an unknown name, or ``"multi_worker"`` without a cluster in ``TF_CONFIG``.
    """
    if isinstance(name, tf.distribute.Strategy):
        return name
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    if name == "auto":
        if os.environ.get("COLAB_TPU_ADDR") or os.environ.get("TPU_NAME"):
            return _tpu_strategy()
        if _tf_config_workers() > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if _tf_config_workers() < 1:
            raise ValueError("strategy 'multi_worker' needs TF_CONFIG with a 'cluster' (worker addresses) and a "
                             "'task' (this worker's type and index); TF_CONFIG is "
                             f"{os.environ.get('TF_CONFIG', 'not set')!r}")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy()


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """True on the worker that writes logs and checkpoints (always True outside multi-worker training)."""
    strategy = strategy or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (task_type == "worker" and task_id == 0
                                            and "chief" not in resolver.cluster_spec().as_dict())


def worker_index(strategy: tf.distribute.Strategy | None = None) -> int:
    """This worker's index (0 outside multi-worker training)."""
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    return int(resolver.task_id or 0) if resolver is not None and resolver.task_id is not None else 0


def shard_options(
    dataset: tf.data.Dataset,
    policy: tf.data.experimental.AutoShardPolicy = tf.data.experimental.AutoShardPolicy.DATA,
) -> tf.data.Dataset:
    """``dataset`` with its auto-shard policy set (``DATA``: each worker keeps every n-th element).

    Use ``AutoShardPolicy.FILE`` for a dataset read from at least as many files as workers.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = policy
    return dataset.with_options(options)


def build_for_multi_worker(model, dataset: tf.data.Dataset) -> None:
    """Build ``model``'s state from one local batch so that ``fit`` works under ``MultiWorkerMirroredStrategy``.

    Keras 3 (up to 3.15 at least) cannot build a model or reduce its scalar logs under
    ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585); this applies the two workarounds of
    :mod:`rskeras._compat` (:func:`~rskeras._compat.build_from_local_batch` and
    :func:`~rskeras._compat.patch_multi_worker_logs`). Call it after ``compile``, outside of
    ``fit``; other strategies need nothing.
    """
    strategy = model.distribute_strategy
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return
    patch_multi_worker_logs()
    x, y = next(iter(dataset.take(1)))[:2]
    with strategy.scope():
        build_from_local_batch(model, x, y)
