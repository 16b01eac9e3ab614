"""Every use of a private name of Keras or earthengine-api, fenced in one module.

rskeras uses public APIs everywhere else. Where no public API does what is needed, the private
name is used here, once, with the upstream issue that explains why and the versions it was
checked against; ``tests/test_compat.py`` has a test per entry that fails when upstream changes
the behaviour relied on. Checked against keras 3.15.1, tensorflow 2.21.0, earthengine-api 1.7.50.

Nothing is imported at module level: ``rskeras.ee_export`` (earthengine-api side, no TensorFlow)
and the Keras side both import this module.

=================================  ==========================================================
name here                          private name it fences
=================================  ==========================================================
:func:`producing_layer`            ``KerasTensor._keras_history.operation``
:func:`set_resume_epoch`           ``Model._initial_epoch``
:func:`learning_rate_schedule_of`  ``Optimizer._learning_rate``
:class:`BackupAndRestoreHooks`     ``BackupAndRestore._load_model / _save_model``,
                                   ``._current_epoch``, ``._last_batch_seen``
:class:`ModelCheckpointHooks`      ``ModelCheckpoint._save_model / _get_file_path /
                                   _should_save_model``
:func:`build_from_local_batch`     ``Trainer._symbolic_build``, ``._maybe_symbolic_build``
:func:`patch_multi_worker_logs`    ``keras.src.backend.tensorflow.trainer.reduce_per_replica``
:func:`register_activation_name`   ``keras.src.activations.ALL_OBJECTS_DICT``
:func:`ee_initialize_offline`      ``ee.data._install_cloud_api_resource``
=================================  ==========================================================
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

CHECKED_VERSIONS = {"keras": "3.15.1", "tensorflow": "2.21.0", "earthengine-api": "1.7.50"}


# ----- Keras functional graph ------------------------------------------------------------------

def producing_layer(tensor: Any):
    """The layer (Keras operation) whose call produced the symbolic ``tensor``, or None.

    Keras 3 has no public accessor for a KerasTensor's producer; its maintainers point to
    ``_keras_history`` (keras-team/keras#19881, #19278: "private details ... we might change").
    """
    return getattr(getattr(tensor, "_keras_history", None), "operation", None)


# ----- Keras training loop: resuming and checkpoint callbacks ----------------------------------

def set_resume_epoch(model: Any, epoch: int) -> None:
    """Make the next ``model.fit`` start at ``epoch`` whatever its ``initial_epoch``.

    This is how Keras' own ``BackupAndRestore`` resumes a run (``model._initial_epoch``, read by
    the TensorFlow trainer's ``fit``); there is no public setter (see keras-team/keras#19179 on
    BackupAndRestore resuming epochs).
    """
    model._initial_epoch = epoch


def learning_rate_schedule_of(optimizer: Any):
    """The learning-rate schedule object ``optimizer`` was made with (a float's variable when constant).

    Keras 3's ``optimizer.learning_rate`` returns the schedule's current value, not the schedule;
    the object is kept in ``_learning_rate`` (``LossScaleOptimizer`` delegates to its public
    ``inner_optimizer``). Keras 3.15 has no public getter for it.
    """
    inner = getattr(optimizer, "inner_optimizer", None)
    return learning_rate_schedule_of(inner) if inner is not None else optimizer._learning_rate


def _backup_and_restore_hooks():
    import keras

    class BackupAndRestoreHooks(keras.callbacks.BackupAndRestore):
        """``keras.callbacks.BackupAndRestore`` with its private hooks under public names.

        Subclasses implement :meth:`load_backup` (called where Keras restores, at the start of
        ``fit``) and :meth:`save_backup` (called where Keras saves: each epoch or every
        ``save_freq`` batches), and call :func:`set_resume_epoch` after restoring.
        """

        def load_backup(self) -> None:
            raise NotImplementedError

        def save_backup(self, epoch: int, batch: int) -> None:
            """Save the state after ``epoch`` finished epochs and ``batch`` batches of the next one."""
            raise NotImplementedError

        def _load_model(self):
            self.load_backup()

        def _save_model(self):
            self.save_backup(self._current_epoch, self._last_batch_seen)

    return BackupAndRestoreHooks


def _model_checkpoint_hooks():
    import keras

    class ModelCheckpointHooks(keras.callbacks.ModelCheckpoint):
        """``keras.callbacks.ModelCheckpoint`` whose write is a public hook, :meth:`write_checkpoint`.

        Keras decides when to save (``save_best_only``, ``monitor``, ``save_freq``) and formats the
        file name; the subclass decides how the file is written.
        """

        def write_checkpoint(self, filepath: str) -> None:
            raise NotImplementedError

        def _save_model(self, epoch, batch, logs):
            if self.save_best_only and _not_validated(self.monitor, logs or {}):
                return  # an epoch fit did not validate (validation_freq): nothing to compare, no warning
            filepath = self._get_file_path(epoch, batch, logs)
            if self._should_save_model(epoch, batch, logs, filepath):
                self.write_checkpoint(filepath)

    return ModelCheckpointHooks


def _not_validated(monitor: str, logs: dict) -> bool:
    """Whether ``logs`` lack validation quantity ``monitor`` only because the epoch was not validated."""
    return monitor.startswith("val_") and monitor not in logs and monitor.removeprefix("val_") in logs


_CLASSES: dict[str, Callable[[], type]] = {
    "BackupAndRestoreHooks": _backup_and_restore_hooks,
    "ModelCheckpointHooks": _model_checkpoint_hooks,
}


@functools.cache
def __getattr__(name: str):
    """The callback base classes, built on first use (so importing this module does not import Keras)."""
    if name in _CLASSES:
        cls = _CLASSES[name]()
        cls.__module__, cls.__qualname__ = __name__, name
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ----- tf.distribute: MultiWorkerMirroredStrategy (keras-team/keras#20585) ---------------------

def build_from_local_batch(model: Any, x: Any, y: Any) -> None:
    """Build ``model``, its compiled loss and metrics from one local batch, and skip Keras' own build.

    Keras 3 builds a model before ``fit`` by averaging a distributed batch with ``strategy.reduce``,
    which ``MultiWorkerMirroredStrategy`` cannot do for per-replica tensors ("Attempt to convert a
    value (PerReplica...)": keras-team/keras#20585, tensorflow/tensorflow#72388). Call inside the
    strategy's scope, after ``compile``.
    """
    model._symbolic_build(data_batch=(x, y, None))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def patch_multi_worker_logs() -> None:
    """Average scalar logs over workers with ``axis=None`` in Keras' TensorFlow trainer (applied once).

    Keras 3 averages the per-replica losses and metrics of a multi-worker step with
    ``strategy.reduce("MEAN", v, axis=0)``, which fails on scalars ("Invalid reduction dimension 0
    for input with 0 dimensions": tensorflow/tensorflow#72388, keras-team/keras#20585). Scalars are
    averaged over the replicas instead, as Keras does on one worker; everything else goes to
    Keras' own function.
    """
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "rskeras_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            def reduce(v):
                if not isinstance(v, tf.distribute.DistributedValues):
                    return v
                rank = strategy.experimental_local_results(v)[0].shape.rank
                return strategy.reduce("MEAN", v, axis=None if rank == 0 else 0)

            return tf.nest.map_structure(reduce, values)
        return original(values, strategy, reduction)

    reduce_per_replica.rskeras_patched = True
    trainer.reduce_per_replica = reduce_per_replica


# ----- Keras activations by name ---------------------------------------------------------------

def register_activation_name(name: str, fn: Callable) -> bool:
    """Make ``keras.activations.get(name)`` (and ``Dense(..., activation=name)``) return ``fn``.

    ``keras.activations.get`` resolves strings from Keras' own table only; Keras' registration of
    serialisable objects makes ``"package>name"`` deserialisable but not a plain name usable as
    ``activation="name"`` (keras-team/keras#20333). Returns False, changing
    nothing, where that table is missing; an existing entry is kept.
    """
    try:
        from keras.src.activations import ALL_OBJECTS_DICT
    except ImportError:
        return False
    ALL_OBJECTS_DICT.setdefault(name, fn)
    return True


# ----- earthengine-api ----------------------------------------------------------------------

def ee_initialize_offline(project: str) -> None:
    """Initialise ``ee`` without credentials or network, to build and describe requests.

    earthengine-api has no offline mode; its own test base class (``ee.apitestcase.ApiTestCase
    .InitializeApi``) skips the Cloud API discovery through ``ee.data._install_cloud_api_resource``
    and serves the algorithm signatures it ships; its maintainers recommend that class for unit
    tests of EE code (samapriya/gee_asset_manager_addon#28). Tasks built this way can be
    described, not started.
    """
    import ee
    from ee import apitestcase

    ee.Reset()
    ee.data._install_cloud_api_resource = lambda: None
    ee.data.getAlgorithms = apitestcase.GetAlgorithms
    ee.Initialize(None, "", project=project)
