"""The EuroSAT recipe's steps: budget arithmetic, and one tiny run of train_eurosat on the real EuroSAT folder."""

import json
import math

import pytest

from rskeras.training import (
    FitToBudget,
    ReplannableSchedule,
    Throughput,
    describe_machine,
    epochs_for_budget,
    measure_throughput,
    recipes,
)


def test_budget_steps():
    assert recipes._reserve_seconds(5400, Throughput(100.0, 300.0)) == 60 + 27.0
    assert recipes._reserve_seconds(5400, None) == 60
    assert recipes._seconds_left(None, 0.0, 60) == math.inf


def test_epochs_for_budget():
    # 1,000 training images at 100/s and 500 validated at 250/s: 12 s an epoch
    assert epochs_for_budget(60, 100.0, 1000, 500, validation_images_per_second=250.0) == 5
    assert epochs_for_budget(59.9, 100.0, 1000, 500, validation_images_per_second=250.0) == 4
    assert epochs_for_budget(60, 100.0, 1000, 600) == 5  # validation at 3x the training speed: 2 s
    # validated every 5th epoch: 10 s of training and 0.4 s of validation an epoch
    assert epochs_for_budget(53, 100.0, 1000, 500, validation_images_per_second=250.0, validation_freq=5) == 5
    assert epochs_for_budget(51.9, 100.0, 1000, 500, validation_images_per_second=250.0, validation_freq=5) == 4
    assert epochs_for_budget(1, 100.0, 1000) == 1 and epochs_for_budget(1e6, 100.0, 1000, max_epochs=7) == 7


def test_measure_throughput_times_fit_and_evaluate_steps():
    """Both speeds from the median step of a real fit and evaluate on a tiny model (batches of 8)."""
    import keras
    import tensorflow as tf

    def build():
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                                  keras.layers.Dense(2)])
        model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    data = tf.data.Dataset.from_tensor_slices((tf.zeros((32, 16, 16, 3)), tf.zeros(32, "int32"))).batch(8)
    speed = measure_throughput(build, data, steps=4, warmup=2)
    assert isinstance(speed, Throughput) and speed.train > 0 and speed.evaluate > 0
    given = measure_throughput(build, data, steps=4, warmup=2, batch_size=8)
    assert given.train > 0 and given.evaluate > 0


def test_calibrate_probes_each_stage_in_the_runs_precision(eurosat_dir, monkeypatch):
    """The probe models compute in the run's precision (bfloat16 here), inside the resizing wrapper as in
    the run, one per stage size, on the whole (limited) split; the stage speeds average by their shares;
    the global policy is restored."""
    import keras

    from rskeras.models.metadata import all_layers

    seen, speeds = [], iter([100.0, 400.0])

    def probe(build, dataset, steps, warmup, batch_size):
        assert batch_size == 64  # the recipe's, given: no batch read only to learn it
        model = build()
        seen.append((type(model).__name__, getattr(model, "size", None) is not None and int(model.size.numpy()),
                     {layer.dtype_policy.compute_dtype for layer in all_layers(model) if layer.weights},
                     sum(1 for _ in dataset)))
        return Throughput(next(speeds), 300.0)

    monkeypatch.setattr(recipes, "measure_throughput", probe)
    config = recipes.eurosat_recipe(eurosat_dir, "compact_resnet_small", precision="mixed_bfloat16", verbose=0,
                                    progressive_resizing=[[32, 0.5]], limit=320)
    result = recipes.calibrate(config, steps=2)
    assert seen == [("ProgressiveResizing", 64, {"bfloat16"}, 5), ("ProgressiveResizing", 32, {"bfloat16"}, 5)]
    assert result == Throughput(1 / (0.5 / 100 + 0.5 / 400), 300.0)  # 160 images/s over the epochs
    assert keras.mixed_precision.dtype_policy().name == "float32"


def test_train_eurosat_plans_trains_evaluates_and_exports(eurosat_dir, tmp_path, monkeypatch):
    # images/s in training and validation, instead of a measured probe
    monkeypatch.setattr(recipes, "calibrate", lambda config: Throughput(100.0, 400.0))
    # 1.05 minutes less 60 s + 64 / (2 * 100) s of reserve leave ~2.7 s: one epoch of 128 (+ 64 at 400/s) images
    report = recipes.train_eurosat(eurosat_dir, tmp_path / "out", model="compact_resnet_small", minutes=1.05,
                                   export_dir=tmp_path / "models", limit=128, validation_limit=64, verbose=0)
    summary = report["summary"]
    assert (summary["model"], summary["epochs_planned"], summary["calibrated_images_per_second"]) == \
        ("compact_resnet_small", 1, 100.0)
    assert summary["calibrated_validation_images_per_second"] == 400.0
    assert (summary["n_train"], summary["n_validation"], summary["epochs"]) == (128, 64, 1)
    assert summary["parameters"] > 0 and summary["precision"] == "float32"
    assert summary["saved_model_computes_in"] == ["float32"] and summary["progressive_resizing"] is None
    assert summary["keras_file"].endswith("eurosat_compact_resnet_small.keras")
    assert summary["machine"] == describe_machine()  # the CPU that set the epochs a budget holds
    assert (tmp_path / "models" / "eurosat_compact_resnet_small" / "1" / "saved_model.pb").exists()
    written = json.loads((tmp_path / "out" / "evaluation" / "metrics.json").read_text())
    assert written["summary"]["epochs_planned"] == 1 and written["n"] == 64
    assert summary["epochs_replanned"] == 1  # one epoch: nothing to shorten
    with pytest.raises(ValueError, match="either minutes"):
        recipes.train_eurosat(eurosat_dir, tmp_path / "x", minutes=1, epochs=1)


def test_train_eurosat_passes_its_precision_to_the_recipe(eurosat_dir, tmp_path, monkeypatch):
    """``precision=`` reaches the training configuration (and so the throughput probe and the run)."""
    seen = {}

    class Stop(Exception):
        pass

    def capture(config, callbacks=None):
        seen.update(config["training"])
        raise Stop

    def probe(config):
        seen["probed"] = config["training"]["precision"]
        return Throughput(100.0, 300.0)  # images/s

    monkeypatch.setattr(recipes, "calibrate", probe)
    monkeypatch.setattr(recipes, "train_config", capture)
    with pytest.raises(Stop):
        recipes.train_eurosat(eurosat_dir, tmp_path / "out", model="compact_resnet_small", minutes=5, export_dir=None,
                              limit=128, validation_limit=64, precision="mixed_bfloat16")
    assert seen["precision"] == seen["probed"] == "mixed_bfloat16"


def test_a_bad_precision_is_named_and_leaves_the_earlier_run(eurosat_dir, tmp_path):
    """The recipe's configuration is checked before the run folder of an earlier run is emptied."""
    earlier = tmp_path / "out" / "run" / "checkpoint.keras"
    earlier.parent.mkdir(parents=True)
    earlier.write_bytes(b"weights")
    with pytest.raises(ValueError, match="training.precision 'bf16' is not one of auto, float32"):
        recipes.train_eurosat(eurosat_dir, tmp_path / "out", minutes=5, export_dir=None, precision="bf16")
    assert earlier.read_bytes() == b"weights" and sorted(tmp_path.rglob("*")) == [
        tmp_path / "out", earlier.parent, earlier]


def _cosine(total=100):
    """One-cycle's shape: warm-up over the first 30 % of ``total`` steps, then cosine decay to 0."""
    import keras

    warmup = int(0.3 * total)
    return keras.optimizers.schedules.CosineDecay(0.0, decay_steps=total - warmup, alpha=0.0, warmup_target=1.0,
                                                  warmup_steps=warmup)


def test_replanned_schedule_continues_and_ends_at_the_new_step():
    """Before end_at it is the schedule; after end_at(40, 70) of 100 steps it continues from the rate at
    step 40, runs the schedule's steps 40..100 linearly over 40..70, and round-trips its config."""
    import keras

    inner = _cosine()
    schedule = ReplannableSchedule(inner, 100)
    for step in (0, 15, 30, 64):
        assert math.isclose(float(schedule(step)), float(inner(step)), rel_tol=1e-6)
    schedule.end_at(40, 70)
    for step, position in ((40, 40), (55, 70), (70, 100)):
        assert math.isclose(float(schedule(step)), float(inner(position)), rel_tol=1e-5, abs_tol=1e-7)
    assert float(schedule(70)) < 1e-6
    schedule.end_at(55, 60)  # again: from where it is (position 70), ends at step 60
    assert math.isclose(float(schedule(55)), float(inner(70)), rel_tol=1e-5)
    assert float(schedule(60)) < 1e-6
    copy = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(copy, ReplannableSchedule) and copy.get_config() == schedule.get_config()
    assert math.isclose(float(copy(57)), float(schedule(57)), rel_tol=1e-6)


def test_fit_to_budget_moves_the_last_epoch_and_ends_the_schedule(monkeypatch):
    """A fake clock against 65 s: 10-s epochs leave room for 6 of 10 planned epochs after epoch 2 (the first
    is left out: it traces); 5-s epochs from epoch 5 on bring the mean down and the end back to 7. The
    learning rate reaches 0 at the last step."""
    import keras
    import tensorflow as tf

    from rskeras.training import budget

    clock, seconds = [0.0], iter([10, 10, 10, 10, 5, 5, 5, 5, 5, 5])
    monkeypatch.setattr(budget.time, "perf_counter", lambda: clock[0])
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            clock[0] += next(seconds)

    class Ends(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            ends.append(fit.end_epoch)

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    schedule = ReplannableSchedule(_cosine(20), 20)  # 10 epochs of 2 steps
    model.compile(keras.optimizers.SGD(schedule), "mse")
    data = tf.data.Dataset.from_tensor_slices((tf.ones((4, 2)), tf.ones((4, 1)))).batch(2)
    fit = FitToBudget(65.0)  # epochs from fit, steps per epoch counted
    history = model.fit(data, epochs=10, verbose=0, callbacks=[Clock(), fit, Ends()])
    assert ends == [10, 6, 6, 6, 7, 7, 7] and len(history.history["loss"]) == 7
    assert int(model.optimizer.iterations.numpy()) == 14 and float(schedule(14)) < 1e-6
