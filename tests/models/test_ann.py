"""The pixel-wise ANN: normalisation inside the model, what an unadapted model says, bad arguments, metadata.

Shapes per task, mixed precision, the ``.keras`` round trip and the parameter count: ``test_contract.py``.
"""

import keras
import numpy as np
import pytest

import rskeras
from rskeras.models import ann, model_metadata
from rskeras.training import compile_for_task


def test_normalisation_inside_model_takes_raw_values(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal([500.0, 3000.0], [50.0, 400.0], size=(400, 2)).astype("float32")
    y = (x[:, 1] / 400 - x[:, 0] / 50 > 60 / 8 - 10).astype("int32")
    model = ann((2,), task="multiclass", class_names=["low", "high"], training_vectors=x, band_names=["red", "nir"],
                hidden=(16,))
    assert model.get_layer("band_normalization").band_names == ["red", "nir"]
    compile_for_task(model, learning_rate=1e-2)
    keras.utils.set_random_seed(0)
    model.fit(x, y, epochs=30, verbose=0)
    accuracy = (model.predict(x, verbose=0).argmax(1) == y).mean()
    assert accuracy > 0.9
    model.save(tmp_path / "ann.keras")
    loaded = rskeras.load_model(tmp_path / "ann.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    meta = model_metadata(loaded)
    assert meta.task == "multiclass" and meta.class_names == ["low", "high"]
    assert meta.band_names == [["red", "nir"]] and meta.normalized == [True]


def test_an_int_input_shape_is_a_band_count():
    assert ann(7, task="regression").input_shape == ann((7,), task="regression").input_shape == (None, 7)


def test_unadapted_model_says_so_in_summary():
    lines = []
    ann((3,), task="regression").summary(print_fn=lambda line, **_: lines.append(line))
    assert "UNADAPTED" in "\n".join(lines)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown task 'pixels'"):
        ann((3,), task="pixels")
    with pytest.raises(ValueError, match=r"ann: training_vectors must be \(n, 3\)"):
        ann((3,), training_vectors=np.zeros((5, 4)), n_outputs=2)
    with pytest.raises(ValueError, match=r"ann: input_shape must be \(bands,\) or a band count, got \(8, 8, 3\)"):
        ann((8, 8, 3), task="regression")
    with pytest.raises(ValueError, match="training_vectors or band_stats, not both"):
        ann((2,), task="regression", training_vectors=np.ones((4, 2)), band_stats=([0, 0], [1, 1]))


def test_metadata_pairs_each_input_with_its_own_normalisation():
    from rskeras.heads import output_head
    from rskeras.layers import BandNormalization

    optical, sar = keras.Input((4,), name="optical"), keras.Input((2,), name="sar")
    # built in the opposite order of the inputs, and both unnamed: names stay unique
    n_sar = BandNormalization(band_names=["vv", "vh"])(sar)
    n_opt = BandNormalization([0.0] * 4, [1.0] * 4, band_names=["b", "g", "r", "nir"])(optical)
    x = keras.layers.Concatenate()([n_sar, n_opt])
    model = keras.Model([optical, sar], output_head(x, "regression", 1))
    meta = model_metadata(model)
    assert meta.band_names == [["b", "g", "r", "nir"], ["vv", "vh"]]
    assert meta.normalized == [True, False]
