"""Precision: "auto" on CPU, explicit policies, loss scaling, a mixed_bfloat16 fit on CPU with float32 outputs,
and the float32 copy of a mixed-precision model (as trained runs and exports write it)."""

import os
import platform

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras.models.cnn import cnn
from rskeras.training import (
    compile_model,
    describe_machine,
    precision_scope,
    resolve_precision,
    set_precision,
    with_dtype_policy,
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


def test_describe_machine_names_the_cpu_flags_that_decide_bfloat16_speed(tmp_path):
    cores = f"{os.cpu_count()} CPU cores"
    amx = tmp_path / "amx"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_tile avx512_bf16 amx_bf16\n")
    assert describe_machine(amx) == f"{platform.machine()}, {cores}, avx512_bf16 amx_bf16 amx_tile"
    plain = tmp_path / "plain"
    plain.write_text("flags\t\t: fpu sse avx2 avx512f\n")
    assert describe_machine(plain).endswith(f"{cores}, none of avx512_bf16 avx512_fp16 amx_bf16 amx_fp16 amx_tile")
    assert describe_machine(tmp_path / "missing") == f"{platform.machine()}, {cores}"  # not Linux


def test_loss_scaling_under_mixed_float16_only():
    assert isinstance(wrap_optimizer(keras.optimizers.Adam(), "mixed_float16"), keras.optimizers.LossScaleOptimizer)
    plain = keras.optimizers.Adam()
    assert wrap_optimizer(plain, "mixed_bfloat16") is plain and wrap_optimizer(plain, "float32") is plain


def test_precision_scope_sets_the_policy_and_restores_it_after_an_error(restore_policy):
    keras.mixed_precision.set_dtype_policy("float32")
    with pytest.raises(RuntimeError, match="inside"):
        with precision_scope("mixed_bfloat16") as policy:
            assert policy == "mixed_bfloat16" == keras.mixed_precision.dtype_policy().name
            assert keras.layers.Dense(2).compute_dtype == "bfloat16"
            raise RuntimeError("inside")
    assert keras.mixed_precision.dtype_policy().name == "float32"


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


def _bf16_network(nested: bool = False):
    """A small classifier whose layers compute in bfloat16 (optionally inside a nested model)."""
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(1)
        model = cnn((16, 16, 3), n_outputs=3, widths=(4, 8), hidden=(8,), dropout=0.0,
                    band_stats=([100.0] * 3, [50.0] * 3))
        if nested:
            inputs = keras.Input((16, 16, 3), name="image")
            model = keras.Model(inputs, model(inputs), name="outer")
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    return model


@pytest.mark.parametrize("nested", [False, True])
def test_a_float32_copy_of_a_mixed_precision_model_has_its_weights_and_computes_in_float32(nested):
    from rskeras.models.metadata import all_layers, model_metadata

    model = _bf16_network(nested)
    copy = with_dtype_policy(model)
    assert {layer.dtype_policy.name for layer in all_layers(model)} == {"float32", "mixed_bfloat16"}
    assert {layer.dtype_policy.name for layer in all_layers(copy)} == {"float32"}
    for ours, theirs in zip(model.weights, copy.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert model_metadata(copy) == model_metadata(model) and copy.name == model.name
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    float32_twin = cnn((16, 16, 3), n_outputs=3, widths=(4, 8), hidden=(8,), dropout=0.0,
                       band_stats=([100.0] * 3, [50.0] * 3))
    float32_twin.set_weights(model.get_weights())
    np.testing.assert_allclose(copy.predict(x, verbose=0), float32_twin.predict(x, verbose=0), atol=1e-6)
    np.testing.assert_allclose(copy.predict(x, verbose=0), model.predict(x, verbose=0), atol=0.05)  # bf16 rounding
    assert with_dtype_policy(copy) is copy  # nothing mixed: the model itself
    with pytest.raises(ValueError):
        with_dtype_policy(model, "float99")


def test_export_writes_a_float32_copy_unless_told_otherwise(tmp_path):
    from rskeras.serving.formats import export

    model = _bf16_network()
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3)).astype("float32")
    version = export(model, tmp_path / "m")
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    outputs = {name: value.numpy() for name, value in served(tf.constant(x)).items()}
    probabilities = [value for value in outputs.values() if value.shape == (4, 3)]
    assert len(probabilities) == 1, {name: value.shape for name, value in outputs.items()}
    np.testing.assert_allclose(probabilities[0], with_dtype_policy(model).predict(x, verbose=0), atol=1e-5)


@pytest.mark.parametrize("output_precision, computes_in", [("float32", {"float32"}),
                                                           ("trained", {"float32", "mixed_bfloat16"})])
def test_a_mixed_precision_run_saves_and_exports_a_float32_model(eurosat_dir, tmp_path, output_precision,
                                                                 computes_in):
    from rskeras.models.metadata import all_layers
    from rskeras.saving import load_model
    from rskeras.training import train

    result = train({
        "data": {"root": str(eurosat_dir), "limit": 16, "validation_limit": 8, "batch_size": 8, "stats_samples": 16},
        "model": {"name": "compact_resnet", "options": {"widths": [4, 8], "blocks": [1, 1], "stem_filters": 4}},
        "task": "multiclass",
        "training": {"epochs": 1, "precision": "mixed_bfloat16", "verbose": 0},
        "output": {"run_dir": str(tmp_path / "run"), "export": str(tmp_path / "exported"), "tensorboard": False,
                   "precision": output_precision},
    })
    for path in (result.files["model"], tmp_path / "exported" / "exported.keras"):
        assert {layer.dtype_policy.name for layer in all_layers(load_model(path))} == computes_in, path
    assert result.evaluation["n"] == 8


def test_a_bad_output_precision_is_named(eurosat_dir, tmp_path):
    from rskeras.training import ConfigError, load_config

    with pytest.raises(ConfigError, match="output.precision 'half' is not one of float32, trained"):
        load_config({"data": {"root": str(eurosat_dir)}, "output": {"run_dir": str(tmp_path), "precision": "half"}})
