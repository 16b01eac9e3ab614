"""Scene round trip on the real HLS raster: chips with kernel buffer -> read in order -> identity
"model" -> predictions written back -> patches equal the unbuffered input and assemble to the raster."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio

from rskeras.data import (
    Mixer,
    assemble_scene,
    ee_patch_dataset,
    geotiff_to_ee_patches,
    predict_scene,
    read_mixer,
    read_scene_export,
    write_mixer,
    write_scene_predictions,
)

KERNEL = 8  # 4 pixels of buffer on every side
BANDS = ["blue", "green", "red", "nir"]
NAMES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]


class CentreIdentity:
    """A stand-in model: returns its (buffered) input, so predictions must equal the input's centre."""

    def predict_on_batch(self, x):
        return np.asarray(x)


@pytest.fixture(scope="module")
def scene(hls_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("scene")
    summary = geotiff_to_ee_patches(hls_path, out, 64, kernel_size=KERNEL, band_names=NAMES, max_nodata_fraction=1.0, patches_per_file=5)
    with rasterio.open(hls_path) as src:
        raster = np.moveaxis(src.read(), 0, -1)
    return out, summary, raster


def test_chips_write_an_ee_image_export(scene):
    out, summary, raster = scene
    assert summary.written == 16 and summary.skipped == 0  # 224 px -> 4 x 4 patches of 64 (last ones padded)
    assert len(summary.files) == 4  # 5 patches per file
    mixer = read_mixer(summary.mixer)
    assert mixer.patch_size == (64, 64) and mixer.patches_per_row == 4 and mixer.total_patches == 16
    assert mixer.transform[0] == 30.0 and mixer.crs == "EPSG:32614"
    meta = json.loads(open(summary.metadata).read())
    assert meta["stored_size"] == [72, 72] and meta["origins"][:2] == [[0, 0], [0, 64]]


def test_round_trip_identity_model(scene, tmp_path):
    out, summary, raster = scene
    export = read_scene_export(str(out / "patches-*.tfrecord.gz"), BANDS, kernel_size=KERNEL)
    assert export.stored_size == (72, 72)
    stored = np.concatenate([b.numpy() for b in export.dataset(batch_size=3)])
    assert stored.shape == (16, 72, 72, 4)
    # patch 5 (row 1, col 1) holds raster rows 60..132, cols 60..132 with its buffer
    np.testing.assert_array_equal(stored[5], raster[60:132, 60:132, 1:5])

    tfrecord, mixer_json = predict_scene(CentreIdentity(), export, tmp_path / "pred.tfrecord", bands=["b", "g", "r", "n"], batch_size=3)
    assert read_mixer(mixer_json) == export.mixer
    back = np.stack([x.numpy() for x in ee_patch_dataset(tfrecord, ["b", "g", "r", "n"], batch_size=None, ordered=True)])
    assert back.shape == (16, 64, 64, 4)
    np.testing.assert_array_equal(back, stored[:, 4:-4, 4:-4, :])  # the central, unbuffered parts
    mosaic = assemble_scene(back, export.mixer)
    np.testing.assert_array_equal(mosaic[:224, :224], raster[..., 1:5])


def test_scene_errors(scene, tmp_path):
    out, summary, _ = scene
    with pytest.raises(ValueError, match=r"found 5184 = 72x72: with the patch size 64x64 of .*patches-mixer\.json that is kernel_size 8$"):
        read_scene_export(str(out / "patches-*.tfrecord.gz"), BANDS)  # kernel_size forgotten
    wrong = Mixer("EPSG:32614", (30.0, 0, 0, 0, -30.0, 0), (64, 64), 4, 12)
    with pytest.raises(ValueError, match="the mixer says totalPatches 12 but more predictions were given; nothing was written"):
        write_scene_predictions(tmp_path / "p.tfrecord", np.zeros((16, 64, 64, 1)), ["x"], wrong)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="the mixer says totalPatches 12 but 10 predictions were given"):
        write_scene_predictions(tmp_path / "p.tfrecord", np.zeros((10, 72, 72, 1)), ["x"], wrong, kernel_size=KERNEL)
    assert list(tmp_path.iterdir()) == []  # neither the records nor the mixer
    with pytest.raises(ValueError, match=r"must be 64x64 \(or 72x72 with the kernel buffer\)"):
        write_scene_predictions(tmp_path / "p.tfrecord", np.zeros((12, 70, 70, 1)), ["x"], wrong, kernel_size=KERNEL)
    write_mixer(tmp_path / "m.json", wrong)
    with pytest.raises(KeyError, match="Feature: swir9"):
        read_scene_export(str(out / "patches-*.tfrecord.gz"), ["swir9"], mixer=tmp_path / "m.json", kernel_size=KERNEL)
