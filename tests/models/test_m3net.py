import keras
import numpy as np
import pytest

from rskeras.models import UncertaintyWeightedModel, m3net, model_metadata
from rskeras.models.m3net import OUTPUTS
from tests.models.helpers import hls_chips

MULTISPECTRAL = [1, 2, 3, 4]  # HLS blue, green, red, nir: ZY-3's multi-spectral bands
# Pseudo multi-view: three panchromatic-like band means stand in for the nadir, forward and backward views.
VIEWS = {"nadir": [1, 2, 3], "forward": [2, 3, 4], "backward": [3, 4, 5]}


@pytest.fixture(scope="module")
def data(hls_path):
    """Real HLS chips as M3Net inputs, with a height-like PROXY target (no building heights exist for this scene).

    The proxy "height" is 30 m where NDVI <= 0.2, 0 m where NDVI >= 0.35 and linear in between:
    sparsely vegetated pixels stand in for buildings. It only exercises the training machinery.
    """
    chips = hls_chips(hls_path, size=32, count=8)
    multispectral = chips[..., MULTISPECTRAL]
    multiview = np.stack([chips[..., bands].mean(axis=-1) for bands in VIEWS.values()], axis=-1)
    red, nir = chips[..., 3], chips[..., 4]
    ndvi = (nir - red) / np.maximum(nir + red, 1.0)
    height = (30.0 * np.clip((0.35 - ndvi) / 0.15, 0.0, 1.0))[..., None].astype("float32")
    assert 0.1 < (height > 0).mean() < 0.9
    return {"multispectral": multispectral, "multiview": multiview}, height


def test_parameter_count_in_docstring():
    model = m3net((64, 64, 4), (64, 64, 3))
    assert model.count_params() == 4_781_719
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 4_777_751
    assert "4,781,719" in m3net.__doc__ and "4,777,751" in m3net.__doc__


@pytest.mark.parametrize("bands", [3, 4, 10, 13])
def test_inputs_outputs_and_shapes(bands):
    model = m3net((32, 32, bands), (32, 32, 3), depth=2, filters=4)
    assert [t.name for t in model.inputs] == ["multispectral", "multiview"]
    rng = np.random.default_rng(0)
    y = model({"multispectral": rng.random((2, 32, 32, bands), dtype="float32"),
               "multiview": rng.random((2, 32, 32, 3), dtype="float32")})
    assert sorted(y) == sorted(OUTPUTS)
    for name, tensor in y.items():
        assert tuple(tensor.shape) == (2, 32, 32, 1) and tensor.dtype == "float32", name
    building = keras.ops.convert_to_numpy(y["building"])
    assert building.min() >= 0.0 and building.max() <= 1.0


def test_shape_errors():
    with pytest.raises(ValueError, match="same height and width"):
        m3net((32, 32, 4), (64, 64, 3))
    with pytest.raises(ValueError, match="multiples of 16"):
        m3net((40, 40, 4), (40, 40, 3))
    with pytest.raises(ValueError, match="lacks output"):
        UncertaintyWeightedModel(m3net((32, 32, 4), (32, 32, 3), depth=1, filters=2), height_outputs=("dsm",))


def test_uncertainty_weighted_training_on_real_chips(data, tmp_path):
    x, height = data
    stats = {key: (v.mean(axis=(0, 1, 2)), v.std(axis=(0, 1, 2))) for key, v in x.items()}
    keras.utils.set_random_seed(0)
    network = m3net((32, 32, 4), (32, 32, 3), depth=2, filters=8,
                    multispectral_stats=stats["multispectral"], multispectral_band_names=["blue", "green", "red", "nir"],
                    multiview_stats=stats["multiview"], multiview_band_names=list(VIEWS))
    model = UncertaintyWeightedModel(network)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    before = model.log_variances.numpy().copy()
    history = model.fit(x, height, batch_size=4, epochs=6, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]
    assert history["height_mse"][-1] < history["height_mse"][0]
    assert set(history) == {"loss", "height_mse", "height_multiview_mse", "height_multispectral_mse", "building_bce"}
    after = model.log_variances.numpy()
    assert np.all(np.abs(after - before) > 1e-3), after

    # a dict target with the building mask the height target implies gives the same loss
    outputs = model(x)
    mask = (height > 0).astype("float32")
    from_height = float(model.compute_loss(y=height, y_pred=outputs))
    from_dict = float(model.compute_loss(y={"height": height, "building": mask}, y_pred=outputs))
    assert from_dict == pytest.approx(from_height, rel=1e-6)
    assert float(model.compute_loss(y={"height": height, "building": 1 - mask}, y_pred=outputs)) > from_height

    predicted = {name: keras.ops.convert_to_numpy(t) for name, t in outputs.items()}
    model.save(tmp_path / "trainer.keras")
    loaded = keras.saving.load_model(tmp_path / "trainer.keras")
    assert isinstance(loaded, UncertaintyWeightedModel)
    np.testing.assert_allclose(loaded.log_variances.numpy(), model.log_variances.numpy())
    reloaded = loaded(x)
    for name in OUTPUTS:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded[name]), predicted[name], rtol=1e-5, atol=1e-4)

    network.save(tmp_path / "m3net.keras")
    alone = keras.saving.load_model(tmp_path / "m3net.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(alone(x)["height"]), predicted["height"], rtol=1e-5, atol=1e-4)
    meta = model_metadata(alone)
    assert meta.band_names == [["blue", "green", "red", "nir"], list(VIEWS)] and meta.normalized == [True, True]


def test_mixed_precision_outputs_float32_and_trains(mixed_policy, data):
    x, height = data
    network = m3net((32, 32, 4), (32, 32, 3), depth=2, filters=4)
    assert network.get_layer("fusion_logits").compute_dtype == mixed_policy.split("_")[1]
    for name, tensor in network(x).items():
        assert tensor.dtype == "float32" and np.isfinite(keras.ops.convert_to_numpy(tensor)).all(), name
    model = UncertaintyWeightedModel(network)
    model.compile(optimizer="adam", run_eagerly=True)  # one eager step: no graph tracing
    loss = model.train_on_batch(x, height)[0]
    assert np.isfinite(loss)


def test_metadata_lists_every_output_task():
    from rskeras.models import m3net, model_metadata

    meta = model_metadata(m3net((32, 32, 4), (32, 32, 3), filters=4, depth=2))
    assert meta.outputs == {"building": "binary", "height": "regression",
                            "height_multispectral": "regression", "height_multiview": "regression"}
    assert len(meta.input_shapes) == 2
