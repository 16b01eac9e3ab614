"""The backbone registry: feature taps at strides 2..32, dilation, band adaptation and weight files."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from rskeras.models.backbones import (
    BACKBONES,
    PretrainedWeightsError,
    adapt_first_conv_kernel,
    build_backbone,
    build_backbone_layers,
    get_backbone_spec,
    keras_cache_path,
    load_weights,
    save_weights,
)
from rskeras.models.cnn import cnn


def test_registry_holds_the_three_backbones_and_names_the_known_ones():
    assert {"resnet50", "googlenet", "vgg16"} <= set(BACKBONES)
    with pytest.raises(ValueError, match="'resnet50'"):
        get_backbone_spec("resnet18")


@pytest.mark.parametrize("output_stride", [32, 16, 8])
@pytest.mark.parametrize("name", ["resnet50", "googlenet", "vgg16"])
def test_taps_at_strides_2_to_32(name, output_stride):
    spec = get_backbone_spec(name)
    inputs = keras.Input((64, 64, 3))
    features = build_backbone(name, inputs, output_stride=output_stride)
    model = keras.Model(inputs, features)
    assert sorted(features) == [2, 4, 8, 16, 32]
    for stride, tensor in features.items():
        side = 64 // min(stride, output_stride)
        assert tuple(tensor.shape[1:]) == (side, side, spec.channels[stride]), stride
        assert model.get_layer(spec.taps[stride]).output is tensor
    assert all(layer.name.startswith(spec.prefix) for layer in model.layers[1:])


def test_backbones_live_side_by_side_in_one_model():
    inputs = keras.Input((32, 32, 5))
    a = build_backbone("googlenet", inputs)
    b = build_backbone("vgg16", inputs, output_stride=16)
    merged = keras.layers.Concatenate()([a[32], keras.layers.MaxPooling2D(2)(b[32])])
    model = keras.Model(inputs, merged)
    assert model.output.shape[1:] == (1, 1, 1024 + 512)


def test_unknown_output_stride_is_refused():
    with pytest.raises(ValueError, match="output_stride must be one of"):
        build_backbone("vgg16", keras.Input((32, 32, 3)), output_stride=4)


@pytest.mark.parametrize("n_bands", [1, 2, 3, 4, 10, 13])
def test_adapt_first_conv_kernel(n_bands):
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(7, 7, 3, 8)).astype("float32")
    adapted = adapt_first_conv_kernel(kernel, n_bands)
    assert adapted.shape == (7, 7, n_bands, 8) and adapted.dtype == np.float32
    mean = kernel.mean(axis=2)
    if n_bands >= 3:
        np.testing.assert_allclose(adapted[:, :, :3], kernel * 3 / n_bands, rtol=1e-6)
        for band in range(3, n_bands):
            np.testing.assert_allclose(adapted[:, :, band], mean * 3 / n_bands, rtol=1e-5, atol=1e-7)
    else:
        for band in range(n_bands):
            np.testing.assert_allclose(adapted[:, :, band], mean * 3 / n_bands, rtol=1e-5, atol=1e-7)
    # an image whose bands are all equal gives the same response as before
    np.testing.assert_allclose(adapted.sum(axis=2), kernel.sum(axis=2), rtol=1e-5, atol=1e-5)


def _weights_by_name(layers) -> dict[str, list[np.ndarray]]:
    return {layer.name: layer.get_weights() for layer in layers if layer.weights}


@pytest.fixture(scope="module")
def rgb_backbone_file(tmp_path_factory):
    """``file(name)``: a 3-band backbone with non-default weights, saved by rskeras (built once per name)."""
    saved = {}

    def file(name: str):
        if name not in saved:
            output = build_backbone_layers(name, keras.Input((32, 32, 3)))
            rng = np.random.default_rng(1)
            for layer in output.layers:
                layer.set_weights([rng.normal(size=w.shape).astype("float32") ** 2 + 0.1 for w in layer.get_weights()])
            path = save_weights(output.layers, tmp_path_factory.mktemp(name) / f"{name}_rgb.weights.h5")
            saved[name] = path, _weights_by_name(output.layers)
        return saved[name]

    return file


@pytest.mark.parametrize("name, n_bands", [("googlenet", 4), ("googlenet", 10), ("googlenet", 13),
                                           ("vgg16", 4), ("vgg16", 10), ("vgg16", 13), ("resnet50", 13)])
def test_rgb_weights_load_into_n_bands(rgb_backbone_file, name, n_bands):
    path, rgb = rgb_backbone_file(name)
    spec = get_backbone_spec(name)
    output = build_backbone_layers(name, keras.Input((32, 32, n_bands)), weights=path)
    loaded = _weights_by_name(output.layers)
    assert loaded.keys() == rgb.keys()
    for layer_name, values in loaded.items():
        expected = rgb[layer_name]
        if layer_name == spec.first_conv:
            expected = [adapt_first_conv_kernel(expected[0], n_bands), *expected[1:]]
            assert values[0].shape[2] == n_bands
        for value, want in zip(values, expected):
            np.testing.assert_allclose(value, want, rtol=1e-6, err_msg=layer_name)


def test_keras_native_weights_file_loads_into_more_bands(tmp_path):
    small = dict(n_outputs=10, widths=(4, 8), hidden=(8,))
    rgb = cnn((16, 16, 3), **small)
    rng = np.random.default_rng(2)
    rgb.set_weights([rng.normal(size=w.shape).astype("float32") for w in rgb.get_weights()])
    rgb.save_weights(tmp_path / "rgb.weights.h5")
    multi = cnn((16, 16, 10), **small)
    loaded = load_weights(multi, tmp_path / "rgb.weights.h5")
    assert "block1_conv1" in loaded and "output_logits" in loaded
    np.testing.assert_allclose(multi.get_layer("block1_conv1").kernel.numpy(),
                               adapt_first_conv_kernel(rgb.get_layer("block1_conv1").kernel.numpy(), 10), rtol=1e-6)
    for layer in rgb.layers[3:]:
        for a, b in zip(layer.get_weights(), multi.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_mismatch_past_the_first_convolution_is_an_error(tmp_path):
    path = save_weights(cnn((16, 16, 3), n_outputs=10, widths=(4, 8), hidden=(8,)), tmp_path / "a.weights.h5")
    with pytest.raises(ValueError, match="fc1"):
        load_weights(cnn((16, 16, 3), n_outputs=10, widths=(4, 8), hidden=(16,)), path)
    with pytest.raises(ValueError, match="not in"):
        load_weights(cnn((16, 16, 3), n_outputs=10, widths=(4, 8, 8), hidden=(8,)), path)


def test_imagenet_weights_follow_keras_applications_layout(tmp_path, monkeypatch):
    """A file in keras.applications' layout (its layer names) gives the same features as keras.applications."""
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = save_weights(reference, tmp_path / get_backbone_spec("vgg16").imagenet.filename)
    monkeypatch.setattr(keras.utils, "get_file", lambda *args, **kwargs: str(path))
    inputs = keras.Input((32, 32, 3))
    ours = keras.Model(inputs, build_backbone("vgg16", inputs, weights="imagenet")[32])
    x = np.random.default_rng(3).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-4, atol=1e-4)


def test_resnet50_matches_keras_applications(tmp_path, monkeypatch):
    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = save_weights(reference, tmp_path / "resnet50_notop.h5")
    monkeypatch.setattr(keras.utils, "get_file", lambda *args, **kwargs: str(path))
    inputs = keras.Input((32, 32, 3))
    ours = keras.Model(inputs, build_backbone("resnet50", inputs, weights="imagenet")[32])
    x = np.random.default_rng(4).normal(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours(x), reference(x), rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet50", "vgg16"])
def test_imagenet_offline_error_says_what_to_download_and_where(name, tmp_path, monkeypatch):
    def offline(fname, origin, **kwargs):
        raise Exception(f"URL fetch failure on {origin}: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    spec = get_backbone_spec(name)
    with pytest.raises(PretrainedWeightsError) as info:
        build_backbone(name, keras.Input((32, 32, 3)), weights="imagenet")
    message = str(info.value)
    assert spec.imagenet.origin in message
    assert str(tmp_path / "keras_home" / "models" / spec.imagenet.filename) in message
    assert keras_cache_path(spec.imagenet.filename) == tmp_path / "keras_home" / "models" / spec.imagenet.filename
    assert "weights='/path/to/" in message


def test_googlenet_has_no_imagenet_weights():
    with pytest.raises(ValueError, match="no ImageNet weights for backbone 'googlenet'"):
        build_backbone("googlenet", keras.Input((32, 32, 3)), weights="imagenet")


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.weights.h5"):
        build_backbone("vgg16", keras.Input((32, 32, 3)), weights=tmp_path / "nothere.weights.h5")
