"""One test per entry of rskeras._compat: each fails when upstream changes what the entry relies on.

The end-to-end check of the two MultiWorkerMirroredStrategy workarounds is
tests/training/test_distribute.py::test_multi_worker_mirrored_over_loopback (two workers over loopback).
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras import _compat


def _regression_model(units: int = 1) -> keras.Model:
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(units, name="d")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


X = np.arange(12, dtype="float32").reshape(6, 2) / 10
Y = X.sum(axis=1, keepdims=True)


def test_module_imports_neither_keras_nor_earth_engine():
    code = "import rskeras._compat, sys; sys.exit(any(m in sys.modules for m in ('keras', 'tensorflow', 'ee')))"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_producing_layer():
    inputs = keras.Input((2,))
    dense = keras.layers.Dense(3, name="d")
    out = dense(inputs)
    assert _compat.producing_layer(out) is dense
    assert _compat.producing_layer(np.zeros(2)) is None
    model = keras.Model(inputs, out)
    assert [_compat.producing_layer(t).name for t in model.outputs] == ["d"]


def test_set_resume_epoch_makes_fit_start_there():
    model = _regression_model()
    _compat.set_resume_epoch(model, 2)
    history = model.fit(X, Y, epochs=4, batch_size=2, verbose=0)
    assert history.epoch == [2, 3]


def test_learning_rate_schedule_of_returns_the_schedule_object():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    optimizer = keras.optimizers.Adam(schedule)
    assert _compat.learning_rate_schedule_of(optimizer) is schedule
    assert _compat.learning_rate_schedule_of(keras.optimizers.LossScaleOptimizer(optimizer)) is schedule


def test_backup_and_restore_hooks_are_called_where_keras_restores_and_saves(tmp_path):
    calls = []

    class Recorder(_compat.BackupAndRestoreHooks):
        def load_backup(self):
            calls.append("load")

        def save_backup(self, epoch, batch):
            calls.append((epoch, batch))

    _regression_model().fit(X, Y, epochs=2, batch_size=2, verbose=0, callbacks=[Recorder(str(tmp_path))])
    assert calls == ["load", (1, 0), (2, 0)]
    calls.clear()
    # every 2 batches of 3 per epoch: after batches 1 (epoch 0), 0 and 2 (epoch 1)
    _regression_model().fit(X, Y, epochs=2, batch_size=2, verbose=0, callbacks=[Recorder(str(tmp_path), save_freq=2)])
    assert calls == ["load", (0, 1), (1, 0), (1, 2)]


def test_model_checkpoint_hook_gets_the_formatted_path_when_keras_would_save(tmp_path):
    written = []

    class Recorder(_compat.ModelCheckpointHooks):
        def write_checkpoint(self, filepath):
            written.append(filepath)

    # the loss falls every epoch, so with mode="max" only the first epoch is the "best"
    checkpoint = Recorder(str(tmp_path / "{epoch:02d}.keras"), monitor="loss", mode="max", save_best_only=True)
    _regression_model().fit(X, Y, epochs=3, batch_size=2, verbose=0, callbacks=[checkpoint])
    assert written == [str(tmp_path / "01.keras")]


def test_build_from_local_batch_builds_the_compiled_state_and_replaces_keras_build():
    model = _regression_model()
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    assert not model.optimizer.built
    _compat.build_from_local_batch(model, tf.constant(X[:2]), tf.constant(Y[:2]))
    assert model.optimizer.built and [m.name for m in model.metrics] == ["loss", "compile_metrics"]
    # Keras' fit reaches its build step through the instance attribute the workaround replaces
    seen = []
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: seen.append(True)
    model.fit(X, Y, epochs=1, batch_size=2, verbose=0)
    assert seen


def test_multi_worker_log_patch_wraps_keras_reduction_once():
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    assert list(inspect.signature(original).parameters) == ["values", "strategy", "reduction"]
    # fit's step functions look the function up in the module at call time, so replacing it takes effect
    assert "reduce_per_replica(" in inspect.getsource(trainer.TensorFlowTrainer._make_function)
    try:
        _compat.patch_multi_worker_logs()
        patched = trainer.reduce_per_replica
        _compat.patch_multi_worker_logs()
        assert trainer.reduce_per_replica is patched is not original
        value = patched({"loss": tf.constant(2.5)}, tf.distribute.get_strategy(), "auto")
        assert float(value["loss"]) == 2.5  # other strategies: Keras' own function
    finally:
        trainer.reduce_per_replica = original


def test_register_activation_name():
    import rskeras.activations  # noqa: F401  (registers the lecture's activations)

    assert keras.activations.get("unit_step")(tf.constant([-1.0, 0.0, 2.0])).numpy().tolist() == [0.0, 0.5, 1.0]

    def halve(x):
        return x / 2

    assert _compat.register_activation_name("rskeras_test_halve", halve)
    assert keras.activations.get("rskeras_test_halve") is halve
    assert _compat.register_activation_name("relu", halve) and keras.activations.get("relu") is not halve


def test_ee_initialize_offline_builds_requests_without_network():
    ee = pytest.importorskip("ee")
    assert callable(ee.data._install_cloud_api_resource)  # the name skipped still exists upstream
    _compat.ee_initialize_offline("dry-run")
    try:
        graph = json.loads(ee.Image(1).add(2).serialize())
        assert graph["values"]["0"]["functionInvocationValue"]["functionName"] == "Image.add"
    finally:
        ee.Reset()
