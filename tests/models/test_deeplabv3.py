import keras
import numpy as np
import pytest

from rskeras.models import deeplabv3, model_metadata
from rskeras.models.deeplabv3 import ATROUS_RATES
from rskeras.training import compile_for_task


def test_parameter_count_in_docstring():
    model = deeplabv3((64, 64, 4), "multiclass", n_outputs=3)
    assert model.count_params() == 39_129_795
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 39_073_603
    assert "39,129,795" in deeplabv3.__doc__ and "39,073,603" in deeplabv3.__doc__
    assert model.get_layer("aspp_concat").output.shape == (None, 4, 4, 5 * 256)


@pytest.mark.parametrize("output_stride", [16, 8])
def test_aspp_rates_follow_the_output_stride(output_stride):
    model = deeplabv3((32, 32, 4), "binary", output_stride=output_stride, filters=8)
    rates = [layer.dilation_rate[0] for layer in model.layers
             if layer.name.startswith("aspp_rate") and isinstance(layer, keras.layers.Conv2D)]
    assert tuple(rates) == ATROUS_RATES[output_stride] == {16: (6, 12, 18), 8: (12, 24, 36)}[output_stride]
    assert model.get_layer("aspp_concat").output.shape[1:3] == (32 // output_stride,) * 2
    with pytest.raises(ValueError, match="output_stride must be one of"):
        deeplabv3((32, 32, 4), "binary", output_stride=32)


@pytest.mark.parametrize("bands,task,n_outputs", [(3, "regression", 1), (4, "binary", 1),
                                                  (10, "multiclass", 5), (13, "multilabel", 3)])
def test_output_shapes_per_band_count_and_task(bands, task, n_outputs):
    model = deeplabv3((32, 32, bands), task, n_outputs=n_outputs, filters=8)
    y = keras.ops.convert_to_numpy(model(np.random.default_rng(0).random((2, 32, 32, bands), dtype="float32")))
    assert y.shape == (2, 32, 32, n_outputs) and y.dtype == "float32"
    assert model.input.name == "image" and model.layers[-1].name == "output"
    if task == "multiclass":
        np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_sizes_not_divisible_by_the_stride_and_other_backbones():
    model = deeplabv3((36, 44, 4), "binary", backbone="vgg16", filters=8)
    assert tuple(model(np.zeros((1, 36, 44, 4), "float32")).shape) == (1, 36, 44, 1)
    model = deeplabv3((32, 32, 4), "multiclass", n_outputs=2, backbone="googlenet", output_stride=8, filters=8)
    assert tuple(model(np.zeros((1, 32, 32, 4), "float32")).shape) == (1, 32, 32, 2)


def test_segmentation_on_real_chips_learns_and_round_trips(land_cover, tmp_path):
    chips, classes = land_cover
    keras.utils.set_random_seed(0)
    model = deeplabv3((32, 32, 10), "multiclass", class_names=["low", "medium", "high"], filters=32,
                      band_stats=(chips.mean(axis=(0, 1, 2)), chips.std(axis=(0, 1, 2))))
    compile_for_task(model, learning_rate=3e-4, run_eagerly=True)  # four eager steps beat tracing ResNet-50
    history = model.fit(chips[:4], classes[:4], batch_size=4, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0]

    model.save(tmp_path / "deeplabv3.keras")
    loaded = keras.saving.load_model(tmp_path / "deeplabv3.keras")
    expected = keras.ops.convert_to_numpy(model(chips[:2]))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(chips[:2])), expected, rtol=1e-4, atol=1e-5)
    assert model_metadata(loaded).class_names == ["low", "medium", "high"]


def test_mixed_precision_outputs_float32(mixed_policy):
    model = deeplabv3((32, 32, 4), "multiclass", n_outputs=3, filters=8)
    assert model.get_layer("aspp_projection_conv").compute_dtype == mixed_policy.split("_")[1]
    y = keras.ops.convert_to_numpy(model(np.random.default_rng(0).random((2, 32, 32, 4), dtype="float32")))
    assert y.dtype == "float32" and np.isfinite(y).all()
