"""The rskeras command line: help for every option, the pixel commands, and errors."""

import json
import re

import pytest
import rasterio

from rskeras.cli import build_parser, main
from rskeras.data import Points
from rskeras.data.reference import random_points, threshold_classes


@pytest.mark.parametrize("command", ["train-pixel", "predict", "predict-ee", "demo", "design-sample", "assess"])
def test_help_explains_every_option(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and action.option_strings[-1] in text


@pytest.fixture(scope="module")
def landsat_points(landsat_path, tmp_path_factory):
    points = random_points(landsat_path, 600, seed=1)
    from rskeras.data import sample_raster

    s = sample_raster(landsat_path, points)
    field = Points(points.x[s.index], points.y[s.index], points.crs,
                   {"cover": threshold_classes(s.values.mean(1), [40, 120], ["dark", "medium", "bright"])})
    return field.write(tmp_path_factory.mktemp("cli") / "points.csv")


def test_train_then_predict(landsat_path, landsat_points, tmp_path, capsys):
    model = tmp_path / "models" / "cover.keras"
    code = main(["train-pixel", str(landsat_path), str(landsat_points), "--label", "cover", "--out", str(model),
                 "--epochs", "15", "--hidden", "16", "16"])
    assert code == 0 and model.exists()
    out = capsys.readouterr().out
    accuracy = float(re.search(r"held-out accuracy ([0-9.]+)", out).group(1))
    metrics = json.loads(model.with_suffix(".metrics.json").read_text())
    assert metrics["overall_accuracy"] == pytest.approx(accuracy, abs=1e-3) and metrics["bands"] == [1, 2, 3]
    dst = tmp_path / "cover.tif"
    assert main(["predict", str(model), str(landsat_path), str(dst), "--probabilities", "--no-progress"]) == 0
    with rasterio.open(dst) as ds:
        assert ds.count == 1 and ds.dtypes[0] == "uint8"
    assert (tmp_path / "cover_probabilities.tif").exists()


def test_missing_label_column_names_it_and_writes_nothing(landsat_path, landsat_points, tmp_path, capsys):
    model = tmp_path / "m.keras"
    code = main(["train-pixel", str(landsat_path), str(landsat_points), "--label", "landcover", "--out", str(model)])
    err = capsys.readouterr().err
    assert code == 2 and "no column 'landcover'" in err and "cover" in err
    assert list(tmp_path.iterdir()) == []


def test_missing_band_names_it(landsat_path, landsat_points, tmp_path, capsys):
    code = main(["train-pixel", str(landsat_path), str(landsat_points), "--label", "cover", "--bands", "nir",
                 "--out", str(tmp_path / "m.keras")])
    err = capsys.readouterr().err
    assert code == 2 and "no band 'nir'" in err and "1=band_1" in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_task_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train-pixel", "a.tif", "b.csv", "--label", "x", "--out", "m.keras", "--task", "segmentation"])
    assert "invalid choice: 'segmentation'" in capsys.readouterr().err


def test_unreadable_raster(tmp_path, landsat_points, capsys):
    bad = tmp_path / "broken.tif"
    bad.write_bytes(b"not a tiff")
    code = main(["train-pixel", str(bad), str(landsat_points), "--label", "cover", "--out", str(tmp_path / "m.keras")])
    assert code == 2 and "broken.tif" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.tif"]
