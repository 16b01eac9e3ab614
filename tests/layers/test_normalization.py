import keras
import numpy as np
import pytest

from rskeras.layers import BandNormalization, band_statistics


def test_statistics_ignore_nodata_and_nan():
    x = np.array([[1.0, 10.0], [3.0, np.nan], [-9999.0, 30.0]])
    stats = band_statistics(x, nodata=-9999.0)
    np.testing.assert_allclose(stats.mean, [2.0, 20.0])
    np.testing.assert_allclose(stats.std, [1.0, 10.0])
    assert stats.ranges.minimum == (1.0, 10.0) and stats.ranges.maximum == (3.0, 30.0)
    assert stats.bands == () and stats.count == (2, 2)


def test_constant_band_gets_unit_std_and_empty_band_fails():
    std = band_statistics(np.array([[5.0, 1.0], [5.0, 2.0]])).std
    assert std[0] == 1.0
    with pytest.raises(ValueError, match=r"band\(s\) \['band_2'\]"):
        band_statistics(np.array([[1.0, np.nan], [2.0, np.nan]]))


def test_normalises_raw_values_and_round_trips(tmp_path):
    x = np.random.default_rng(0).normal([100.0, 2000.0, 5.0], [10.0, 300.0, 1.0], size=(500, 3)).astype("float32")
    norm = BandNormalization.from_data(x, band_names=["red", "nir", "slope"])
    inputs = keras.Input((3,))
    model = keras.Model(inputs, norm(inputs))
    y = model.predict(x, verbose=0)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(0), 1, atol=1e-4)
    model.save(tmp_path / "n.keras")
    loaded = keras.saving.load_model(tmp_path / "n.keras")
    layer = next(layer for layer in loaded.layers if isinstance(layer, BandNormalization))
    assert layer.name.startswith("band_normalization")
    assert layer.band_names == ["red", "nir", "slope"] and layer.adapted
    np.testing.assert_allclose(loaded.predict(x, verbose=0), y, rtol=1e-6)


def test_unadapted_is_identity_and_says_so():
    norm = BandNormalization()
    assert norm.name.startswith("band_normalization_UNADAPTED_identity") and not norm.adapted
    assert BandNormalization().name != norm.name  # unique, so several fit in one model
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(np.asarray(norm(x)), x)


def test_band_count_mismatch():
    with pytest.raises(ValueError, match="input has 4 bands but the normalisation holds 3 statistics"):
        BandNormalization([0, 0, 0], [1, 1, 1])(keras.Input((4,)))


def test_output_float32_under_mixed_precision_for_large_raw_values():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        norm = BandNormalization([60000.0], [100.0])
        y = norm(np.array([[60100.0]], dtype="float32"))
        assert y.dtype == "float32" and float(y[0, 0]) == pytest.approx(1.0)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_value_ranges_travel_in_the_config_and_old_configs_load_without():
    x = np.random.default_rng(2).uniform([0.0, 1000.0], [1.0, 5000.0], size=(400, 2))
    layer = BandNormalization.from_data(x, band_names=["ndvi", "nir"])
    config = layer.get_config()
    assert set(config["value_ranges"]) == {"low", "high", "min", "max"}
    np.testing.assert_allclose(config["value_ranges"]["high"], np.percentile(x, 99.5, axis=0))
    assert BandNormalization.from_config(config).value_ranges == layer.value_ranges
    del config["value_ranges"]  # a layer saved before rskeras recorded ranges
    old = BandNormalization.from_config(config)
    assert old.value_ranges is None and old.band_names == ["ndvi", "nir"] and old.adapted
    with pytest.raises(ValueError, match="value_ranges must cover the 3 bands"):
        BandNormalization([0, 0, 0], [1, 1, 1], value_ranges=layer.value_ranges)
