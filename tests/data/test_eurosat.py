"""rskeras.data.eurosat_dataset: the shared folder with split CSVs, a folder without them, bands, tfds offline."""

import json

import numpy as np
import pytest
import tensorflow as tf

from rskeras.data.eurosat_dataset import (
    EUROSAT_CLASSES,
    eurosat,
    eurosat_class_names,
    eurosat_files,
    resolve_bands,
)


def test_shared_folder_with_split_csvs(eurosat_dir):
    ds = eurosat(eurosat_dir, "validation", batch_size=8, limit=16)
    images, labels = next(iter(ds))
    assert images.shape == (8, 64, 64, 3) and images.dtype == tf.float32 and labels.dtype == tf.int32
    assert 0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 255
    assert float(tf.reduce_max(images)) > 1  # raw 0-255 values, not rescaled
    files = eurosat_files(eurosat_dir, "validation")
    assert len(files.paths) == 5400 and files.class_names == list(EUROSAT_CLASSES)
    names = json.loads((eurosat_dir / "label_map.json").read_text())
    for path, label in zip(files.paths[:8], labels.numpy()):
        assert names[path.split("/")[-2]] == label  # the class folder agrees with the CSV label
    assert sum(len(b[1]) for b in ds) == 16
    assert eurosat_class_names(eurosat_dir) == list(EUROSAT_CLASSES)
    import rskeras.data

    assert rskeras.data.eurosat(eurosat_dir, "train", limit=3, batch_size=None).cardinality() == 3


def _write_archive(root, per_class=5):
    rng = np.random.default_rng(0)
    for name in EUROSAT_CLASSES[:3]:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            (root / name / f"{name}_{i}.jpg").write_bytes(tf.io.encode_jpeg(image).numpy())


def test_folder_without_csvs_gets_a_seeded_stratified_split(tmp_path):
    _write_archive(tmp_path)
    train = eurosat_files(tmp_path, "train", seed=1)
    validation = eurosat_files(tmp_path, "validation", seed=1)
    assert len(train.paths) == 12 and len(validation.paths) == 3 and not set(train.paths) & set(validation.paths)
    assert sorted(validation.labels.tolist()) == [0, 1, 2]
    assert eurosat_files(tmp_path, "train", seed=1).paths == train.paths
    images, labels = next(iter(eurosat(tmp_path, "all", bands=["green"], batch_size=None)))
    assert images.shape == (64, 64, 1) and int(labels) == 0


def test_band_names_and_errors(tmp_path):
    assert resolve_bands("rgb") == ("rgb", [0, 1, 2], ["red", "green", "blue"])
    kind, index, names = resolve_bands(["nir", "B4"])
    assert kind == "ms" and index == [7, 3] and names == ["B8", "B4"]
    assert len(resolve_bands("all")[1]) == 13
    with pytest.raises(KeyError, match="no band 'B13'; bands: B1, B2"):
        resolve_bands(["B13"])
    with pytest.raises(ValueError, match="unknown EuroSAT split 'test'; choose one of train, validation, all"):
        eurosat(tmp_path, "test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        eurosat(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no .jpg/.jpeg/.png images in the class folders"):
        (tmp_path / "Forest").mkdir()
        eurosat(tmp_path)


def test_tfds_without_network_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"EuroSAT through tensorflow-datasets \('eurosat/rgb'.*download=False"
                       r".*pass root= a folder laid out like the EuroSAT archive"):
        eurosat(None, data_dir=tmp_path, download=False)
