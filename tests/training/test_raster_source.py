"""`rskeras train` with data source rasters: validation, targets per model family, a whole run on the Landsat data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from rskeras.training import ConfigError, load_config, train
from rskeras.training.config import (
    Config,
    DataConfig,
    ModelConfig,
    OutputConfig,
    TaskConfig,
    TrainingConfig,
)
from rskeras.training.trainer import load_data

REPO = Path(__file__).resolve().parents[2]


def _config(labels_dir, tmp_path, model="unet", task="multiclass", **data):
    return {
        "data": {"source": "rasters", "images": str(labels_dir / "landsat7_1999_stack.tif"),
                 "labels": str(labels_dir / "landsat7_training_polygons.shp"), "label_column": "class",
                 "bands": [1, 2, 3, 4, 5, 6, 7], "patch_size": 32, "batch_size": 8,
                 "sampler": {"type": "random", "length": 32, "balanced": True},
                 "spatial_split": {"blocks": 50, "fractions": [0.6, 0.4], "seed": 2}, **data},
        "model": {"name": model, "options": {"depth": 2, "filters": 4} if model == "unet" else {}},
        "task": task, "training": {"epochs": 1, "verbose": 0, "learning_rate": 0.003},
        "output": {"run_dir": str(tmp_path / "run"), "tensorboard": False},
    }


@pytest.mark.parametrize("data, message", [
    ({"images": None}, r"data.images is required for source 'rasters'"),
    ({"bands": "rgb"}, r"data.bands for source 'rasters' is 'all' or a list"),
    ({"sampler": {"type": "random", "lenght": 5}}, (r"unknown key\(s\) 'lenght' in data.sampler \(type 'random'\); "
                                                   r"valid keys: type, length, balanced")),
    ({"sampler": {"type": "random", "length": 0}}, r"data.sampler: RandomSampler length must be a positive number"),
    ({"spatial_split": {"blocks": 50, "fractions": [0.6, 0.6]}}, r"data.spatial_split: BlockSplit fractions must"),
    ({"spatial_split": {"size": 50}}, r"data.spatial_split needs one of blocks .* or regions"),
    ({"patch_target": "mode"}, r"data.patch_target 'mode' is not one of majority, centre"),
    ({"bands": [1, 9]}, r"data.bands: raster .*stack\.tif has no band 9 \(bands are numbered from 1\)"),
    ({"label_column": "klass"}, r"data.label_column: .*has no column 'klass'; columns: id, class"),
    ({"classes": ["forest"]}, (r"data.labels: .*holds values \['barren', 'herbaceous', 'urban', 'water'\] that are "
                              r"not in the given classes")),
    ({"images": "/no/such/*.tif"}, r"data.images: images: the pattern '/no/such/\*.tif' matches no file"),
])
def test_bad_raster_configs_name_the_key(data, message, labels_dir, tmp_path):
    with pytest.raises(ConfigError, match=message):
        load_config(_config(labels_dir, tmp_path, **data))


def test_task_and_model_combinations_that_cannot_work(labels_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"task 'binary' with the dense model 'unet' .*use task multiclass"):
        load_config(_config(labels_dir, tmp_path, task="binary"))
    with pytest.raises(ConfigError, match=r"task 'regression' with the patch classifier 'cnn'"):
        load_config(_config(labels_dir, tmp_path, model="cnn", task="regression"))
    config = _config(labels_dir, tmp_path)
    config["training"]["label_smoothing"] = 0.1
    with pytest.raises(ConfigError, match=r"label_smoothing makes one-hot targets, which cannot carry"):
        load_config(config)


def test_each_model_kind_gets_its_targets(labels_dir, tmp_path):
    """Dense models: a class per pixel with the ignore value; patch classifiers: a class per patch, or one 0/1
    per class for multilabel; pixel models: the labelled pixels' band vectors."""
    dense = load_data(_config(labels_dir, tmp_path))
    x, y = next(iter(dense.train))
    assert x.shape == (8, 32, 32, 7) and y.shape == (8, 32, 32, 1) and dense.ignore_class == 255
    assert dense.class_names == ["barren", "forest", "herbaceous", "urban", "water"]
    assert dense.input_shape == (32, 32, 7) and dense.validation is not None
    patch = load_data(_config(labels_dir, tmp_path, model="cnn", patch_target="centre"))
    assert next(iter(patch.train))[1].shape == (8,) and patch.ignore_class is None
    multilabel = load_data(_config(labels_dir, tmp_path, model="compact_resnet", task="multilabel"))
    assert next(iter(multilabel.train))[1].shape == (8, 5)
    raw = _config(labels_dir, tmp_path)
    pixel = load_data(Config(DataConfig(**raw["data"]), ModelConfig("ann"), TaskConfig("multiclass"),
                             TrainingConfig(), OutputConfig()))
    x, y = next(iter(pixel.train))
    assert x.shape == (8, 7) and y.shape == (8,) and pixel.input_shape == (7,) and pixel.ignore_class is None


def test_unet_run_on_the_landsat_polygons(labels_dir, tmp_path):
    """A whole run: the ignore value reaches the loss and the evaluation (no class 255 in the report)."""
    result = train(_config(labels_dir, tmp_path, sampler={"type": "random", "length": 64, "balanced": True}))
    report = json.loads((result.run.path / "evaluation" / "metrics.json").read_text())
    assert np.isfinite(result.history["loss"]).all()
    assert len(report["confusion_matrix"]) == 5 and 0 <= report["overall_accuracy"] <= 1
    assert report["n"] < 0.05 * 10 * 32 * 32  # labelled pixels only, not the validation windows' 10,000+ pixels


def test_the_readme_configuration_trains(shared_data, tmp_path, monkeypatch):
    """README.md's configuration for source rasters is valid and trains (one epoch here), from the repository's
    folder where its ``../shared/data`` paths lead."""
    readme = (REPO / "README.md").read_text()
    blocks = [yaml.safe_load(b.split("```", 1)[0]) for b in readme.split("```yaml\n")[1:]]
    (config,) = [b for b in blocks if isinstance(b, dict) and b.get("data", {}).get("source") == "rasters"]
    monkeypatch.chdir(REPO)
    if not Path(config["data"]["images"]).exists():
        pytest.skip(f"{config['data']['images']} is not reachable from {REPO}")
    config["training"].update(epochs=1, verbose=0)
    config["output"] = {"run_dir": str(tmp_path / "landsat"), "tensorboard": False}
    result = train(config)
    assert (result.run.path / "model.keras").exists() and result.evaluation["n"] > 0
