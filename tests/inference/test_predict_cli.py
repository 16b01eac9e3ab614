"""The README's CLI pair, as written, on the real HLS chip: train-pixel, then predict with the model's band names."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import rasterio

from rskeras.cli import main
from rskeras.demo import make_field_points

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_command(start: str) -> list[str]:
    """The README's shell command that starts with ``start`` (continuation lines joined), as arguments after
    ``rskeras``."""
    commands = [line for line in README.read_text().replace("\\\n", " ").splitlines() if line.startswith(start)]
    assert len(commands) == 1, (start, commands)
    return shlex.split(commands[0])[1:]


def test_readme_train_pixel_then_predict_pair_works_as_written(hls_path, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "scene.tif").symlink_to(hls_path)  # the README's file names, the real chip's bytes
    make_field_points(hls_path, tmp_path / "field.csv", n=600, seed=3)
    train = readme_command("rskeras train-pixel scene.tif field.csv")
    predict = readme_command("rskeras predict models/lc.keras scene.tif")

    assert main(train + ["--epochs", "5", "--hidden", "16"]) == 0
    out = capsys.readouterr().out
    hint = re.search(r"predict with: (.*)", out).group(1)
    assert hint == "rskeras predict models/lc.keras scene.tif OUT.tif --sensor hls_l30"

    assert main(predict + ["--no-progress"]) == 0
    assert "pixel model on bands blue, green, red, nir, swir1, swir2" in capsys.readouterr().out
    assert main(shlex.split(hint)[1:] + ["--no-progress"]) == 0
    with rasterio.open("land_cover.tif") as ds, rasterio.open("OUT.tif") as again, rasterio.open(hls_path) as src:
        assert (ds.crs, ds.transform, ds.shape) == (src.crs, src.transform, src.shape)
        classes = ds.read(1)
        np.testing.assert_array_equal(again.read(1), classes)
    assert set(np.unique(classes)) <= {0, 1, 2}
    with rasterio.open("land_cover_probabilities.tif") as probs:
        assert probs.count == 3
        np.testing.assert_allclose(probs.read().sum(0), 1.0, atol=1e-4)

    # band numbers still work; a selection of another size is a one-line error naming both lists
    assert main(predict[:4] + ["--bands", "2", "3", "4", "5", "6", "7", "--no-progress"]) == 0
    with rasterio.open("land_cover.tif") as ds:
        np.testing.assert_array_equal(ds.read(1), classes)
    assert main(predict[:4] + ["--bands", "1", "2", "3", "4", "5", "6", "7", "--no-progress"]) == 2
    error = capsys.readouterr().err
    assert "--bands 1 2 3 4 5 6 7 selects 7 band(s) (band_1" in error
    assert "the model takes 6 (blue, green, red, nir, swir1, swir2)" in error
