"""GoogLeNet classifier: Table 1 sizes, auxiliary classifiers, shapes, save/load, real-data training, mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rskeras.heads import compile_arguments
from rskeras.models.backbones.googlenet import INCEPTION
from rskeras.models.googlenet import AUX_LOSS_WEIGHT, googlenet
from tests.models.helpers import dtype_policy, eurosat_batch, train_steps

# Table 1 of Szegedy et al. (2015): output size of each inception module for a 224x224 input
TABLE_1_OUTPUTS = {"3a": (28, 256), "3b": (28, 480), "4a": (14, 512), "4b": (14, 512), "4c": (14, 512),
                   "4d": (14, 528), "4e": (14, 832), "5a": (7, 832), "5b": (7, 1024)}


@pytest.fixture(scope="module")
def model_224():
    return googlenet((224, 224, 3), n_outputs=1000, aux_classifiers=True)


def test_table_1_output_sizes_at_224(model_224):
    for block, (side, depth) in TABLE_1_OUTPUTS.items():
        n1, _, n3, _, n5, pool_proj = INCEPTION[block]
        assert n1 + n3 + n5 + pool_proj == depth
        assert model_224.get_layer(f"googlenet_inception_{block}_concat").output.shape[1:] == (side, side, depth)
    assert model_224.get_layer("googlenet_conv1_relu").output.shape[1:] == (112, 112, 64)
    assert model_224.get_layer("googlenet_conv2_relu").output.shape[1:] == (56, 56, 192)
    # Section 5: 5x5/3 average pooling on the 14x14 maps of 4a and 4d gives 4x4x512 and 4x4x528
    assert model_224.get_layer("aux1_pool").output.shape[1:] == (4, 4, 512)
    assert model_224.get_layer("aux2_pool").output.shape[1:] == (4, 4, 528)
    assert model_224.get_layer("aux1_fc").units == 1024 and model_224.get_layer("aux1_dropout").rate == 0.7
    assert model_224.get_layer("head_dropout").rate == 0.4


def test_parameter_count_matches_docstring():
    model = googlenet((64, 64, 3), n_outputs=10)
    assert model.count_params() == 6_005_642
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 5_991_082
    assert googlenet((64, 64, 3), n_outputs=10, aux_classifiers=True).count_params() == 6_423_710
    assert "6,005,642" in googlenet.__doc__ and "6,423,710" in googlenet.__doc__


@pytest.mark.parametrize("bands, task, n_outputs", [(3, "multiclass", 10), (4, "regression", 2),
                                                    (10, "binary", 1), (13, "multilabel", 5)])
def test_output_shapes_for_bands_and_tasks(bands, task, n_outputs):
    model = googlenet((32, 32, bands), task=task, n_outputs=n_outputs, aux_classifiers=True)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, bands)).astype("float32")
    outputs = [keras.ops.convert_to_numpy(y) for y in model(x)]
    assert len(outputs) == 3
    for y in outputs:
        assert y.shape == (2, n_outputs) and y.dtype == np.float32
    assert model.get_layer("googlenet_conv1_conv").kernel.shape == (7, 7, bands, 64)


def test_aux_classifiers_need_a_known_size():
    assert googlenet((None, None, 4), n_outputs=3).output.shape == (None, 3)
    with pytest.raises(ValueError, match="known height and width"):
        googlenet((None, None, 4), n_outputs=3, aux_classifiers=True)


def test_keras_round_trip_keeps_outputs(tmp_path):
    model = googlenet((32, 32, 4), n_outputs=3, aux_classifiers=True, band_stats=([0.1] * 4, [0.05] * 4))
    x = np.random.default_rng(1).uniform(0, 0.3, size=(2, 32, 32, 4)).astype("float32")
    before = [keras.ops.convert_to_numpy(y) for y in model(x)]
    model.save(tmp_path / "googlenet.keras")
    loaded = keras.models.load_model(tmp_path / "googlenet.keras")
    for a, b in zip(before, loaded(x)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(b), a, rtol=1e-5, atol=1e-6)


def test_training_with_aux_classifiers_on_real_eurosat_lowers_the_loss(eurosat_dir):
    keras.utils.set_random_seed(0)
    x, y = eurosat_batch(eurosat_dir, n=8)
    model = googlenet((64, 64, 3), n_outputs=10, aux_classifiers=True,
                      band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))))
    args = compile_arguments("multiclass")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=[args["loss"]] * 3,
                  loss_weights=[1.0, AUX_LOSS_WEIGHT, AUX_LOSS_WEIGHT], run_eagerly=True)
    losses = train_steps(model, x, (y, y, y), steps=3)
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("policy, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_outputs_float32(policy, compute):
    with dtype_policy(policy):
        model = googlenet((32, 32, 4), n_outputs=5, aux_classifiers=True)
        outputs = model(np.ones((2, 32, 32, 4), "float32"))
    assert model.get_layer("googlenet_inception_4a_3x3_conv").compute_dtype == compute
    for y in outputs:
        assert y.dtype == "float32" and np.isfinite(keras.ops.convert_to_numpy(y)).all()
