"""Hostile cases for the input contract: wrong units, a band missing, bands reordered under the same names, a model
without ranges, through predict_raster (and ``rskeras predict``), predict_ee_export and the serving client.

Inputs are the real HLS chip (10 bands, reflectance x 10,000) and copies written from it; every case checks that
the inputs keep their checksums and that no temporary or partial file remains.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rskeras import load_model, predict_raster
from rskeras.cli import main
from rskeras.data import BandError
from rskeras.layers import InputRangeWarning
from rskeras.models import ann
from rskeras.serving import Client, export_saved_model
from tests.hostile.conftest import checksums, leftovers, run_cli
from tests.serving.fake_tf_serving import FakeTFServing
from tests.test_input_contract import HLS, pixel_vectors, range_warnings, strip_ranges, write_copy

BANDS = ["blue", "green", "red", "nir"]
REORDERED = ["nir", "red", "green", "blue"]


@pytest.fixture(scope="module")
def inputs(hls_path, tmp_path_factory) -> dict[str, Path]:
    """A 4-band ANN on the chip's raw values (and the same without ranges), the chip described, in reflectance,
    without nir, and with its bands stored in reverse order under their own names."""
    folder = tmp_path_factory.mktemp("contract")
    model = ann((4,), task="multiclass", class_names=["a", "b", "c"], band_names=BANDS, hidden=(8,),
                training_vectors=pixel_vectors(hls_path)[:, 1:5])
    model.save(folder / "model.keras")
    return {
        "model": folder / "model.keras",
        "old_model": strip_ranges(folder / "model.keras", folder / "old_model.keras"),
        "described": write_copy(hls_path, folder / "described.tif", descriptions=HLS),
        "reflectance": write_copy(hls_path, folder / "reflectance.tif", 1e-4, descriptions=HLS),
        "no_nir": write_copy(hls_path, folder / "no_nir.tif", bands=[1, 2, 3, 4, 6], descriptions=HLS[:4] + ["swir1"]),
        "reversed": write_copy(hls_path, folder / "reversed.tif", bands=list(range(10, 0, -1)), descriptions=HLS[::-1]),
    }


@pytest.fixture(autouse=True)
def nothing_left_behind(inputs, tmp_path):
    folder = inputs["model"].parent
    before = checksums(folder)
    yield
    assert checksums(folder) == before, "an input was modified"
    assert leftovers(folder) == [] and leftovers(tmp_path) == [], leftovers(folder) + leftovers(tmp_path)


def predicted(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return ds.read()


# ----- wrong units -----------------------------------------------------------------------------------------------


def test_reflectance_into_a_model_on_scaled_values_is_a_note_naming_band_and_file(inputs, tmp_path):
    """As a user types it, in a fresh process: the map is written, and stderr says which bands look wrong."""
    result = run_cli("predict", inputs["model"], inputs["reflectance"], tmp_path / "lc.tif", "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    note = next(line for line in result.stderr.splitlines() if "far outside" in line)
    assert note.startswith(f"rskeras predict: note: {inputs['reflectance']}: values far outside")
    for band in BANDS:
        assert f"{band}: scene median" in note
    assert "InputRangeWarning" in note and (tmp_path / "lc.tif").exists()


def test_a_deliberate_case_is_silenced_by_its_warning_class(inputs, tmp_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=InputRangeWarning)
        predict_raster(inputs["model"], inputs["reflectance"], tmp_path / "lc.tif", progress=False)
    assert range_warnings(caught) == [] and (tmp_path / "lc.tif").exists()


# ----- a band missing ---------------------------------------------------------------------------------------------


def test_raster_without_a_band_is_refused_naming_both_lists(inputs, tmp_path, capsys):
    assert main(["predict", str(inputs["model"]), str(inputs["no_nir"]), str(tmp_path / "lc.tif")]) == 2
    err = capsys.readouterr().err
    assert "trained on bands blue, green, red, nir" in err and "5=swir1" in err and "no nir" in err
    assert not list(tmp_path.iterdir())


# ----- bands reordered under the same names -----------------------------------------------------------------------


def test_raster_bands_in_another_order_are_read_by_name(inputs, tmp_path):
    predict_raster(inputs["model"], inputs["described"], tmp_path / "in_order.tif", probabilities=True,
                   progress=False)
    result = predict_raster(inputs["model"], inputs["reversed"], tmp_path / "reversed.tif", probabilities=True,
                            progress=False)
    assert result.bands == [BANDS]
    np.testing.assert_array_equal(predicted(tmp_path / "reversed_probabilities.tif"),
                                  predicted(tmp_path / "in_order_probabilities.tif"))


def test_earth_engine_bands_in_another_order_are_refused(inputs, hls_path, tmp_path):
    from rskeras.data import geotiff_to_ee_patches
    from rskeras.layers import band_statistics
    from rskeras.models import unet
    from rskeras.workflows import predict_ee_export

    with rasterio.open(hls_path) as ds:
        stats = band_statistics(np.moveaxis(ds.read([2, 3, 4, 5]), 0, -1), band_names=BANDS)
    unet((None, None, 4), task="binary", depth=1, filters=2, band_names=BANDS, band_stats=stats).save(
        tmp_path / "unet.keras")
    geotiff_to_ee_patches(inputs["described"], tmp_path / "export", 64, max_nodata_fraction=1.0)
    with pytest.raises(BandError, match="bands fed are nir, red, green, blue \\(the same bands in another order\\)"):
        predict_ee_export(tmp_path / "unet.keras", str(tmp_path / "export" / "patches-*.tfrecord.gz"),
                          tmp_path / "p.tfrecord", REORDERED)
    assert not list(tmp_path.glob("p.*")) and not list(tmp_path.glob("p-*"))


@pytest.fixture(scope="module")
def client(inputs, tmp_path_factory):
    """A client of the exported model, with the contract read from the export's rskeras.json."""
    version = export_saved_model(load_model(inputs["model"]), tmp_path_factory.mktemp("served") / "contract")
    with FakeTFServing({"contract": version.parent}) as server:
        yield Client(server.url, "contract", contract=version), server, version


def test_client_refuses_a_missing_band_and_another_order(client, hls_path):
    client, server, _ = client
    pixels = pixel_vectors(hls_path)[:10, 1:5]
    sent = len(server.requests)
    with pytest.raises(BandError, match="bands fed are blue, green, red, swir1 \\(no nir\\)"):
        client.predict(inputs=pixels, band_names=["blue", "green", "red", "swir1"])
    with pytest.raises(BandError, match="on bands blue, green, red, nir, .*\\(the same bands in another order\\)"):
        client.predict(inputs=pixels[:, ::-1], band_names=REORDERED)
    assert len(server.requests) == sent
    assert client.predict(inputs=pixels, band_names=BANDS)["classes"].shape == (10,)


# ----- a model without ranges -------------------------------------------------------------------------------------


def test_model_saved_without_ranges_predicts_wrong_units_without_a_word(inputs, tmp_path, capsys):
    assert main(["predict", str(inputs["old_model"]), str(inputs["reflectance"]), str(tmp_path / "lc.tif"),
                 "--no-progress"]) == 0
    assert "far outside" not in capsys.readouterr().err and (tmp_path / "lc.tif").exists()


def test_client_of_an_export_without_a_contract_says_so(client, tmp_path):
    _, _, version = client
    old = Path(shutil.copytree(version, tmp_path / "1"))
    metadata_file = old / "assets.extra" / "rskeras.json"
    metadata = json.loads(metadata_file.read_text())
    del metadata["input_contract"]
    metadata_file.write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=f"{metadata_file} holds no input contract"):
        Client("http://localhost:8501", "contract", contract=old)
    with pytest.raises(FileNotFoundError, match="no export metadata"):
        Client("http://localhost:8501", "contract", contract=tmp_path / "missing")
