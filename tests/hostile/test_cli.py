"""CLI-wide rules: one error line on stderr, exit status 2, the sub-command's options named instead of Python
keywords, no traceback unless ``--debug``, and a failing data pipeline that ends the process."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rasterio

from rskeras.cli import cli_message
from tests.hostile.conftest import assert_cli_error, run_cli


def test_usage_errors_are_one_line(cli):
    result = cli("train-pixel", "scene.tif", "field.csv", "--label", "cover", "--out", "m.keras", "--epochs", "ten")
    assert_cli_error(result, "rskeras train-pixel: error: argument --epochs: invalid int value: 'ten' (see rskeras "
                     "train-pixel --help)")
    assert len(result.stderr.strip().splitlines()) == 1
    result = cli("trian", "c.yaml")
    assert_cli_error(result, "argument COMMAND: invalid choice: 'trian'")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("message, expected", [
    ("pass crs=, e.g. crs=\"EPSG:32614\"", "pass --crs, e.g. --crs EPSG:32614"),
    ("bands=[2, 3, 'nir'] do not fit", "--bands 2 3 nir do not fit"),
    ("tile_size=30 is not a multiple of 4", "--tile-size 30 is not a multiple of 4"),
    ("pass x= and y= to choose", "pass --x and --y to choose"),
    ("data.bands=all and model=unet stay", "data.bands=all and model=unet stay"),  # config keys; no option model
    ("probabilities p.png must end in .tif", "--probabilities p.png must end in .tif"),  # check_output's subject
    ("raster a.tif has no band 'nir'", "raster a.tif has no band 'nir'"),
])
def test_library_keywords_become_the_commands_options(message, expected):
    options = {"crs": "--crs", "bands": "--bands", "tile_size": "--tile-size", "x": "--x", "y": "--y",
               "probabilities": "--probabilities"}
    assert cli_message(message, options) == expected


def test_errors_from_the_library_name_the_option(cli, landsat_path, tmp_path):
    points = tmp_path / "field.csv"
    points.write_text("x,y,cover\n240000,2700000,1\n250000,2710000,2\n")
    result = cli("train-pixel", landsat_path, points, "--label", "cover", "--out", tmp_path / "m.keras")
    assert_cli_error(result, "have no CRS; pass --crs, e.g. --crs EPSG:32614")
    assert "crs=" not in result.stderr


def test_debug_shows_the_traceback_before_or_after_the_command(cli, tmp_path):
    missing = tmp_path / "nowhere ü.csv"
    for args in (("--debug", "train-pixel"), ("train-pixel", "--debug")):
        result = cli(*args, tmp_path / "scene.tif", missing, "--label", "c", "--out", tmp_path / "m.keras")
        assert result.returncode == 2 and "Traceback (most recent call last)" in result.stderr
        assert result.error == f"rskeras train-pixel: error: points file not found: {missing}"
    result = cli("train-pixel", tmp_path / "scene.tif", missing, "--label", "c", "--out", tmp_path / "m.keras")
    assert_cli_error(result, f"points file not found: {missing}")


def test_an_unexpected_exception_is_one_line_with_a_hint(cli, monkeypatch, tmp_path):
    import rskeras.data

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand type(s) for +: 'int' and 'str'")

    monkeypatch.setattr(rskeras.data, "read_points", broken)
    result = cli("train-pixel", "scene.tif", "field.csv", "--label", "c", "--out", tmp_path / "m.keras")
    assert_cli_error(result, "unexpected TypeError: unsupported operand", "(rerun with --debug for the traceback)")


def test_ctrl_c_is_one_line(cli, monkeypatch, tmp_path):
    import rskeras.data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rskeras.data, "read_points", interrupted)
    result = cli("train-pixel", "scene.tif", "field.csv", "--label", "c", "--out", tmp_path / "m.keras")
    assert result.returncode == 130 and result.error == "rskeras train-pixel: interrupted"


def test_a_corrupt_image_in_a_13_band_folder_ends_the_command_with_its_name(hls_path, tmp_path):
    """A failure inside a tf.data pipeline (a file cut short, read by tf.numpy_function) used to print a
    traceback and then hang; now the command ends at once with one line naming the file."""
    root = tmp_path / "EuroSAT MS"
    with rasterio.open(hls_path) as ds:
        data = ds.read()
    data = np.concatenate([data, data[:3]]).astype("uint16")  # 13 bands cut from the real HLS chip
    for c, name in enumerate(["Forest", "River"]):
        (root / name).mkdir(parents=True)
        for i in range(4):
            r, col = 64 * (i % 3), 64 * c + 32 * (i // 3)
            profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 13, "dtype": "uint16",
                       "crs": ds.crs, "transform": ds.transform}
            with rasterio.open(root / name / f"{name}_{i}.tif", "w", **profile) as out:
                out.write(data[:, r:r + 64, col:col + 64])
    broken = root / "River" / "River_2.tif"
    broken.write_bytes(broken.read_bytes()[:500])
    config = tmp_path / "ms.yaml"
    config.write_text(f"data: {{root: {root}, bands: all, batch_size: 4, stats_samples: 8}}\nmodel: {{name: cnn}}\n"
                      f"training: {{epochs: 1, verbose: 0}}\noutput: {{run_dir: {tmp_path / 'run'}, tensorboard: false}}\n")
    start = time.perf_counter()
    result = run_cli("train", config, timeout=180)
    assert_cli_error(result, f"cannot read EuroSAT image {broken}")
    assert time.perf_counter() - start < 120 and not (tmp_path / "run").exists()


def test_demo_refuses_its_outputs_over_files_or_inside_the_data(cli, shared_data, tmp_path, unchanged):
    assert_cli_error(cli("demo", "--eurosat-minutes", "0", "--out", tmp_path / "demo"),
                     "--eurosat-minutes 0.0 must be a number in (0, inf)")
    (tmp_path / "demo").write_text("a file")
    assert_cli_error(cli("demo", "--out", tmp_path / "demo"), f"--out {tmp_path / 'demo'} is an existing file")
    with unchanged(shared_data / "README.md"):
        result = cli("demo", "--data", shared_data, "--out", shared_data / "demo", "--export-dir", tmp_path / "m")
    assert_cli_error(result, f"--out {shared_data / 'demo'} and the input {shared_data} would be inside each other")
    assert not (shared_data / "demo").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["demo"]
