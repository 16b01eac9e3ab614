"""Hostile cases of what ``predict_raster`` and ``rskeras predict`` write, on the real Landsat 7 scene.

Outputs are checked before any work (an existing folder, a name that is not a GeoTIFF, an input, a path that
cannot be created), appear whole or not at all (the class map with its probabilities), and a prediction killed
with SIGKILL or SIGTERM leaves nothing visible; a rerun removes the hidden temporaries of a killed one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from rskeras import predict_raster
from rskeras.inference.writer import GeoTIFFOutputs
from rskeras.io import TEMP_MARK
from tests.hostile.conftest import REPO, assert_cli_error, leftovers

CLASSES = ["water", "field", "town"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``{"pixel": path, "dense": path}``: an untrained pixel ANN and a small U-Net for the 3-band scene."""
    from rskeras.models import ann, unet

    folder = tmp_path_factory.mktemp("models")
    stats = ([80.0, 70.0, 60.0], [30.0, 30.0, 30.0])
    pixel = ann(3, task="multiclass", n_outputs=3, hidden=(8,), class_names=CLASSES, band_stats=stats)
    dense = unet((None, None, 3), task="multiclass", n_outputs=3, depth=2, filters=8, class_names=CLASSES,
                 band_stats=stats)
    paths = {"pixel": folder / "pixel.keras", "dense": folder / "dense.keras"}
    pixel.save(paths["pixel"])
    dense.save(paths["dense"])
    return paths


@pytest.mark.parametrize("name, needle", [
    ("a_directory", "is an existing directory; give a file name"),
    ("out.png", "out.png must end in .tif or .tiff (the format written)"),
    ("out", "must end in .tif or .tiff"),
])
def test_outputs_that_are_folders_or_not_geotiff_are_refused_before_work(models, landsat_path, tmp_path, name,
                                                                         needle, unchanged):
    if name == "a_directory":
        (tmp_path / name).mkdir()
    with unchanged(landsat_path), pytest.raises(ValueError, match=re.escape(needle)):
        predict_raster(models["pixel"], landsat_path, tmp_path / name, progress=False)
    assert sorted(p.name for p in tmp_path.rglob("*")) == (["a_directory"] if name == "a_directory" else [])


def test_probabilities_with_a_wrong_name_or_the_map_name_are_refused(models, landsat_path, tmp_path):
    with pytest.raises(ValueError, match=r"probabilities .*p\.png must end in \.tif"):
        predict_raster(models["pixel"], landsat_path, tmp_path / "map.tif", probabilities=tmp_path / "p.png",
                       progress=False)
    with pytest.raises(ValueError, match="probabilities and dst are the same file"):
        predict_raster(models["pixel"], landsat_path, tmp_path / "map.tif", probabilities=tmp_path / "map.tif",
                       progress=False)
    assert list(tmp_path.iterdir()) == []


def test_writing_over_the_input_scene_is_refused(models, landsat_path, tmp_path, unchanged):
    scene = tmp_path / "scene.tif"
    scene.write_bytes(landsat_path.read_bytes())
    with unchanged(scene), pytest.raises(ValueError, match="dst .*scene.tif is also an input"):
        predict_raster(models["pixel"], scene, scene, progress=False)
    with unchanged(scene), pytest.raises(ValueError, match="probabilities .*scene.tif is also an input"):
        predict_raster(models["pixel"], scene, tmp_path / "map.tif", probabilities=scene, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene.tif"]


def test_an_output_inside_a_file_is_refused(models, landsat_path, tmp_path):
    (tmp_path / "maps").write_text("a file")
    with pytest.raises(ValueError, match="cannot be created: .*maps is a file, not a folder"):
        predict_raster(models["pixel"], landsat_path, tmp_path / "maps" / "map.tif", progress=False)


def test_new_folders_with_spaces_and_non_ascii_names(models, landsat_path, tmp_path):
    dst = tmp_path / "Ergebnisse März" / "land cover.tif"
    result = predict_raster(models["pixel"], landsat_path, dst, probabilities=True, progress=False)
    assert result.probabilities == tmp_path / "Ergebnisse März" / "land cover_probabilities.tif"
    with rasterio.open(dst) as a, rasterio.open(result.probabilities) as p, rasterio.open(landsat_path) as src:
        assert (a.count, p.count, a.shape, a.crs) == (1, 3, src.shape, src.crs)
    assert leftovers(tmp_path) == []


def test_a_failure_mid_write_leaves_neither_file_and_keeps_the_old_map(models, landsat_path, tmp_path, monkeypatch):
    dst = tmp_path / "map.tif"
    dst.write_bytes(b"the previous map")
    calls = {"n": 0}
    original = GeoTIFFOutputs.write

    def failing(self, index, array, window):
        calls["n"] += 1
        if calls["n"] == 5:
            raise OSError("No space left on device")
        original(self, index, array, window)

    monkeypatch.setattr(GeoTIFFOutputs, "write", failing)
    with pytest.raises(OSError, match="No space left"):
        predict_raster(models["pixel"], landsat_path, dst, probabilities=True, window_size=128, progress=False)
    assert dst.read_bytes() == b"the previous map"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]


def test_the_cli_names_a_folder_given_as_out(cli, models, landsat_path, tmp_path):
    (tmp_path / "maps").mkdir()
    result = cli("predict", models["pixel"], landsat_path, tmp_path / "maps", "--no-progress")
    assert_cli_error(result, f"{tmp_path / 'maps'} is an existing directory")


def _predict_in_background(model: Path, raster: Path, dst: Path) -> subprocess.Popen:
    """``rskeras predict`` of the U-Net with small tiles, one per model call: several seconds of writing."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen(
        [sys.executable, "-m", "rskeras.cli", "predict", str(model), str(raster), str(dst), "--probabilities",
         "--tile-size", "32", "--batch-size", "1", "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _wait_for_temporary(proc: subprocess.Popen, folder: Path) -> None:
    deadline = time.time() + 180
    while not any(TEMP_MARK in p.name for p in folder.iterdir()):
        assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
        assert time.time() < deadline, "the prediction never started writing"
        time.sleep(0.05)


def test_sigkill_mid_write_leaves_nothing_visible_and_a_rerun_cleans_up(models, landsat_path, tmp_path):
    dst = tmp_path / "land cover.tif"
    proc = _predict_in_background(models["dense"], landsat_path, dst)
    _wait_for_temporary(proc, tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    visible = [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert visible == [] and len(leftovers(tmp_path)) >= 1  # hidden temporaries a killed process cannot remove
    result = predict_raster(models["pixel"], landsat_path, dst, probabilities=True, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["land cover.tif", "land cover_probabilities.tif"]
    with rasterio.open(result.dst) as ds:
        assert np.isin(np.unique(ds.read(1)), [0, 1, 2, 255]).all()


def test_sigterm_mid_write_removes_every_temporary(models, landsat_path, tmp_path):
    proc = _predict_in_background(models["dense"], landsat_path, tmp_path / "land cover.tif")
    _wait_for_temporary(proc, tmp_path)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err.decode()[-2000:]
    assert b"Traceback" not in err and list(tmp_path.iterdir()) == []
