"""The lecture's CNN classifier: depth/width options, shapes, save/load, real-data training, mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rskeras.heads import TaskOutput, compile_arguments
from rskeras.models import model_metadata
from rskeras.models.cnn import cnn
from tests.models.helpers import dtype_policy, eurosat_batch, train_steps

SMALL = dict(filters=(8, 16, 32), dense_units=(32,))


def test_parameter_count_matches_docstring():
    model = cnn((64, 64, 3), n_outputs=10)
    assert model.count_params() == 1_143_914
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 1_143_466
    assert "1,143,914" in cnn.__doc__


def test_depth_width_and_options_shape_the_layers():
    model = cnn((32, 32, 5), filters=(4, 8), convs_per_block=2, batch_norm=False, dense_units=(16, 8), dropout=0.0)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.name, c.filters) for c in convs] == [("block1_conv1", 4), ("block1_conv2", 4),
                                                     ("block2_conv1", 8), ("block2_conv2", 8)]
    assert not any(isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout)) for layer in model.layers)
    assert model.get_layer("flatten").output.shape == (None, 8 * 8 * 8)
    assert [model.get_layer(n).units for n in ("fc1", "fc2")] == [16, 8]
    assert isinstance(model.layers[-1], TaskOutput)


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="height and width must be known"):
        cnn((None, None, 3))


@pytest.mark.parametrize("bands", [3, 4, 10, 13])
@pytest.mark.parametrize("task, n_outputs", [("regression", 2), ("binary", 1), ("multiclass", 10),
                                             ("multilabel", 5)])
def test_output_shapes_for_bands_and_tasks(bands, task, n_outputs):
    model = cnn((32, 32, bands), task=task, n_outputs=n_outputs, **SMALL)
    y = keras.ops.convert_to_numpy(model(np.random.default_rng(0).normal(size=(2, 32, 32, bands)).astype("float32")))
    assert y.shape == (2, n_outputs) and y.dtype == np.float32
    assert model_metadata(model).task == task


def test_keras_round_trip_keeps_outputs_and_metadata(tmp_path):
    names = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
    model = cnn((32, 32, 10), n_outputs=3, class_names=["a", "b", "c"], band_names=names,
                band_stats=([1000.0] * 10, [500.0] * 10), **SMALL)
    x = np.random.default_rng(1).uniform(0, 5000, size=(2, 32, 32, 10)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "cnn.keras")
    loaded = keras.models.load_model(tmp_path / "cnn.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), before, rtol=1e-5, atol=1e-6)
    meta = model_metadata(loaded)
    assert meta.band_names == [names] and meta.class_names == ["a", "b", "c"] and meta.normalized == [True]


def test_training_steps_on_real_eurosat_lower_the_loss(eurosat_dir):
    keras.utils.set_random_seed(0)
    x, y = eurosat_batch(eurosat_dir, n=16)
    model = cnn((64, 64, 3), n_outputs=10, band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))), **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **compile_arguments("multiclass"))
    losses = train_steps(model, x, y, steps=5)
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("policy, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_outputs_float32(policy, compute):
    with dtype_policy(policy):
        model = cnn((32, 32, 4), n_outputs=5, **SMALL)
        y = model(np.ones((2, 32, 32, 4), "float32"))
    assert model.get_layer("block2_conv1").compute_dtype == compute
    assert y.dtype == "float32" and np.isfinite(keras.ops.convert_to_numpy(y)).all()
