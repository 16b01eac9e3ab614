"""Progressive resizing: the schedule's arithmetic, the wrapper's resizing against NumPy, a run through
``train`` (sizes per epoch, the network saved at full size, resumed), and the configuration errors."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras.models import MODELS
from rskeras.training import ConfigError, load_config, train
from rskeras.training.progressive import (
    ProgressiveResizing,
    ResizeSchedule,
    check_network,
    check_schedule,
    sizes_by_epoch,
    stage_epochs,
)


def test_stages_take_their_share_of_the_epochs():
    assert stage_epochs([[32, 0.2], [48, 0.2]], 51) == [10, 10]
    assert sizes_by_epoch([[32, 0.2], [48, 0.2]], 10, 64) == [32, 32, 48, 48] + [64] * 6
    assert sizes_by_epoch([[32, 0.25]], 3, 64) == [32, 64, 64]  # 0.75 epochs round to 1
    assert sizes_by_epoch([[32, 0.25], [48, 0.25]], 2, 64) == [32, 64]  # ends at 0.5 -> 1 and 1 -> 1
    assert sizes_by_epoch([[16, 0.1]], 2, 64) == [64, 64]  # a stage shorter than half an epoch trains none


@pytest.mark.parametrize("schedule, message", [
    ([[32]], "each stage must be"), ([[32.5, 0.2]], "each stage must be"), ([[4, 0.2]], "at least 8 pixels"),
    ([[32, 0]], "above 0"), ([[32, 0.5], [48, 0.5]], "add up to 1"),
])
def test_bad_schedules_are_named(schedule, message):
    with pytest.raises(ValueError, match=message):
        check_schedule(schedule)


def _network():
    return MODELS["compact_resnet"].build((16, 16, 2), task="multiclass", n_outputs=3, widths=[4, 8], blocks=[1, 1],
                                          stem_filters=4, dropout=0.0)


def test_training_sees_area_averaged_patches_and_inference_the_patches():
    network = _network()
    model = ProgressiveResizing(network)
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 2)).astype("float32")
    blocks = x.reshape(2, 8, 2, 8, 2, 2).mean(axis=(2, 4))  # 2 x 2 pixels averaged
    np.testing.assert_allclose(model._resized(tf.constant(x), tf.constant(8)), blocks, rtol=1e-5)
    model.size.assign(8)
    np.testing.assert_allclose(model(x, training=True), network.call(blocks, training=True), rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(model(x, training=False), network(x, training=False))
    model.size.assign(16)
    np.testing.assert_allclose(model(x, training=True), network(x, training=True), rtol=1e-5, atol=1e-7)


def test_the_wrapper_saves_its_network(tmp_path):
    model = ProgressiveResizing(_network())
    x = np.full((1, 16, 16, 2), 50.0, "float32")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert not isinstance(loaded, ProgressiveResizing) and loaded.input_shape == (None, 16, 16, 2)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    clone = ProgressiveResizing.from_config(model.get_config())
    assert clone.network.input_shape == (None, 16, 16, 2)


def test_a_model_that_needs_its_patch_size_is_refused():
    cnn = MODELS["cnn"].build((16, 16, 2), task="multiclass", n_outputs=3, widths=[4, 8], hidden=[8])
    with pytest.raises(ValueError, match="'cnn' cannot compute on 8 x 8 patches .*fc1"):
        check_network(cnn, [8])
    check_network(_network(), [8, 12])


def _config(eurosat_dir, tmp_path, epochs=4):
    return {
        "data": {"root": str(eurosat_dir), "limit": 32, "validation_limit": 16, "batch_size": 16, "stats_samples": 32},
        "model": {"name": "compact_resnet", "options": {"widths": [8, 16], "blocks": [1, 1], "stem_filters": 8}},
        "task": "multiclass",
        "training": {"epochs": epochs, "schedule": "onecycle", "verbose": 0,
                     "progressive_resizing": [[32, 0.25], [48, 0.25]]},
        "output": {"run_dir": str(tmp_path / "run"), "tensorboard": False},
    }


class _Sizes(keras.callbacks.Callback):
    """Records the training patch side of each epoch (after ResizeSchedule set it); stops after ``stop`` epochs."""

    def __init__(self, stop=None):
        super().__init__()
        self.sizes, self.stop = [], stop

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.sizes.append(int(self.model.size.numpy()))

    def on_epoch_end(self, epoch, logs=None):
        self.model.stop_training = len(self.sizes) == self.stop


def test_train_runs_each_stage_resumes_and_saves_the_network_at_full_size(eurosat_dir, tmp_path, capsys):
    first = _Sizes(stop=3)  # a run of 4 epochs stopped after its third, then resumed
    train(_config(eurosat_dir, tmp_path), callbacks=[first])
    assert first.sizes == [32, 48, 64]
    assert "epoch 2 onwards trains on 48 x 48 patches" in capsys.readouterr().out
    rest = _Sizes()
    result = train(_config(eurosat_dir, tmp_path), callbacks=[rest])
    assert rest.sizes == [64] and len(result.run.log_rows()) == 4
    assert result.model.input_shape == (None, 64, 64, 3) and not isinstance(result.model, ProgressiveResizing)
    for name in ("model.keras", "best.keras"):
        assert keras.models.load_model(result.run.path / name).input_shape == (None, 64, 64, 3)


def test_configuration_errors_name_the_key(eurosat_dir, tmp_path):
    config = _config(eurosat_dir, tmp_path)
    config["training"]["progressive_resizing"] = [[32, 0.6], [48, 0.6]]
    with pytest.raises(ConfigError, match="training.progressive_resizing: the shares add up to 1.2"):
        load_config(config)
    config = _config(eurosat_dir, tmp_path)
    config["model"] = {"name": "cnn", "options": {"widths": [4], "hidden": [8]}}
    with pytest.raises(ConfigError, match="training.progressive_resizing: model 'cnn' cannot compute on 32 x 32"):
        train(config)
    config = _config(eurosat_dir, tmp_path)
    config["training"]["progressive_resizing"] = [[64, 0.5]]
    with pytest.raises(ConfigError, match="stage size 64 is not below the patch size 64"):
        train(config)
    config.update(model={"name": "unet"}, data={"source": "earthengine", "train_files": ["x.tfrecord.gz"],
                                                "bands": ["B4", "B3"], "label": "landcover"},
                  task={"type": "multiclass", "n_outputs": 3})
    with pytest.raises(ConfigError, match="model 'unet' \\(dense\\) cannot be trained so"):
        load_config(config)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_resize_schedule_sets_the_size_of_the_epoch_it_is_at():
    model = ProgressiveResizing(_network())
    schedule = ResizeSchedule([8, 12, 16], verbose=False)
    schedule.set_model(model)
    for epoch, size in [(1, 12), (0, 8), (7, 16)]:
        schedule.on_epoch_begin(epoch)
        assert int(model.size.numpy()) == size
    assert tf.is_tensor(model.size.value)
