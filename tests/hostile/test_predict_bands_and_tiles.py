"""Hostile users of ``rskeras predict``: wrong bands and sensors, odd tile sizes, too little memory, odd paths.

Real data: the 10-band HLS chip (no band descriptions) with a pixel model trained on HLS L30 band names, and the
Landsat RGB scene with a U-Net of depth 2 (tiles must be multiples of 4). Every case checks the exit and the text,
that the inputs are unchanged and that nothing temporary is left behind. Runs that predict go through a fresh
process (:func:`run_cli`); mistakes refused before any work run ``rskeras.cli.main`` in this process, which takes
the same path to the same one-line error in a fraction of the time.
"""

from __future__ import annotations

import resource
import shutil

import keras
import numpy as np
import pytest
import rasterio

from rskeras.inference import predict_raster
from rskeras.models import ann, unet

from .conftest import CliResult, assert_cli_error, leftovers, run_cli

HLS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
LANDSAT_STATS = ([90.0, 80.0, 70.0], [40.0, 35.0, 30.0])


@pytest.fixture(scope="module")
def models(hls_path, tmp_path_factory):
    """``pixel``: an ANN on the ten HLS L30 bands (by name); ``unet``: a depth-2 U-Net on Landsat RGB."""
    folder = tmp_path_factory.mktemp("models")
    with rasterio.open(hls_path) as ds:
        vectors = ds.read().reshape(10, -1).T[::50]
    keras.utils.set_random_seed(0)
    pixel = ann(10, task="multiclass", n_outputs=3, hidden=(8,), training_vectors=vectors, band_names=HLS,
                class_names=["water", "crops", "forest"])
    pixel.save(folder / "pixel.keras")
    net = unet((None, None, 3), task="multiclass", class_names=["a", "b", "c"], depth=2, filters=4,
               band_stats=LANDSAT_STATS)
    net.save(folder / "unet.keras")
    return {"pixel": folder / "pixel.keras", "unet": folder / "unet.keras"}


@pytest.fixture(scope="module")
def default_unet_run(models, landsat_path, tmp_path_factory):
    """The U-Net's probabilities with the default tiles (256 px, overlap 64), for comparison."""
    dst = tmp_path_factory.mktemp("default") / "default.tif"
    result = predict_raster(models["unet"], landsat_path, dst, probabilities=True, progress=False)
    assert (result.tile_size, result.overlap) == (256, 64)
    with rasterio.open(result.probabilities) as ds:
        return ds.read()


def test_a_band_name_the_sensor_lacks_names_the_sensors_and_the_models_bands(models, hls_path, tmp_path,
                                                                             unchanged, cli):
    with unchanged(hls_path, models["pixel"]):
        result = cli("predict", models["pixel"], hls_path, tmp_path / "out.tif", "--sensor", "hls_l30",
                          "--bands", *HLS[:9], "ndvi", "--no-progress")
    assert_cli_error(result, "no band 'ndvi'", "bands: coastal, blue", "trained on bands coastal, blue")
    assert list(tmp_path.iterdir()) == []


def test_described_raster_without_the_models_bands_lists_both(models, hls_path, tmp_path, unchanged, cli):
    described = tmp_path / "hls_product_ids.tif"
    with rasterio.open(hls_path) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(described, "w", **profile) as out:
        out.write(data)
        out.descriptions = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B09", "B10", "B11")
    with unchanged(described, models["pixel"]):
        result = cli("predict", models["pixel"], described, tmp_path / "out.tif", "--no-progress")
    assert_cli_error(result, "the model was trained on bands coastal, blue, green", "hls_product_ids.tif has bands "
                     "1=B01, 2=B02", "10=B11", "no coastal, blue")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hls_product_ids.tif"]


def test_a_sensor_with_another_band_count_is_refused(models, hls_path, tmp_path, unchanged, cli):
    with unchanged(hls_path, models["pixel"]):
        result = cli("predict", models["pixel"], hls_path, tmp_path / "out.tif", "--sensor",
                          "sentinel1_grd", "--no-progress")
    assert_cli_error(result, "has 10 bands but sensor 'sentinel1_grd' has 2 (VV, VH)")
    assert list(tmp_path.iterdir()) == []


def test_band_names_on_a_raster_without_descriptions_need_a_sensor(models, hls_path, tmp_path, unchanged,
                                                                   cli):
    with unchanged(hls_path, models["pixel"]):
        result = cli("predict", models["pixel"], hls_path, tmp_path / "out.tif", "--bands", "nir", "red",
                          "--no-progress")
    assert_cli_error(result, "has no band 'nir'", "1=band_1", "10=band_10", "sensor")
    assert list(tmp_path.iterdir()) == []
    # the same model with --sensor reads its ten bands by name, and says which
    result = cli("predict", models["pixel"], hls_path, tmp_path / "out.tif", "--sensor", "hls_l30",
                      "--no-progress")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"pixel model on bands {', '.join(HLS)}" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"] and leftovers(tmp_path) == []


def predict_unet(models, landsat_path, unchanged, dst, *options) -> tuple[CliResult, np.ndarray, np.ndarray]:
    """``rskeras predict`` of the U-Net on the Landsat scene in a fresh process: the result, classes, probabilities."""
    with unchanged(landsat_path, models["unet"]):
        result = run_cli("predict", models["unet"], landsat_path, dst, *options, "--probabilities", "--no-progress")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    with rasterio.open(dst) as ds, rasterio.open(dst.with_name(f"{dst.stem}_probabilities.tif")) as probs:
        return result, ds.read(1), probs.read()


def test_tile_size_30_on_a_depth_2_unet_is_rounded_up_to_32(models, landsat_path, default_unet_run, tmp_path,
                                                           unchanged):
    result, classes, small = predict_unet(models, landsat_path, unchanged, tmp_path / "small.tif", "--tile-size", "30")
    assert "note: tile_size 30 is not a multiple of 4" in result.stderr and "rounded up to 32" in result.stderr
    assert "receptive field (47 px)" in result.stderr and "tiles of 32 px overlapping by 8" in result.stdout
    valid = classes != 255
    difference = np.abs(small - default_unet_run)[:, valid]
    # 32 px tiles blend over 8 px while the U-Net sees +-23 px: close to whole-image prediction, not equal
    # (measured: max 0.050, 99th percentile 0.007, mean 0.0007 in probability)
    assert difference.max() < 0.06 and np.percentile(difference, 99) < 0.01 and difference.mean() < 1e-3
    top2 = np.sort(default_unet_run, axis=0)[-2:]
    clear = valid & (top2[1] - top2[0] > 2 * difference.max())
    np.testing.assert_array_equal(classes[clear], default_unet_run.argmax(0)[clear])
    assert leftovers(tmp_path) == []


def test_tile_size_100000_becomes_one_tile_covering_the_scene(models, landsat_path, default_unet_run, tmp_path,
                                                              unchanged):
    peak_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child so far
    result, _, one = predict_unet(models, landsat_path, unchanged, tmp_path / "one.tif", "--tile-size", "100000")
    assert "tile_size 100000 is larger than the 791 x 718 scene: one tile of 792 px covers it" in result.stderr
    assert "tiles of 792 px overlapping by 0" in result.stdout
    # no 74.5 GiB allocation: the prediction's process stayed under 3 GiB (or under an earlier child's peak)
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss <= max(peak_before, 3 * 2**20)
    assert np.abs(one - default_unet_run).max() < 0.01
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.tif", "one_probabilities.tif"]


def test_tiles_and_batches_too_large_for_memory_are_refused_before_any_work(models, landsat_path, tmp_path,
                                                                            unchanged, cli):
    with unchanged(landsat_path, models["unet"]):
        result = cli("predict", models["unet"], landsat_path, tmp_path / "out.tif", "--tile-size", "512",
                          "--batch-size", "8", "--max-memory", "180MiB", "--no-progress")
    assert_cli_error(result, "512", "needs about", "180.0 MiB", "--batch-size 1 fits", "--tile-size 360 fits")
    result = cli("predict", models["unet"], landsat_path, tmp_path / "out.tif", "--max-memory", "lots",
                      "--no-progress")
    assert_cli_error(result, "--max-memory lots is not a size", "4GiB")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("options, needles", [
    (["--tile-size", "64", "--overlap", "64"], ["--overlap 64 must be smaller than the tile (64 px)", "0 to 63"]),
    (["--tile-size", "128", "--overlap", "500"], ["--overlap 500 must be smaller than the tile (128 px)"]),
    (["--tile-size", "0"], ["--tile-size must be 1 or more pixels, got 0"]),
    (["--batch-size", "0"], ["--batch-size must be 1 or more, got 0"]),
])
def test_impossible_tiles_name_the_option(models, landsat_path, tmp_path, unchanged, cli, options, needles):
    with unchanged(landsat_path, models["unet"]):
        result = cli("predict", models["unet"], landsat_path, tmp_path / "out.tif", *options, "--no-progress")
    assert_cli_error(result, *needles)
    assert list(tmp_path.iterdir()) == []


def test_paths_with_spaces_and_non_ascii_characters(models, landsat_path, tmp_path):
    folder = tmp_path / "données été" / "scène n°1"
    folder.mkdir(parents=True)
    scene, model = folder / "Landsat 7 – côte.tif", folder / "modèle ünet.keras"
    shutil.copy(landsat_path, scene)
    shutil.copy(models["unet"], model)
    before = {p: p.read_bytes() for p in (scene, model)}
    dst = tmp_path / "résultats finaux" / "carte d'occupation.tif"
    result = run_cli("predict", model, scene, dst, "--probabilities", "--tile-size", "128", "--no-progress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert {p: p.read_bytes() for p in (scene, model)} == before
    with rasterio.open(dst) as ds, rasterio.open(landsat_path) as src:
        assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)
    assert sorted(p.name for p in dst.parent.iterdir()) == ["carte d'occupation.tif",
                                                            "carte d'occupation_probabilities.tif"]
    assert leftovers(tmp_path) == []
