"""PSPNet: the pyramid's shape, adaptive pooling (PyTorch's windows, traced), old files, backbones, real chips.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import rskeras
from rskeras.models import model_metadata, pspnet
from rskeras.models.pspnet import AdaptiveAveragePooling2D
from rskeras.training import compile_for_task

OLD_POOLING_FILE = Path(__file__).parent / "data" / "pspnet_pooling_before_keras_layer.keras"


def windows_mean(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """PyTorch's ``AdaptiveAvgPool2d``: bin ``i`` averages cells ``floor(i*n/b)`` up to ``ceil((i+1)*n/b)``."""
    def bounds(n, b):
        return [((i * n) // b, -((-(i + 1) * n) // b)) for i in range(b)]

    return np.stack([np.stack([x[:, r0:r1, c0:c1].mean(axis=(1, 2)) for c0, c1 in bounds(x.shape[2], cols)], 1)
                     for r0, r1 in bounds(x.shape[1], rows)], 1)


def test_pyramid_of_the_paper_at_output_stride_8():
    model = pspnet((64, 64, 4), task="multiclass", n_outputs=3)
    assert model.get_layer("ppm_concat").output.shape == (None, 8, 8, 2048 + 4 * 512)
    assert isinstance(model.get_layer("ppm_pool6"), AdaptiveAveragePooling2D)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 46_613_059
    assert "46,613,059" in pspnet.__doc__


@pytest.mark.parametrize("height, width, rows, cols", [(8, 7, 3, 2), (4, 4, 6, 6), (5, 13, 3, 6), (8, 8, 1, 1)])
def test_adaptive_pooling_has_pytorch_windows_eager_and_traced(height, width, rows, cols):
    x = np.random.default_rng(height * width).random((2, height, width, 3), dtype="float32")
    layer = AdaptiveAveragePooling2D((rows, cols))
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, height, width, 3), tf.float32)])
    for y in (layer(x), traced(x)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(y), windows_mean(x, rows, cols), rtol=1e-6, atol=1e-7)


def test_keras_own_adaptive_pooling_still_fails_to_trace():
    """Why PSPNet keeps its own layer (see pspnet_layers): when this fails, Keras' layer traces and can replace it."""
    layer = keras.layers.AdaptiveAveragePooling2D(1)
    traced = tf.function(layer, input_signature=[tf.TensorSpec((None, 4, 4, 3), tf.float32)])
    with pytest.raises(ValueError, match="Negative dimension size"):
        traced(np.zeros((1, 4, 4, 3), "float32"))


def test_pspnet_traces_for_prediction():
    """The PSPNet of notebook 05 (32x32 tiles: a 4x4 feature map) in a tf.function, as predict_raster calls it."""
    model = pspnet((32, 32, 3), task="multiclass", n_outputs=3, head_filters=8, pyramid_filters=8)
    traced = tf.function(lambda x: model(x, training=False),
                         input_signature=[tf.TensorSpec((None, 32, 32, 3), tf.float32)])
    x = np.random.default_rng(0).random((2, 32, 32, 3), dtype="float32")
    np.testing.assert_allclose(traced(x).numpy(), keras.ops.convert_to_numpy(model(x, training=False)), atol=1e-5)


def test_files_saved_with_the_rskeras_pooling_layer_still_load():
    """A model saved by rskeras 0.1 (``rskeras>AdaptiveAveragePooling2D`` with ``bins``)."""
    model = rskeras.load_model(OLD_POOLING_FILE)
    assert all(isinstance(layer, AdaptiveAveragePooling2D) for layer in model.layers[1:])
    x = np.random.default_rng(0).random((2, 8, 7, 3), dtype="float32")
    for (rows, cols), y in zip([(1, 1), (3, 2), (6, 6)], model(x)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(y), windows_mean(x, rows, cols), rtol=1e-6, atol=1e-7)


def test_sizes_not_divisible_by_the_stride_and_other_backbones():
    model = pspnet((36, 44, 4), task="binary", backbone="vgg16", output_stride=16, head_filters=8)
    assert tuple(model(np.zeros((1, 36, 44, 4), "float32")).shape) == (1, 36, 44, 1)
    model = pspnet((32, 32, 4), task="multiclass", n_outputs=2, backbone="googlenet", head_filters=8, bins=(1, 2, 4))
    assert tuple(model(np.zeros((1, 32, 32, 4), "float32")).shape) == (1, 32, 32, 2)
    assert model.get_layer("ppm_concat").output.shape[1:3] == (4, 4)  # output stride 8
    with pytest.raises(ValueError, match="fixed input height and width"):
        pspnet((None, None, 4), task="binary")


def test_segmentation_on_real_chips_learns(land_cover):
    chips, classes = land_cover
    keras.utils.set_random_seed(0)
    model = pspnet((32, 32, 10), task="multiclass", class_names=["low", "medium", "high"], head_filters=32,
                   pyramid_filters=32, band_stats=(chips.mean(axis=(0, 1, 2)), chips.std(axis=(0, 1, 2))))
    compile_for_task(model, learning_rate=3e-4, run_eagerly=True)  # four eager steps beat tracing ResNet-50
    history = model.fit(chips[:4], classes[:4], batch_size=4, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0]
    assert model_metadata(model).class_names == ["low", "medium", "high"]
