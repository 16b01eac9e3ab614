"""ResNet-50 classifier: RGB weights into 13 bands, training on real EuroSAT.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

from __future__ import annotations

import keras
import numpy as np

from rskeras.heads import compile_arguments
from rskeras.models.backbones import adapt_first_conv_kernel, save_weights
from rskeras.models.resnet import resnet50
from tests.models.helpers import eurosat_batch, train_steps


def test_training_steps_on_real_eurosat_lower_the_loss(eurosat_dir):
    keras.utils.set_random_seed(0)
    x, y = eurosat_batch(eurosat_dir, n=8)
    model = resnet50((64, 64, 3), n_outputs=10, band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True, **compile_arguments("multiclass"))
    losses = train_steps(model, x, y, steps=3)
    assert losses[-1] < losses[0], losses


def test_rgb_weights_saved_by_rskeras_load_into_13_bands(tmp_path):
    keras.utils.set_random_seed(0)
    rgb = resnet50((64, 64, 3), task="multiclass", n_outputs=10)
    path = save_weights(rgb, tmp_path / "rgb.weights.h5")
    multi = resnet50((64, 64, 13), n_outputs=4, weights=path)
    assert multi.get_layer("resnet50_conv1_conv").kernel.shape == (7, 7, 13, 64)
    np.testing.assert_allclose(multi.get_layer("resnet50_conv1_conv").kernel.numpy(),
                               adapt_first_conv_kernel(rgb.get_layer("resnet50_conv1_conv").kernel.numpy(), 13),
                               rtol=1e-6)
    for name in ("resnet50_conv1_bn", "resnet50_conv3_block2_2_conv", "resnet50_conv5_block3_3_bn"):
        for a, b in zip(rgb.get_layer(name).get_weights(), multi.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
