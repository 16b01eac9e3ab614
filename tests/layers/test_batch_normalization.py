"""FusedBatchNormalization: Keras' BatchNormalization computed by TensorFlow's fused kernel, same results."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras.layers import FusedBatchNormalization
from rskeras.models import compact_resnet


@pytest.fixture
def policy(request):
    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy(before)


def _pair(shape, momentum=0.9, **kwargs):
    """A Keras and a fused layer built for ``shape`` with the same random weights."""
    rng = np.random.default_rng(1)
    keras_bn = keras.layers.BatchNormalization(momentum=momentum, **kwargs)
    fused = FusedBatchNormalization(momentum=momentum, **kwargs)
    keras_bn.build(shape)
    fused.build(shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in keras_bn.weights]
    weights[-1] = np.abs(weights[-1]) + 0.1  # moving variance
    keras_bn.set_weights(weights)
    fused.set_weights(weights)
    return keras_bn, fused


def _outputs_and_gradients(layer, x, training):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=training)
        weights = np.random.default_rng(2).normal(size=y.shape).astype("float32")  # a gradient that is not 0
        loss = tf.reduce_sum(tf.cast(y, "float32") * weights)
    return y, tape.gradient(loss, [x, *layer.trainable_weights])


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"], indirect=True)
@pytest.mark.parametrize("shape", [(4, 5, 6, 3), (2, 1, 1, 7)])  # the second: N = 2 pixels per channel
@pytest.mark.parametrize("training", [True, False])
def test_outputs_gradients_and_moving_statistics_equal_keras(policy, shape, training):
    x = tf.constant(np.random.default_rng(0).normal(2, 3, shape).astype("float32"))
    keras_bn, fused = _pair(shape)
    expected, expected_grads = _outputs_and_gradients(keras_bn, x, training)
    got, grads = _outputs_and_gradients(fused, x, training)
    tol = {"float32": 1e-5, "mixed_float16": 2e-3, "mixed_bfloat16": 2e-2}[policy]
    assert got.dtype == expected.dtype == {"float32": tf.float32, "mixed_float16": tf.float16,
                                           "mixed_bfloat16": tf.bfloat16}[policy]
    np.testing.assert_allclose(np.float32(got), np.float32(expected), rtol=tol, atol=tol)
    for g, e in zip(grads, expected_grads):  # N = 2 cancels: 1e-3 of the largest gradient in float32
        np.testing.assert_allclose(np.float32(g), np.float32(e), rtol=tol, atol=max(tol, 1e-3) * np.abs(e).max())
    for w, e in zip(fused.get_weights(), keras_bn.get_weights()):  # biased batch variance in the moving one
        np.testing.assert_allclose(w, e, rtol=1e-5, atol=1e-6)


def test_a_frozen_layer_normalises_with_its_moving_statistics():
    x = tf.constant(np.random.default_rng(0).normal(2, 3, (4, 5, 6, 3)).astype("float32"))
    keras_bn, fused = _pair(x.shape)
    keras_bn.trainable = fused.trainable = False
    np.testing.assert_allclose(fused(x, training=True), keras_bn(x, training=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(fused.get_weights()[2], keras_bn.get_weights()[2])


@pytest.mark.parametrize("kwargs, shape", [
    ({}, (8, 3)),                      # 2-D: Keras' code
    ({"axis": 1}, (2, 3, 4, 5)),       # channels first
    ({"epsilon": 1e-6}, (2, 3, 4, 5)),  # below the fused kernel's smallest epsilon
    ({"center": False, "scale": False}, (2, 3, 4, 5)),  # fused, with unit scale and zero offset
])
def test_other_layouts_and_settings_give_keras_results(kwargs, shape):
    x = tf.constant(np.random.default_rng(0).normal(size=shape).astype("float32"))
    keras_bn, fused = _pair(shape, **kwargs)
    for training in (True, False):
        np.testing.assert_allclose(fused(x, training=training), keras_bn(x, training=training), rtol=1e-5,
                                   atol=1e-5)


def _op_types(model, shape, training):
    step = tf.function(lambda x: model(x, training=training))
    return {op.type for op in step.get_concrete_function(tf.TensorSpec(shape)).graph.get_operations()}


def test_the_compact_resnet_uses_the_fused_kernel_in_training_and_inference():
    model = compact_resnet((32, 32, 3), n_outputs=4)
    assert {type(layer) for layer in model.layers if "_bn" in layer.name} == {FusedBatchNormalization}
    for training in (True, False):
        assert "FusedBatchNormV3" in _op_types(model, (2, 32, 32, 3), training)


def test_keras_round_trip_keeps_the_class_and_outputs(tmp_path):
    model = compact_resnet((32, 32, 3), n_outputs=4)
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, np.array([0, 1, 2]), epochs=1, verbose=0)  # moving statistics away from their start
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("stem_bn"), FusedBatchNormalization)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
