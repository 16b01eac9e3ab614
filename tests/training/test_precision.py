"""Precision: "auto" on CPU, explicit policies, loss scaling, a mixed_bfloat16 fit on CPU with float32 outputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras.models.cnn import cnn
from rskeras.training import (
    compile_model,
    resolve_precision,
    set_precision,
    wrap_optimizer,
)


@pytest.fixture
def restore_policy():
    previous = keras.mixed_precision.dtype_policy()
    yield
    keras.mixed_precision.set_dtype_policy(previous)


def test_auto_is_float32_on_cpu_and_explicit_values_pass_through():
    assert not tf.config.list_physical_devices("GPU")
    assert resolve_precision("auto") == "float32"
    for name in ("float32", "mixed_float16", "mixed_bfloat16"):
        assert resolve_precision(name) == name
    with pytest.raises(ValueError, match="unknown precision 'fp16'; choose one of auto, float32, mixed_float16"):
        resolve_precision("fp16")


def test_loss_scaling_under_mixed_float16_only():
    assert isinstance(wrap_optimizer(keras.optimizers.Adam(), "mixed_float16"), keras.optimizers.LossScaleOptimizer)
    plain = keras.optimizers.Adam()
    assert wrap_optimizer(plain, "mixed_bfloat16") is plain and wrap_optimizer(plain, "float32") is plain


def test_mixed_bfloat16_fit_on_cpu(restore_policy):
    policy = set_precision("mixed_bfloat16")
    assert policy == "mixed_bfloat16"
    keras.utils.set_random_seed(0)
    model = cnn((16, 16, 3), n_outputs=3, widths=(4, 8), hidden=(8,), dropout=0.0,
                band_stats=([100.0] * 3, [50.0] * 3))
    keras.mixed_precision.set_dtype_policy("float32")
    assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert model.get_layer("block1_conv1").kernel.dtype == "float32"
    compile_model(model, "multiclass", keras.optimizers.Adam(1e-3), label_smoothing=0.1, policy=policy)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (12, 16, 16, 3)).astype("float32")
    y = keras.ops.one_hot(rng.integers(0, 3, 12), 3)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0]) and model.optimizer.iterations.numpy() == 3
    out = model(x[:2])
    assert out.dtype == "float32" and np.allclose(keras.ops.sum(out, axis=-1), 1.0, atol=1e-3)
    loss = model.compute_loss(x=x[:2], y=y[:2], y_pred=out)
    assert loss.dtype == "float32"
