import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras import activations

Z = np.array([-2.0, -0.5, -0.25, 0.0, 0.25, 0.5, 2.0], dtype="float32")

EXPECTED = {
    "unit_step": [0, 0, 0, 0.5, 1, 1, 1],
    "sign": [-1, -1, -1, 0, 1, 1, 1],
    "linear": Z,
    "piecewise_linear": [0, 0, 0.25, 0.5, 0.75, 1, 1],
    "logistic": 1 / (1 + np.exp(-Z)),
    "tanh": np.tanh(Z),
    "relu": np.maximum(Z, 0),
    "softplus": np.log1p(np.exp(Z)),
}


def test_table_is_complete():
    assert list(activations.ACTIVATIONS) == list(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_values(name):
    np.testing.assert_allclose(np.asarray(activations.get(name)(tf.constant(Z))), EXPECTED[name], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["unit_step", "sign"])
def test_step_and_sign_have_zero_gradient(name):
    z = tf.Variable(Z)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(activations.get(name)(z))
    grad = tape.gradient(y, z)
    assert grad is None or not np.any(np.asarray(grad))
    assert name in activations.ZERO_GRADIENT


def test_piecewise_linear_gradient():
    z = tf.Variable([-2.0, -0.75, -0.25, 0.0, 0.25, 0.75, 2.0])  # away from the kinks at +-1/2
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(activations.piecewise_linear(z))
    np.testing.assert_array_equal(np.asarray(tape.gradient(y, z)), [0, 0, 1, 1, 1, 0, 0])


@pytest.mark.parametrize("name", ["unit_step", "sign", "piecewise_linear", "logistic"])
def test_usable_by_name_and_survive_save(name, tmp_path):
    inputs = keras.Input((7,))
    outputs = keras.layers.Dense(7, activation=name, kernel_initializer="identity", bias_initializer="zeros")(inputs)
    model = keras.Model(inputs, outputs)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(Z[None], verbose=0)[0], EXPECTED[name], rtol=1e-6, atol=1e-6)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown activation 'heaviside'.*unit_step"):
        activations.get("heaviside")
