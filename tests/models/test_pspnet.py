import keras
import numpy as np
import pytest

from rskeras.models import model_metadata, pspnet
from rskeras.models.pspnet import AdaptiveAveragePooling2D, adaptive_pooling_matrix
from rskeras.training import compile_for_task


def test_parameter_count_in_docstring():
    model = pspnet((64, 64, 4), "multiclass", n_outputs=3)
    assert model.count_params() == 46_671_299
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 46_613_059
    assert "46,671,299" in pspnet.__doc__ and "46,613,059" in pspnet.__doc__
    assert model.get_layer("ppm_concat").output.shape == (None, 8, 8, 2048 + 4 * 512)


def test_adaptive_pooling_windows_match_numpy():
    x = np.random.default_rng(0).random((2, 8, 7, 3), dtype="float32")
    y = keras.ops.convert_to_numpy(AdaptiveAveragePooling2D((3, 2))(x))
    assert y.shape == (2, 3, 2, 3)
    rows, cols = [(0, 3), (2, 6), (5, 8)], [(0, 4), (3, 7)]  # floor(i*n/b) .. ceil((i+1)*n/b)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            np.testing.assert_allclose(y[:, i, j], x[:, r0:r1, c0:c1].mean(axis=(1, 2)), rtol=1e-6)
    np.testing.assert_allclose(adaptive_pooling_matrix(4, 2), [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    assert adaptive_pooling_matrix(2, 6).sum(axis=1).tolist() == [1.0] * 6  # more bins than cells


@pytest.mark.parametrize("bands,task,n_outputs", [(3, "regression", 1), (4, "binary", 1),
                                                  (10, "multiclass", 5), (13, "multilabel", 3)])
def test_output_shapes_per_band_count_and_task(bands, task, n_outputs):
    model = pspnet((32, 32, bands), task, n_outputs=n_outputs, head_filters=16, pyramid_filters=8)
    y = keras.ops.convert_to_numpy(model(np.random.default_rng(0).random((2, 32, 32, bands), dtype="float32")))
    assert y.shape == (2, 32, 32, n_outputs) and y.dtype == "float32"
    assert model.input.name == "image" and model.layers[-1].name == "output"
    assert model.get_layer("ppm_concat").output.shape[1:3] == (4, 4)  # output stride 8
    if task == "multiclass":
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_sizes_not_divisible_by_the_stride_and_other_backbones():
    model = pspnet((36, 44, 4), "binary", backbone="vgg16", output_stride=16, head_filters=8)
    assert tuple(model(np.zeros((1, 36, 44, 4), "float32")).shape) == (1, 36, 44, 1)
    model = pspnet((32, 32, 4), "multiclass", n_outputs=2, backbone="googlenet", head_filters=8, bins=(1, 2, 4))
    assert tuple(model(np.zeros((1, 32, 32, 4), "float32")).shape) == (1, 32, 32, 2)
    with pytest.raises(ValueError, match="fixed input height and width"):
        pspnet((None, None, 4), "binary")


def test_segmentation_on_real_chips_learns_and_round_trips(land_cover, tmp_path):
    chips, classes = land_cover
    keras.utils.set_random_seed(0)
    model = pspnet((32, 32, 10), "multiclass", class_names=["low", "medium", "high"], head_filters=32,
                   pyramid_filters=32, band_stats=(chips.mean(axis=(0, 1, 2)), chips.std(axis=(0, 1, 2))))
    compile_for_task(model, learning_rate=3e-4, run_eagerly=True)  # four eager steps beat tracing ResNet-50
    history = model.fit(chips[:4], classes[:4], batch_size=4, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0]

    model.save(tmp_path / "pspnet.keras")
    loaded = keras.saving.load_model(tmp_path / "pspnet.keras")
    expected = keras.ops.convert_to_numpy(model(chips[:2]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(chips[:2])), expected, rtol=1e-4, atol=1e-5)
    assert model_metadata(loaded).class_names == ["low", "medium", "high"]


def test_mixed_precision_outputs_float32(mixed_policy):
    model = pspnet((32, 32, 4), "multiclass", n_outputs=3, head_filters=16, pyramid_filters=8)
    assert model.get_layer("ppm_pool6").compute_dtype == mixed_policy.split("_")[1]
    y = keras.ops.convert_to_numpy(model(np.random.default_rng(0).random((2, 32, 32, 4), dtype="float32")))
    assert y.dtype == "float32" and np.isfinite(y).all()
