"""GoogLeNet classifier: Table 1 sizes, the paper's auxiliary classifiers, real-data training.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rskeras.heads import compile_arguments
from rskeras.models.backbones.googlenet import INCEPTION
from rskeras.models.googlenet import AUX_LOSS_WEIGHT, googlenet
from tests.models.helpers import eurosat_batch, train_steps

# Table 1 of Szegedy et al. (2015): output size of each inception module for a 224x224 input
TABLE_1_OUTPUTS = {"3a": (28, 256), "3b": (28, 480), "4a": (14, 512), "4b": (14, 512), "4c": (14, 512),
                   "4d": (14, 528), "4e": (14, 832), "5a": (7, 832), "5b": (7, 1024)}


def test_table_1_output_sizes_at_224():
    model = googlenet((224, 224, 3), n_outputs=1000, aux_classifiers=True)
    for block, (side, depth) in TABLE_1_OUTPUTS.items():
        n1, _, n3, _, n5, pool_proj = INCEPTION[block]
        assert n1 + n3 + n5 + pool_proj == depth
        assert model.get_layer(f"googlenet_inception_{block}_concat").output.shape[1:] == (side, side, depth)
    assert model.get_layer("googlenet_conv1_relu").output.shape[1:] == (112, 112, 64)
    assert model.get_layer("googlenet_conv2_relu").output.shape[1:] == (56, 56, 192)
    # Section 5: 5x5/3 average pooling on the 14x14 maps of 4a and 4d gives 4x4x512 and 4x4x528
    assert model.get_layer("aux1_pool").output.shape[1:] == (4, 4, 512)
    assert model.get_layer("aux2_pool").output.shape[1:] == (4, 4, 528)
    assert model.get_layer("aux1_fc").units == 1024 and model.get_layer("aux1_dropout").rate == 0.7
    assert model.get_layer("head_dropout").rate == 0.4


def test_auxiliary_classifiers_add_the_documented_parameters_and_two_outputs():
    model = googlenet((64, 64, 3), n_outputs=10, aux_classifiers=True)
    assert model.count_params() == 6_423_710 and "6,423,710" in googlenet.__doc__
    outputs = model(np.zeros((2, 64, 64, 3), "float32"))
    assert [tuple(y.shape) for y in outputs] == [(2, 10)] * 3


def test_aux_classifiers_need_a_known_size():
    assert googlenet((None, None, 4), n_outputs=3).output.shape == (None, 3)
    with pytest.raises(ValueError, match="known height and width"):
        googlenet((None, None, 4), n_outputs=3, aux_classifiers=True)


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
