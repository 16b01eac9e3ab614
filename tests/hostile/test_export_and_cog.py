"""Hostile users of ``rskeras export`` and of ``rskeras predict --cog / --uncertainty``.

A format that cannot hold the model, an ONNX file fed a raster with other bands, uncertainty asked of a model
without dropout, COG outputs with a wrong name or over the input, and a COG conversion interrupted half-way.
Each case checks the one-line error (exit 2, no traceback) naming what is at fault, that the inputs are
unchanged and that nothing partial or temporary is left. Mistakes refused before any work run
``rskeras.cli.main`` in this process; the ONNX prediction runs in a fresh process, as a user would.
"""

from __future__ import annotations

import keras
import pytest
import rasterio

import rskeras
from rskeras.models import unet
from tests.serving.unconvertible import unconvertible_model

from .conftest import assert_cli_error, leftovers, run_cli

pytest.importorskip("onnxruntime", reason="the export extra (onnxruntime) is not installed")

BANDS = ["blue", "green", "red", "nir"]
CLASSES = ["water", "forest", "urban"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``unet``: a small U-Net on four HLS bands (no dropout) as .keras and .onnx; ``svd``: a model with a layer no
    export format holds (:mod:`tests.serving.unconvertible`)."""
    folder = tmp_path_factory.mktemp("models")
    keras.utils.set_random_seed(0)
    net = unet((None, None, 4), task="multiclass", class_names=CLASSES, band_names=BANDS, depth=2, filters=4,
               band_stats=([600.0, 1000.0, 1200.0, 2600.0], [230.0, 330.0, 440.0, 420.0]))
    net.save(folder / "unet.keras")
    rskeras.export(net, folder / "unet.onnx", format="onnx")
    unconvertible_model().save(folder / "svd.keras")
    return {"unet": folder / "unet.keras", "onnx": folder / "unet.onnx", "svd": folder / "svd.keras"}


@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("litert", ".tflite")])
def test_a_format_that_cannot_hold_the_model_names_the_layer(fmt, suffix, models, tmp_path, unchanged, cli):
    with unchanged(models["svd"]):
        result = cli("export", models["svd"], tmp_path / f"svd{suffix}", "--format", fmt)
    assert_cli_error(result, f"format '{fmt}' cannot hold model", "layer 'singular_values' (SingularValues)",
                     "nothing was written")
    assert list(tmp_path.iterdir()) == []


def test_export_to_a_name_of_another_format(models, tmp_path, cli):
    result = cli("export", models["unet"], tmp_path / "unet.onnx", "--format", "litert")
    assert_cli_error(result, "unet.onnx must end in .tflite")
    assert list(tmp_path.iterdir()) == []


def test_onnx_fed_a_raster_with_other_bands_names_both(models, landsat_path, tmp_path, unchanged):
    """A fresh process, as a user mapping with the ONNX file: the file, its bands and the raster's are named."""
    with unchanged(landsat_path, models["onnx"]):
        result = run_cli("predict", models["onnx"], landsat_path, tmp_path / "map.tif", "--no-progress")
    assert_cli_error(result, "unet.onnx", "landsat7_rgb_byte.tif", "has 3 band(s)", "the model takes 4",
                     "blue, green, red, nir")
    assert list(tmp_path.iterdir()) == []


def test_onnx_fed_a_described_raster_without_its_bands(models, hls_path, tmp_path, cli):
    """A raster whose bands are described by other names: the file, its bands and the raster's bands named."""
    described = tmp_path / "s2_names.tif"
    with rasterio.open(hls_path) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(described, "w", **profile) as dst:
        dst.write(data)
        for band in range(1, 11):
            dst.set_band_description(band, f"B{band:02d}")
    result = cli("predict", models["onnx"], described, tmp_path / "map.tif", "--no-progress")
    assert_cli_error(result, "unet.onnx", "trained on bands blue, green, red, nir", "s2_names.tif has bands",
                     "B01", "no blue, green, red, nir")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s2_names.tif"]


def test_uncertainty_of_a_model_without_dropout(models, hls_path, tmp_path, unchanged, cli):
    with unchanged(hls_path, models["unet"]):
        result = cli("predict", models["unet"], hls_path, tmp_path / "map.tif", "--sensor", "hls_l30",
                          "--uncertainty", "mc_dropout", "--no-progress")
    assert_cli_error(result, "--uncertainty mc_dropout needs Dropout layers", "has none", "--uncertainty tta")
    assert list(tmp_path.iterdir()) == []


def test_cog_with_a_wrong_suffix(models, hls_path, tmp_path, cli):
    result = cli("predict", models["unet"], hls_path, tmp_path / "map.png", "--sensor", "hls_l30", "--cog",
                      "--no-progress")
    assert_cli_error(result, "map.png must end in .tif or .tiff")
    assert list(tmp_path.iterdir()) == []


def test_cog_over_the_input(models, hls_path, tmp_path, unchanged, cli):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(hls_path.read_bytes())
    with unchanged(scene):
        result = cli("predict", models["unet"], scene, scene, "--sensor", "hls_l30", "--cog",
                          "--uncertainty", "tta", "--no-progress")
    assert_cli_error(result, "is also an input")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, OSError])
def test_an_interrupted_cog_conversion_leaves_nothing(interruption, models, hls_path, tmp_path, monkeypatch):
    """GDAL's COG driver stops half-way (Ctrl-C, a full disk): no output, no temporary, the old map kept."""
    import rasterio.shutil

    real_copy = rasterio.shutil.copy
    old_map = tmp_path / "map.tif"
    old_map.write_bytes(b"the map of the last run")

    def half_copy(src, dst, **options):
        real_copy(src, dst, **options)  # the COG is on disk under its temporary name...
        raise interruption("stopped during the COG conversion")  # ...when the run stops

    monkeypatch.setattr(rasterio.shutil, "copy", half_copy)
    with pytest.raises(interruption, match="stopped during the COG conversion"):
        rskeras.predict_raster(models["unet"], hls_path, old_map, sensor="hls_l30", cog=True, probabilities=True,
                               uncertainty="tta", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"] and leftovers(tmp_path) == []
    assert old_map.read_bytes() == b"the map of the last run"


def test_cog_cli_writes_all_three_outputs(models, hls_path, tmp_path, cli):
    """The same command without mistakes: map, probabilities and uncertainty, each a valid COG."""
    result = cli("predict", models["unet"], hls_path, tmp_path / "map.tif", "--sensor", "hls_l30", "--cog",
                      "--probabilities", "--uncertainty", "tta", "--tile-size", "64", "--no-progress")
    assert result.returncode == 0, result.stderr
    names = ["map.tif", "map_probabilities.tif", "map_uncertainty.tif"]
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    assert all(rskeras.inference.validate_cog(tmp_path / name) == [] for name in names)
    with rasterio.open(tmp_path / "map_uncertainty.tif") as ds:
        assert ds.tags()["UNCERTAINTY_UNITS"] == "nats"
