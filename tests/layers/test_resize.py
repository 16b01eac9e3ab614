import keras
import numpy as np

from rskeras.layers import BilinearUpsampling2D


def test_matches_keras_bilinear_upsampling_and_round_trips(tmp_path):
    x = np.random.default_rng(0).random((2, 5, 7, 3), dtype=np.float32)
    expected = keras.layers.UpSampling2D(3, interpolation="bilinear")(x).numpy()
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, BilinearUpsampling2D(3)(inputs))
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-6)
    model.save(tmp_path / "up.keras")
    np.testing.assert_allclose(keras.saving.load_model(tmp_path / "up.keras")(x).numpy(), expected, atol=1e-6)
