"""Hostile cases of ``rskeras train-pixel`` and of the library entry points it uses: ``read_points``,
``sample_raster`` and ``train_pixel_model``, on field points placed on the real Landsat 7 scene.

The field CSV has projected x/y columns (EPSG:32618, the scene's CRS) and an integer class column
``cover`` ("0", "1", "2" from brightness thresholds) in which some cells are blank or say NA, n/a,
null, None or NaN, as exported field sheets do.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from rskeras.data import read_points, sample_raster
from rskeras.data.reference import random_points, threshold_classes
from rskeras.workflows import train_pixel_model

from tests.hostile.conftest import assert_cli_error, leftovers

MISSING = ["", "NA", "n/a", "null", "None", "NaN"]
FAST = ("--epochs", "3", "--hidden", "8")


@pytest.fixture(scope="module")
def field(landsat_path, tmp_path_factory):
    """``(folder, csv)``: 300 points with classes "0"/"1"/"2", six of them with a missing label."""
    folder = tmp_path_factory.mktemp("field data ü")  # a space and a non-ASCII character in every path
    points = random_points(landsat_path, 500, seed=2, crs=None)
    samples = sample_raster(landsat_path, points)
    keep = samples.index[:300]
    labels = threshold_classes(samples.values[:300].mean(1), [60, 110], ["0", "1", "2"]).astype(object)
    labels[:len(MISSING)] = MISSING
    lines = ["x,y,cover"] + [f"{float(points.x[i])!r},{float(points.y[i])!r},{label}" for i, label in zip(keep, labels)]
    path = folder / "field points.csv"
    path.write_text("\n".join(lines) + "\n")
    return folder, path


def _train_pixel(cli, raster, points, out, *extra):
    return cli("train-pixel", raster, points, "--label", "cover", "--crs", "EPSG:32618", "--out", out, *extra)


@pytest.mark.parametrize("option, value, needle", [
    ("--epochs", "-1", "--epochs -1 must be an integer >= 1"),
    ("--epochs", "0", "--epochs 0 must be an integer >= 1"),
    ("--batch-size", "0", "--batch-size 0 must be an integer >= 1"),
    ("--test-fraction", "1.5", "--test-fraction 1.5 must be a number in (0, 1)"),
    ("--test-fraction", "0", "--test-fraction 0.0 must be a number in (0, 1)"),
    ("--dropout", "1", "--dropout 1.0 must be a number in [0, 1)"),
    ("--learning-rate", "-0.01", "--learning-rate -0.01 must be a number in (0, inf)"),
    ("--hidden", "0", "--hidden 0 must be an integer >= 1"),
])
def test_settings_that_cannot_train_are_refused_before_work(cli, landsat_path, field, tmp_path, unchanged, option,
                                                            value, needle):
    folder, points = field
    with unchanged(folder, landsat_path):
        result = _train_pixel(cli, landsat_path, points, tmp_path / "m.keras", option, value)
    assert_cli_error(result, needle)
    assert list(tmp_path.iterdir()) == []


def test_missing_labels_are_dropped_counted_and_class_names_keep_their_spelling(cli, landsat_path, field, tmp_path,
                                                                                  unchanged):
    folder, points = field
    out = tmp_path / "models ü" / "cover.keras"
    with unchanged(folder, landsat_path):
        result = _train_pixel(cli, landsat_path, points, out, *FAST)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(6 without a label, 0 outside the raster" in result.stdout
    assert "labels: 0=" in result.stdout and "1=" in result.stdout and "nan" not in result.stdout.lower()
    from rskeras.models.metadata import model_metadata
    from rskeras.saving import load_model

    assert model_metadata(load_model(out)).class_names == ["0", "1", "2"]
    metrics = json.loads(out.with_suffix(".metrics.json").read_text())
    assert metrics["class_names"] == ["0", "1", "2"] and metrics["n_train"] + metrics["n_test"] == 294
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name, needle", [
    ("model.h5", "--out {out} must end in .keras"),
    ("model", "--out {out} must end in .keras"),
])
def test_output_names_that_are_not_keras_files(cli, landsat_path, field, tmp_path, name, needle):
    out = tmp_path / name
    assert_cli_error(_train_pixel(cli, landsat_path, field[1], out), needle.format(out=out))
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_named_like_the_model_is_refused(cli, landsat_path, field, tmp_path):
    (tmp_path / "m.keras").mkdir()
    assert_cli_error(_train_pixel(cli, landsat_path, field[1], tmp_path / "m.keras"), "is an existing directory")
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]


def test_metrics_written_over_the_field_data_is_refused(cli, landsat_path, field, tmp_path, unchanged):
    points = read_points(field[1], crs="EPSG:32618")
    geojson = points.write(tmp_path / "field.json")  # GeoJSON named like a metrics file
    with unchanged(geojson):
        result = cli("train-pixel", landsat_path, geojson, "--label", "cover", "--out", tmp_path / "m.keras",
                     "--metrics", geojson)
    assert_cli_error(result, "--metrics", "is also an input")


def test_projected_coordinates_without_crs_name_the_option(cli, landsat_path, field, tmp_path):
    result = cli("train-pixel", landsat_path, field[1], "--label", "cover", "--out", tmp_path / "m.keras")
    assert_cli_error(result, "pass --crs, e.g. --crs EPSG:32614")
    assert "crs=" not in result.stderr


def test_coordinates_in_the_wrong_crs_say_where_the_points_are(cli, landsat_path, field, tmp_path):
    # UTM metres read as a neighbouring zone: valid coordinates, but nowhere near the scene
    result = _train_pixel(cli, landsat_path, field[1], tmp_path / "m.keras", "--crs", "EPSG:32633")
    assert_cli_error(result, "none of the 300 points", "Is the points' CRS right (--crs")


def test_a_band_the_raster_lacks_lists_the_bands(cli, landsat_path, field, tmp_path):
    result = _train_pixel(cli, landsat_path, field[1], tmp_path / "m.keras", "--bands", "9")
    assert_cli_error(result, "9")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, needle", [
    ("x,y,cover\n1,2,0\n3,4\n", "row 3 has 2 fields, the header has 3"),
    ("x,y,cover\n", "has a header (x, y, cover) but no rows"),
    ("", "is empty"),
    (b"x,y,cover\n\xff\xfe,1,2\n", "cannot read points CSV"),
])
def test_broken_field_files_are_named(cli, landsat_path, tmp_path, content, needle):
    points = tmp_path / "field.csv"
    (points.write_bytes if isinstance(content, bytes) else points.write_text)(content)
    result = _train_pixel(cli, landsat_path, points, tmp_path / "m.keras")
    assert_cli_error(result, needle)
    assert str(points) in result.error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["field.csv"]


def test_a_label_column_without_any_label(cli, landsat_path, tmp_path):
    points = tmp_path / "field.csv"
    points.write_text("lon,lat,cover\n-77.6,24.6,NA\n-77.6,24.7,\n")
    result = cli("train-pixel", landsat_path, points, "--label", "cover", "--out", tmp_path / "m.keras")
    assert_cli_error(result, "column 'cover'", "has no labels: all 2 values are blank or missing")


def test_an_output_folder_that_is_a_file(cli, landsat_path, field, tmp_path):
    (tmp_path / "models").write_text("not a folder")
    result = _train_pixel(cli, landsat_path, field[1], tmp_path / "models" / "m.keras", *FAST)
    assert_cli_error(result, f"--out {tmp_path / 'models' / 'm.keras'} cannot be created: {tmp_path / 'models'} is "
                     "a file, not a folder")
    assert "training ANN" not in result.stderr  # refused before training
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_folder(cli, landsat_path, field, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        assert_cli_error(_train_pixel(cli, landsat_path, field[1], folder / "m.keras", *FAST),
                         f"no permission to write into {folder}")
    finally:
        folder.chmod(0o755)


def test_an_interrupted_save_leaves_neither_model_nor_metrics(landsat_path, field, tmp_path, monkeypatch, cli):
    import keras

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(keras.Model, "save", interrupted)
    result = _train_pixel(cli, landsat_path, field[1], tmp_path / "m.keras", *FAST)
    assert result.returncode == 130 and "interrupted" in result.error
    assert list(tmp_path.iterdir()) == []


# the library entry points


def test_read_points_keeps_the_spelling_of_labels_and_marks_missing_values(tmp_path):
    path = tmp_path / "field.csv"
    path.write_text("lon,lat,cover,kind\n" + "".join(
        f"-77.{i},24.{i},{c},{k}\n" for i, (c, k) in enumerate(zip(["0", "", "2", "NA", "1", "n/a"],
                                                                     ["a", "null", "b", "None", "NaN", "c"]))))
    points = read_points(path)
    assert points.column("cover").dtype == np.float64  # numeric with NaN where missing
    assert points.text_column("cover").tolist() == ["0", "", "2", "", "1", ""]
    assert points.missing("cover").tolist() == [False, True, False, True, False, True]
    assert points.missing("kind").tolist() == [False, True, False, True, True, False]
    assert points.text_column("kind").tolist() == ["a", "", "b", "", "", "c"]


def test_read_points_geojson_integer_field_with_nulls(tmp_path):
    path = tmp_path / "field.geojson"
    features = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [-77.6, 24.6 + i / 10]},
                 "properties": {"cover": c}} for i, c in enumerate([1, None, 2, 0])]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    points = read_points(path)
    assert points.text_column("cover").tolist() == ["1", "", "2", "0"]
    assert points.missing("cover").tolist() == [False, True, False, False]


def test_read_points_missing_file_and_wrong_type(tmp_path):
    with pytest.raises(FileNotFoundError, match="points file not found: .*nowhere.csv"):
        read_points(tmp_path / "nowhere.csv")
    (tmp_path / "field.xlsx").write_bytes(b"PK")
    with pytest.raises(ValueError, match=r"unsupported points file type '.xlsx'"):
        read_points(tmp_path / "field.xlsx")


def test_sample_raster_counts_points_without_a_label(landsat_path, field):
    points = read_points(field[1], crs="EPSG:32618")
    samples = sample_raster(landsat_path, points, label="cover")
    assert (samples.n_total, samples.n_unlabelled, len(samples)) == (300, 6, 294)
    assert samples.summary().startswith(f"294 of 300 points sampled from {landsat_path} (6 without a label, ")


def test_sample_raster_with_no_labelled_point(landsat_path, field):
    points = read_points(field[1], crs="EPSG:32618")
    points.attributes["cover"] = np.full(len(points), np.nan)
    points.text["cover"] = np.full(len(points), "NA")
    with pytest.raises(ValueError, match="column 'cover' of .* has no labels: all 300 values"):
        sample_raster(landsat_path, points, label="cover")


@pytest.mark.parametrize("argument, value, message", [
    ("epochs", 0, "epochs=0 must be an integer >= 1"),
    ("epochs", 2.5, "epochs=2.5 must be an integer >= 1"),
    ("batch_size", -8, "batch_size=-8 must be an integer >= 1"),
    ("test_fraction", 1.0, r"test_fraction=1.0 must be a number in \(0, 1\)"),
    ("hidden", (16, 0), "hidden=0 must be an integer >= 1"),
    ("task", "segmentation", "task='segmentation' must be one of multiclass, binary, regression"),
])
def test_train_pixel_model_checks_its_arguments_before_reading(tmp_path, argument, value, message):
    # the raster and points do not exist: the arguments are checked first
    with pytest.raises(ValueError, match=message):
        train_pixel_model(tmp_path / "no.tif", tmp_path / "no.csv", "cover", **{argument: value})


def test_train_pixel_model_with_an_integer_column_with_gaps(landsat_path, field):
    points = read_points(field[1], crs="EPSG:32618")
    result = train_pixel_model(landsat_path, points, "cover", epochs=2, hidden=(8,), progress=False)
    assert result.targets.class_names == ["0", "1", "2"]
    assert result.samples.n_unlabelled == 6 and len(result.samples) == 294
    assert "(6 without a label" in result.metrics["sampling"]
