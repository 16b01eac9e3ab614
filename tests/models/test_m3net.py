"""M3Net: its inputs and outputs, shape errors, uncertainty-weighted training on real chips, metadata.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

import keras
import numpy as np
import pytest

import rskeras
from rskeras.models import UncertaintyWeightedModel, m3net, model_metadata
from rskeras.models.m3net import INPUTS, OUTPUTS
from tests.models.helpers import hls_chips

MULTISPECTRAL = [1, 2, 3, 4]  # HLS blue, green, red, nir: ZY-3's multi-spectral bands
# Pseudo multi-view: three panchromatic-like band means stand in for the nadir, forward and backward views.
VIEWS = {"nadir": [1, 2, 3], "forward": [2, 3, 4], "backward": [3, 4, 5]}


def shapes(size: int, bands: int = 4, views: int = 3) -> dict:
    return {"multispectral": (size, size, bands), "multiview": (size, size, views)}


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


def test_inputs_and_outputs():
    model = m3net(shapes(32, bands=10), depth=2, filters=4)
    assert [t.name for t in model.inputs] == list(INPUTS) == ["multispectral", "multiview"]
    assert sorted(model.output) == sorted(OUTPUTS)
    assert {name: tuple(t.shape) for name, t in model.output.items()} == dict.fromkeys(OUTPUTS, (None, 32, 32, 1))
    paper = m3net(shapes(32), depth=2, filters=4, task="multiclass", class_names=["background", "building"])
    assert paper.output["building"].shape == (None, 32, 32, 2)  # the paper's two softmax channels
    assert paper.get_layer("fusion_logits").input.shape[-1] == 4  # both heights and both building channels


def test_shape_errors():
    with pytest.raises(ValueError, match="same height and width"):
        m3net({"multispectral": (32, 32, 4), "multiview": (64, 64, 3)})
    with pytest.raises(ValueError, match="multiples of 16"):
        m3net(shapes(40))
    with pytest.raises(ValueError, match="input_shape must be a dict with the keys multispectral, multiview"):
        m3net((32, 32, 4))
    with pytest.raises(ValueError, match="task sets the building output, one of binary, multiclass"):
        m3net(shapes(32), task="regression")
    with pytest.raises(ValueError, match="lacks output"):
        UncertaintyWeightedModel(m3net(shapes(32), depth=1, filters=2), height_outputs=("dsm",))


def _network(x, **kwargs):
    stats = {key: (v.mean(axis=(0, 1, 2)), v.std(axis=(0, 1, 2))) for key, v in x.items()}
    names = {"multispectral": ["blue", "green", "red", "nir"], "multiview": list(VIEWS)}
    return m3net(shapes(32), depth=2, filters=8, band_stats=stats, band_names=names, **kwargs)


def test_uncertainty_weighted_training_on_real_chips(data, tmp_path):
    x, height = data
    keras.utils.set_random_seed(0)
    network = _network(x)
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
    loaded = rskeras.load_model(tmp_path / "trainer.keras")
    assert isinstance(loaded, UncertaintyWeightedModel)
    np.testing.assert_allclose(loaded.log_variances.numpy(), model.log_variances.numpy())
    reloaded = loaded(x)
    for name in OUTPUTS:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded[name]), predicted[name], rtol=1e-5, atol=1e-4)
    meta = model_metadata(network)
    assert meta.band_names == [["blue", "green", "red", "nir"], list(VIEWS)] and meta.normalized == [True, True]


def test_the_papers_softmax_building_output_is_trained_with_categorical_cross_entropy(data):
    x, height = data
    model = UncertaintyWeightedModel(_network(x, task="multiclass", class_names=["background", "building"]))
    model.compile(optimizer="adam", loss="mse", metrics=["mae"], run_eagerly=True)  # loss and metrics: built in
    outputs = {name: keras.ops.convert_to_numpy(t) for name, t in model(x).items()}
    heights = sum(np.mean((outputs[name] - height) ** 2) for name in model.height_outputs)  # log-variances 0
    building = (height[..., 0] > 0).astype(int)
    cce = -np.mean(np.log(np.take_along_axis(outputs["building"], building[..., None], axis=-1)))
    assert float(model.compute_loss(y=height, y_pred=outputs)) == pytest.approx(heights + cce, rel=1e-5)
    logs = model.train_on_batch(x, height, return_dict=True)
    assert "building_cce" in logs and np.isfinite(logs["loss"])


def test_mixed_precision_outputs_float32_and_trains(mixed_policy, data):
    x, height = data
    network = m3net(shapes(32), depth=2, filters=4)
    assert network.get_layer("fusion_logits").compute_dtype == mixed_policy.split("_")[1]
    for name, tensor in network(x).items():
        assert tensor.dtype == "float32" and np.isfinite(keras.ops.convert_to_numpy(tensor)).all(), name
    model = UncertaintyWeightedModel(network)
    model.compile(optimizer="adam", run_eagerly=True)  # one eager step: no graph tracing
    loss = model.train_on_batch(x, height)[0]
    assert np.isfinite(loss)


def test_metadata_lists_every_output_task():
    meta = model_metadata(m3net(shapes(32), filters=4, depth=2))
    assert meta.outputs == {"building": "binary", "height": "regression",
                            "height_multispectral": "regression", "height_multiview": "regression"}
    assert len(meta.input_shapes) == 2
