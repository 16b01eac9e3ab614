"""DeepLabV3: ASPP rates per output stride, backbones, segmentation on real chips.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

import keras
import numpy as np
import pytest

from rskeras.models import deeplabv3, model_metadata
from rskeras.models.deeplabv3 import ATROUS_RATES
from rskeras.training import compile_for_task


def test_aspp_of_the_paper_at_output_stride_16():
    model = deeplabv3((64, 64, 4), task="multiclass", n_outputs=3)
    assert model.get_layer("aspp_concat").output.shape == (None, 4, 4, 5 * 256)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 39_073_603
    assert "39,073,603" in deeplabv3.__doc__


@pytest.mark.parametrize("output_stride", [16, 8])
def test_aspp_rates_follow_the_output_stride(output_stride):
    model = deeplabv3((32, 32, 4), task="binary", output_stride=output_stride, aspp_filters=8)
    rates = [layer.dilation_rate[0] for layer in model.layers
             if layer.name.startswith("aspp_rate") and isinstance(layer, keras.layers.Conv2D)]
    assert tuple(rates) == ATROUS_RATES[output_stride] == {16: (6, 12, 18), 8: (12, 24, 36)}[output_stride]
    assert model.get_layer("aspp_concat").output.shape[1:3] == (32 // output_stride,) * 2
    with pytest.raises(ValueError, match="output_stride must be one of"):
        deeplabv3((32, 32, 4), task="binary", output_stride=32)


def test_sizes_not_divisible_by_the_stride_and_other_backbones():
    model = deeplabv3((36, 44, 4), task="binary", backbone="vgg16", aspp_filters=8)
    assert tuple(model(np.zeros((1, 36, 44, 4), "float32")).shape) == (1, 36, 44, 1)
    model = deeplabv3((32, 32, 4), task="multiclass", n_outputs=2, backbone="googlenet", output_stride=8,
                      aspp_filters=8)
    assert tuple(model(np.zeros((1, 32, 32, 4), "float32")).shape) == (1, 32, 32, 2)


def test_segmentation_on_real_chips_learns(land_cover):
    chips, classes = land_cover
    keras.utils.set_random_seed(0)
    model = deeplabv3((32, 32, 10), task="multiclass", class_names=["low", "medium", "high"], aspp_filters=32,
                      band_stats=(chips.mean(axis=(0, 1, 2)), chips.std(axis=(0, 1, 2))))
    compile_for_task(model, learning_rate=3e-4, run_eagerly=True)  # four eager steps beat tracing ResNet-50
    history = model.fit(chips[:4], classes[:4], batch_size=4, epochs=4, verbose=0).history["loss"]
    assert history[-1] < history[0]
    assert model_metadata(model).class_names == ["low", "medium", "high"]
