"""The lecture's CNN classifier: depth/width options, known sizes, real-data training.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

from __future__ import annotations

import keras
import pytest

from rskeras.heads import TaskOutput, compile_arguments
from rskeras.models import cnn
from tests.models.helpers import eurosat_batch, train_steps

SMALL = dict(widths=(8, 16, 32), hidden=(32,))


def test_depth_width_and_options_shape_the_layers():
    model = cnn((32, 32, 5), n_outputs=3, widths=(4, 8), convs_per_block=2, batch_norm=False, hidden=(16, 8),
                dropout=0.0)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.name, c.filters) for c in convs] == [("block1_conv1", 4), ("block1_conv2", 4),
                                                     ("block2_conv1", 8), ("block2_conv2", 8)]
    assert not any(isinstance(layer, (keras.layers.BatchNormalization, keras.layers.Dropout)) for layer in model.layers)
    assert model.get_layer("flatten").output.shape == (None, 8 * 8 * 8)
    assert [model.get_layer(n).units for n in ("fc1", "fc2")] == [16, 8]
    assert isinstance(model.layers[-1], TaskOutput)


def test_unknown_size_is_refused():
    with pytest.raises(ValueError, match="height and width must be known"):
        cnn((None, None, 3), n_outputs=3)


def test_training_steps_on_real_eurosat_lower_the_loss(eurosat_dir):
    keras.utils.set_random_seed(0)
    x, y = eurosat_batch(eurosat_dir, n=16)
    model = cnn((64, 64, 3), n_outputs=10, band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))), **SMALL)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), **compile_arguments("multiclass"))
    losses = train_steps(model, x, y, steps=5)
    assert losses[-1] < losses[0], losses
