"""ResNet-50 classifier: shapes for any band count and task, save/load, training on real EuroSAT, mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rskeras.heads import compile_arguments
from rskeras.models import model_metadata
from rskeras.models.backbones import adapt_first_conv_kernel, save_weights
from rskeras.models.resnet import resnet50
from tests.models.helpers import dtype_policy, eurosat_batch, train_steps


@pytest.fixture(scope="module")
def rgb_model():
    """ResNet-50 at the docstring's size: 64x64x3, 10 classes."""
    keras.utils.set_random_seed(0)
    return resnet50((64, 64, 3), task="multiclass", n_outputs=10)


def test_parameter_count_matches_docstring(rgb_model):
    assert rgb_model.count_params() == 23_608_202
    assert sum(int(np.prod(w.shape)) for w in rgb_model.trainable_weights) == 23_555_082
    assert "23,608,202" in resnet50.__doc__


@pytest.mark.parametrize("bands, task, n_outputs", [(3, "multiclass", 10), (4, "regression", 2),
                                                    (10, "binary", 1), (13, "multilabel", 5)])
def test_output_shapes_for_bands_and_tasks(bands, task, n_outputs):
    model = resnet50((32, 32, bands), task=task, n_outputs=n_outputs)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, bands)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x))
    assert y.shape == (2, n_outputs) and y.dtype == np.float32
    assert model.get_layer("resnet50_conv1_conv").kernel.shape == (7, 7, bands, 64)
    if task == "multiclass":
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    elif task in ("binary", "multilabel"):
        assert ((y >= 0) & (y <= 1)).all()


def test_keras_round_trip_keeps_outputs_and_metadata(tmp_path):
    model = resnet50((32, 32, 4), task="multiclass", n_outputs=3, class_names=["water", "forest", "urban"],
                     band_names=["B2", "B3", "B4", "B8"], band_stats=([500.0] * 4, [200.0] * 4))
    x = np.random.default_rng(1).uniform(0, 3000, size=(2, 32, 32, 4)).astype("float32")
    before = keras.ops.convert_to_numpy(model(x))
    model.save(tmp_path / "resnet50.keras")
    loaded = keras.models.load_model(tmp_path / "resnet50.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), before, rtol=1e-5, atol=1e-6)
    meta = model_metadata(loaded)
    assert meta.class_names == ["water", "forest", "urban"] and meta.band_names == [["B2", "B3", "B4", "B8"]]


def test_training_steps_on_real_eurosat_lower_the_loss(eurosat_dir):
    keras.utils.set_random_seed(0)
    x, y = eurosat_batch(eurosat_dir, n=8)
    model = resnet50((64, 64, 3), n_outputs=10, band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True, **compile_arguments("multiclass"))
    losses = train_steps(model, x, y, steps=3)
    assert losses[-1] < losses[0], losses


def test_rgb_weights_saved_by_rskeras_load_into_13_bands(rgb_model, tmp_path):
    path = save_weights(rgb_model, tmp_path / "rgb.weights.h5")
    multi = resnet50((64, 64, 13), n_outputs=4, weights=path)
    np.testing.assert_allclose(multi.get_layer("resnet50_conv1_conv").kernel.numpy(),
                               adapt_first_conv_kernel(rgb_model.get_layer("resnet50_conv1_conv").kernel.numpy(), 13),
                               rtol=1e-6)
    for name in ("resnet50_conv1_bn", "resnet50_conv3_block2_2_conv", "resnet50_conv5_block3_3_bn"):
        for a, b in zip(rgb_model.get_layer(name).get_weights(), multi.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("policy, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_outputs_float32(policy, compute):
    with dtype_policy(policy):
        model = resnet50((32, 32, 4), n_outputs=5)
        y = model(np.ones((2, 32, 32, 4), "float32"))
    assert model.get_layer("resnet50_conv2_block1_2_conv").compute_dtype == compute
    assert y.dtype == "float32" and tuple(y.shape) == (2, 5)
    assert np.isfinite(keras.ops.convert_to_numpy(y)).all()
