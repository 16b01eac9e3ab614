import keras
import numpy as np
import pytest

from rskeras.models import model_metadata
from rskeras.models.ann import ann
from rskeras.training import compile_for_task


def test_parameter_count_in_docstring():
    model = ann(10, "multiclass", n_outputs=4)
    assert model.count_params() == 5124
    assert "5,124" in ann.__doc__


@pytest.mark.parametrize("task,n,shape", [("regression", 1, (4, 1)), ("binary", 1, (4, 1)),
                                         ("multiclass", 5, (4, 5)), ("multilabel", 3, (4, 3))])
def test_shapes_per_task(task, n, shape):
    model = ann(6, task, n_outputs=n, hidden=(8,), batch_norm=True, dropout=0.2)
    y = model(np.random.rand(4, 6).astype("float32"))
    assert tuple(y.shape) == shape and y.dtype == "float32"


def test_normalisation_inside_model_takes_raw_values(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal([500.0, 3000.0], [50.0, 400.0], size=(400, 2)).astype("float32")
    y = (x[:, 1] / 400 - x[:, 0] / 50 > 60 / 8 - 10).astype("int32")
    model = ann(2, "multiclass", class_names=["low", "high"], training_vectors=x, band_names=["red", "nir"], hidden=(16,))
    assert model.get_layer("band_normalization").band_names == ["red", "nir"]
    compile_for_task(model, learning_rate=1e-2)
    keras.utils.set_random_seed(0)
    model.fit(x, y, epochs=30, verbose=0)
    accuracy = (model.predict(x, verbose=0).argmax(1) == y).mean()
    assert accuracy > 0.9
    model.save(tmp_path / "ann.keras")
    loaded = keras.saving.load_model(tmp_path / "ann.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    meta = model_metadata(loaded)
    assert meta.task == "multiclass" and meta.class_names == ["low", "high"]
    assert meta.band_names == [["red", "nir"]] and meta.normalized == [True]


def test_unadapted_model_says_so_in_summary():
    lines = []
    ann(3, "regression").summary(print_fn=lambda line, **_: lines.append(line))
    assert "UNADAPTED" in "\n".join(lines)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown task 'pixels'"):
        ann(3, "pixels")
    with pytest.raises(ValueError, match=r"training_vectors must be \(n, 3\)"):
        ann(3, training_vectors=np.zeros((5, 4)), n_outputs=2)


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
