"""Hostile cases of the losses (through ``rskeras train`` configs and compile) and of ``rskeras vectorize``.

Each case: the error names the field or file at fault and what is valid; inputs are unchanged; nothing
(no partial or temporary file) is left behind.
"""

from __future__ import annotations

import numpy as np
import pyogrio.raw
import pytest
import rasterio
import yaml

from rskeras.inference import vectors
from rskeras.inference.vectors import vectorize
from rskeras.models import ann
from tests.hostile.conftest import assert_cli_error, leftovers, run_cli


def write_config(tmp_path, eurosat_dir, **training) -> str:
    config = {"data": {"root": str(eurosat_dir), "limit": 16},
              "model": {"name": "cnn"},
              "task": {"type": "multiclass", "class_names": ["water", "forest", "urban"]},
              "training": {"epochs": 1, **training},
              "output": {"run_dir": str(tmp_path / "run")}}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.mark.parametrize("training,needles", [
    ({"loss": "focus"}, ["training", "unknown loss 'focus'", "crossentropy, focal, dice, jaccard, tversky, "
                                                              "crossentropy_dice"]),
    ({"loss": {"name": "dice", "gamma": 2}}, ["gamma=2 does not apply to loss 'dice'", "losses of 'multiclass' that "
                                                                                       "take gamma: focal"]),
    ({"class_weights": [1.0, 2.0]}, ["class_weights has 2 values", "3 classes"]),
    ({"class_weights": {"desert": 2.0}}, ["training.class_weights names unknown class(es) 'desert'",
                                          "water, forest, urban"]),
    ({"class_weights": "equal"}, ["training.class_weights must be 'balanced'"]),
    ({"ignore_class": 2}, ["ignore_class=2 is one of the 3 classes (0..2)", "e.g. 255"]),
    ({"augment": ["flip", "zoom"]}, ["unknown augmentation 'zoom'",
                                     "flip, crop, shift, brightness, noise, mixup, cutmix"]),
])
def test_bad_loss_options_in_a_config(training, needles, eurosat_dir, tmp_path, unchanged):
    config = write_config(tmp_path, eurosat_dir, **training)
    with unchanged(config):
        result = run_cli("train", config, cwd=tmp_path)
    assert_cli_error(result, *needles)
    assert not (tmp_path / "run").exists() and not leftovers(tmp_path)


def test_bad_loss_options_in_compile():
    from rskeras.training import compile_for_task

    model = ann(4, task="multiclass", n_outputs=3)
    with pytest.raises(ValueError, match="unknown loss 'dise' for task 'multiclass'; choose one of crossentropy, focal"):
        compile_for_task(model, loss="dise")
    with pytest.raises(ValueError, match=r"class_weights has 4 values but the model's task 'multiclass' has 3 classes"):
        compile_for_task(model, class_weights=[1, 1, 1, 1])
    with pytest.raises(ValueError, match=r"ignore_class=0 is one of the 3 classes \(0..2\)"):
        compile_for_task(model, ignore_class=0)
    with pytest.raises(ValueError, match="loss 'dice' does not apply to task 'regression'.*mean_squared_error"):
        compile_for_task(ann(4, task="regression"), loss="dice")
    with pytest.raises(ValueError, match="class_weights='balanced': give one number per class.*count_labels"):
        compile_for_task(model, class_weights="balanced")


@pytest.fixture
def class_map(labels_dir, tmp_path):
    """A copy of the real label raster (uint8 classes 1-5, nodata 0)."""
    path = tmp_path / "labels.tif"
    path.write_bytes((labels_dir / "landsat7_training_labels.tif").read_bytes())
    return path


def rewrite(src, dst, dtype=None, crs="keep"):
    """``src`` written again as ``dst`` with another dtype or without a CRS."""
    with rasterio.open(src) as ds:
        profile, data = ds.profile, ds.read()
    profile.update(dtype=dtype or profile["dtype"])
    if crs is None:
        profile.pop("crs")
    with rasterio.open(dst, "w", **profile) as out:
        out.write(data.astype(profile["dtype"]) / (7.0 if dtype == "float32" else 1))
    return dst


@pytest.mark.parametrize("out,needles", [
    ("labels.tif", ["OUT", "labels.tif must end in .gpkg or .geojson"]),
    ("folder", ["OUT", "is an existing directory"]),
    ("polygons.shp", ["OUT", "must end in .gpkg or .geojson"]),
])
def test_vectorize_refuses_bad_outputs(out, needles, class_map, tmp_path, unchanged):
    (tmp_path / "folder").mkdir()
    with unchanged(class_map):
        assert_cli_error(run_cli("vectorize", class_map, tmp_path / out), *needles)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "labels.tif"]


def test_vectorize_refuses_to_overwrite_its_input(class_map, tmp_path, unchanged):
    disguised = class_map.rename(tmp_path / "labels.gpkg")  # a GeoTIFF GDAL opens whatever its name
    with unchanged(disguised):
        assert_cli_error(run_cli("vectorize", disguised, disguised), "OUT", "is also an input")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.gpkg"]


def test_vectorize_refuses_a_bad_area_table_before_any_work(class_map, tmp_path):
    result = run_cli("vectorize", class_map, tmp_path / "polygons.gpkg", "--areas", tmp_path / "areas.txt")
    assert_cli_error(result, "--areas", "must end in .json or .csv")
    assert not (tmp_path / "polygons.gpkg").exists() and not leftovers(tmp_path)


@pytest.mark.parametrize("kind,needles", [
    ("no_crs", ["has no CRS"]),
    ("float", ["holds float32 values", "a class map holds integer class values"]),
])
def test_vectorize_refuses_maps_without_classes_or_crs(kind, needles, class_map, tmp_path, unchanged):
    bad = rewrite(class_map, tmp_path / f"{kind}.tif", dtype="float32" if kind == "float" else None,
                  crs=None if kind == "no_crs" else "keep")
    with unchanged(bad):
        assert_cli_error(run_cli("vectorize", bad, tmp_path / "out.gpkg", "--areas", tmp_path / "areas.csv"),
                         str(bad), *needles)
    assert not (tmp_path / "out.gpkg").exists() and not (tmp_path / "areas.csv").exists() and not leftovers(tmp_path)


def test_an_interrupted_vectorize_leaves_nothing(class_map, tmp_path, monkeypatch):
    real_write, calls = pyogrio.raw.write, []

    def interrupted(*args, **kwargs):
        calls.append(kwargs["append"])
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C after the first batch reached the file
        return real_write(*args, **kwargs)

    monkeypatch.setattr(vectors, "WRITE_BATCH", 10)
    monkeypatch.setattr(pyogrio.raw, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        vectorize(class_map, tmp_path / "polygons.gpkg")
    assert calls == [False, True]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.tif"]
    monkeypatch.setattr(pyogrio.raw, "write", real_write)
    assert vectorize(class_map, tmp_path / "polygons.gpkg").polygons == 39  # 4 batches of 10, appended
    assert np.array_equal(pyogrio.raw.read(tmp_path / "polygons.gpkg")[3][0].shape, [39])
