"""The whole Earth Engine pixel workflow on the real HLS chip: a table export of pixel samples (what
``sampleRegions`` + ``Export.table(fileFormat='TFRecord')`` writes) -> an ANN (``train_pixel_model`` or
``rskeras train`` with ``source: earthengine``) -> an image export -> ``rskeras predict-ee`` -> the upload request."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import rasterio
import tensorflow as tf
import yaml

import rskeras
from rskeras.cli import main
from rskeras.data import (
    assemble_scene,
    ee_patch_dataset,
    geotiff_to_ee_patches,
    read_mixer,
    read_points,
    read_sample_table,
    write_sample_table,
)
from rskeras.data.ee_records.example_codec import feature_lengths
from rskeras.demo import LAND_COVER, make_field_points
from rskeras.workflows import train_pixel_model
from tests.readme_fixtures import REPO

HLS = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
BANDS = ["blue", "green", "red", "nir", "swir1", "swir2"]
CLASSES = LAND_COVER["names"]


@pytest.fixture(scope="module")
def tables(hls_path, tmp_path_factory):
    """Training and validation table exports from field points drawn on the chip (as sampleRegions writes them)."""
    folder = tmp_path_factory.mktemp("tables")
    out = {}
    for split, (n, seed) in {"train": (900, 3), "validation": (300, 4)}.items():
        points = make_field_points(hls_path, folder / f"{split}.csv", n=n, seed=seed)
        out[split] = write_sample_table(hls_path, points, folder / f"{split}.tfrecord.gz", "land_cover",
                                        bands=BANDS, sensor="hls_l30", class_names=CLASSES)
    return out


def test_table_export_is_written_as_earth_engine_writes_it(tables):
    table = tables["train"]
    records = list(tf.data.TFRecordDataset(table.path, compression_type="GZIP"))  # GZIP, as every table export
    assert len(records) == table.n_features > 800 and table.class_names == CLASSES
    assert feature_lengths(records[0].numpy()) == {name: ("float_list", 1) for name in [*BANDS, "land_cover"]}
    values, labels = read_sample_table(table.path, BANDS, "land_cover")
    assert values.shape == (table.n_features, 6) and set(np.unique(labels)) <= {0.0, 1.0, 2.0}


def test_train_pixel_model_from_a_table_equals_the_raster_path(hls_path, tables, tmp_path):
    common = {"task": "multiclass", "class_names": CLASSES, "epochs": 30, "seed": 0, "progress": False}
    table = train_pixel_model(tables["train"].path, label="land_cover", bands=BANDS, **common)
    assert table.bands == BANDS and table.samples is None
    assert table.metrics["overall_accuracy"] >= 0.85, table.metrics
    points = read_points(tables["train"].path.replace(".tfrecord.gz", ".csv"))
    raster = train_pixel_model(hls_path, points, "land_cover", bands=BANDS, sensor="hls_l30", **common)
    assert table.metrics["overall_accuracy"] == raster.metrics["overall_accuracy"]  # the same samples, split, weights
    assert rskeras.models.model_metadata(table.model).band_names == [BANDS]


def test_table_labels_must_be_the_class_codes(tables):
    with pytest.raises(ValueError, match=r"property 'land_cover' holds \[2\.0\], which are not codes 0\.\.1"):
        train_pixel_model(tables["train"].path, label="land_cover", bands=BANDS, class_names=CLASSES[:2], epochs=1)
    with pytest.raises(KeyError, match="Feature: B8 .band. is required .* they hold: blue"):
        train_pixel_model(tables["train"].path, label="land_cover", bands=["B8"], epochs=1)
    with pytest.raises(ValueError, match="give points only with a raster"):
        train_pixel_model(tables["train"].path, "field.csv", "land_cover", bands=BANDS, epochs=1)


def test_table_export_to_upload_with_the_commands(hls_path, tables, tmp_path, capsys):
    config = {
        "data": {"source": "earthengine", "train_files": tables["train"].path,
                 "validation_files": tables["validation"].path, "bands": BANDS, "label": "land_cover",
                 "batch_size": 64},
        "model": {"name": "ann", "options": {"hidden": [16]}},
        "task": {"type": "multiclass", "class_names": CLASSES},
        "training": {"epochs": 25, "learning_rate": 0.02, "augment": False, "precision": "float32",
                     "schedule": "constant", "verbose": 0},
        "output": {"run_dir": str(tmp_path / "run"), "tensorboard": False},
    }
    (tmp_path / "ann.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "ann.yaml")]) == 0
    printed = capsys.readouterr().out
    assert float(printed.split("validation overall accuracy ")[1].split()[0]) >= 0.85, printed
    model_path = tmp_path / "run" / "model.keras"
    assert model_path.exists()

    scene = tmp_path / "scene"  # the image export of the same chip, 64 px patches, no kernel (a pixel model)
    geotiff_to_ee_patches(hls_path, scene, 64, band_names=HLS, max_nodata_fraction=1.0)
    dst = tmp_path / "predictions" / "landcover.tfrecord.gz"
    assert main(["predict-ee", str(model_path), str(scene / "patches-*.tfrecord.gz"), str(dst)]) == 0
    assert "bands: ['class'], pyramiding_policy: MODE" in capsys.readouterr().out
    back = np.stack([x.numpy() for x in ee_patch_dataset(dst, ["class"], batch_size=None, ordered=True)])
    mosaic = assemble_scene(back, read_mixer(tmp_path / "predictions" / "landcover-mixer.json"))[:224, :224, 0]
    mapped = rskeras.predict_raster(str(model_path), hls_path, tmp_path / "map.tif", sensor="hls_l30", progress=False)
    with rasterio.open(mapped.dst) as src:
        np.testing.assert_array_equal(mosaic, src.read(1))

    upload = {"project": "p", "asset_id": "projects/p/assets/landcover", "bands": ["class"],
              "files": ["gs://b/predictions/landcover.tfrecord.gz"], "mixer": "gs://b/predictions/landcover-mixer.json",
              "pyramiding_policy": "MODE"}
    (tmp_path / "upload.yaml").write_text(yaml.safe_dump(upload))
    done = subprocess.run([sys.executable, str(REPO / "pipelines" / "upload_predictions.py"), "--dry-run", "--config",
                           str(tmp_path / "upload.yaml")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    manifest = json.loads(done.stdout)["tasks"][0]["config"]["manifest"]
    assert manifest["bands"] == [{"id": "class", "tilesetId": "ts", "tilesetBandIndex": 0}]
    assert manifest["pyramidingPolicy"] == "MODE"
