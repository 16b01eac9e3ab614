"""The Earth Engine round trip on the real HLS raster: an image export in Earth Engine's layout (kernel
buffer, mixer.json) -> a U-Net -> the prediction TFRecord + mixer.json Earth Engine uploads."""

import keras
import numpy as np
import pytest
import rasterio

import rskeras
from rskeras.cli import main
from rskeras.data import (
    assemble_scene,
    ee_patch_dataset,
    geotiff_to_ee_patches,
    predict_scene,
    read_mixer,
    read_scene_export,
)
from rskeras.heads import output_head
from rskeras.layers import BandNormalization, band_statistics
from rskeras.models import ann, cnn, unet
from rskeras.workflows import predict_ee_export
from rskeras.workflows.ee_round_trip import upload_settings

NAMES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
BANDS = ["blue", "green", "red", "nir"]
KERNEL = 16  # 8 px of context on every side of each 64 px patch


@pytest.fixture(scope="module")
def export(hls_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("ee_export")
    summary = geotiff_to_ee_patches(hls_path, out, 64, kernel_size=KERNEL, band_names=NAMES,
                                    max_nodata_fraction=1.0, patches_per_file=6)
    with rasterio.open(hls_path) as src:
        raster = np.moveaxis(src.read([2, 3, 4, 5]), 0, -1)
    return out, summary, raster


@pytest.fixture(scope="module")
def model(export, tmp_path_factory):
    _, _, raster = export
    m = unet((None, None, 4), task="multiclass", n_outputs=3, depth=2, filters=4,
             band_stats=band_statistics(raster), band_names=BANDS, class_names=["a", "b", "c"])
    path = tmp_path_factory.mktemp("model") / "unet.keras"
    m.save(path)
    return m, path


def test_round_trip_lines_up_with_the_input_patches(export, model, tmp_path):
    out, summary, raster = export
    m, _ = model
    tfrecord, mixer_json = predict_ee_export(m, str(out / "patches-*.tfrecord.gz"), tmp_path / "pred.tfrecord",
                                             BANDS, kernel_size=KERNEL, output="probabilities")
    assert read_mixer(mixer_json) == read_mixer(summary.mixer)
    names = ["probability_a", "probability_b", "probability_c"]
    back = np.stack([x.numpy() for x in ee_patch_dataset(tfrecord, names, batch_size=None, ordered=True)])
    assert back.shape == (16, 64, 64, 3)
    # each uploaded patch is the model's prediction for the matching input patch, buffer cropped:
    mosaic = assemble_scene(back, read_mixer(mixer_json))[:224, :224]
    # past the raster's edge the writer fills the buffer with the raster's nodata (-9999)
    pad = (KERNEL // 2, 256 - 224 + KERNEL // 2)
    padded = np.pad(raster, (pad, pad, (0, 0)), constant_values=-9999.0)
    for row, col in [(0, 0), (1, 2), (3, 3)]:
        y0, x0 = row * 64, col * 64
        window = padded[y0:y0 + 64 + KERNEL, x0:x0 + 64 + KERNEL][None]
        expected = m.predict(window, verbose=0)[0, KERNEL // 2:-(KERNEL // 2), KERNEL // 2:-(KERNEL // 2)]
        got = mosaic[y0:y0 + 64, x0:x0 + 64]
        h, w = got.shape[:2]
        np.testing.assert_allclose(got, expected[:h, :w], atol=1e-5)


def test_command_writes_class_indexes(export, model, tmp_path, capsys):
    out, summary, _ = export
    m, path = model
    dst = tmp_path / "classes.tfrecord.gz"
    code = main(["predict-ee", str(path), str(out / "patches-*.tfrecord.gz"), str(dst),
                 "--bands", *BANDS, "--kernel-size", str(KERNEL)])
    assert code == 0 and dst.exists() and (tmp_path / "classes-mixer.json").exists()
    classes = np.stack([x.numpy() for x in ee_patch_dataset(dst, ["class"], batch_size=None, ordered=True)])
    assert classes.shape == (16, 64, 64, 1) and set(np.unique(classes)) <= {0.0, 1.0, 2.0}


def test_missing_band_is_named(export, model, tmp_path, capsys):
    out, _, _ = export
    _, path = model
    code = main(["predict-ee", str(path), str(out / "patches-*.tfrecord.gz"), str(tmp_path / "p.tfrecord"),
                 "--bands", "blue", "green", "red", "B8", "--kernel-size", str(KERNEL)])
    err = capsys.readouterr().err
    assert code == 2 and "B8" in err and "nir" in err
    assert not list(tmp_path.glob("p*"))


# ----- every model kind ---------------------------------------------------------------------------------------

CLASSES = ["a", "b", "c"]


def _scene_mosaic(tfrecord, mixer_json, bands) -> np.ndarray:
    """The uploaded predictions as one (224, 224, bands) mosaic over the raster."""
    back = np.stack([x.numpy() for x in ee_patch_dataset(tfrecord, bands, batch_size=None, ordered=True)])
    return assemble_scene(back, read_mixer(mixer_json))[:224, :224]


@pytest.fixture(scope="module")
def pixel_model(export):
    _, _, raster = export
    keras.utils.set_random_seed(1)
    return ann((4,), task="multiclass", class_names=CLASSES, band_names=BANDS, hidden=(8,),
               band_stats=band_statistics(raster))


@pytest.fixture(scope="module")
def patch_model(export):
    _, _, raster = export
    keras.utils.set_random_seed(2)
    return cnn((16, 16, 4), task="multiclass", class_names=CLASSES, band_names=BANDS, widths=(4, 8), hidden=(8,),
               band_stats=band_statistics(raster), batch_norm=False, dropout=0.0)


def test_pixel_model_predicts_every_pixel_like_predict_raster(export, pixel_model, hls_path, tmp_path):
    out, _, raster = export
    tfrecord, mixer_json = predict_ee_export(pixel_model, str(out / "patches-*.tfrecord.gz"), tmp_path / "p.tfrecord",
                                             kernel_size=KERNEL)  # bands from the model
    classes = _scene_mosaic(tfrecord, mixer_json, ["class"])[..., 0]
    expected = np.argmax(pixel_model.predict(raster.reshape(-1, 4), verbose=0), axis=-1).reshape(224, 224)
    np.testing.assert_array_equal(classes, expected)
    mapped = rskeras.predict_raster(pixel_model, hls_path, tmp_path / "map.tif", sensor="hls_l30", progress=False)
    with rasterio.open(mapped.dst) as src:
        np.testing.assert_array_equal(classes, src.read(1))


def test_patch_classifier_cells_match_predict_raster(export, patch_model, hls_path, tmp_path):
    out, _, _ = export
    files = str(out / "patches-*.tfrecord.gz")
    tfrecord, mixer_json = predict_ee_export(patch_model, files, tmp_path / "cells.tfrecord", kernel_size=KERNEL,
                                             output="probabilities")
    probabilities = _scene_mosaic(tfrecord, mixer_json, [f"probability_{c}" for c in CLASSES])
    mapped = rskeras.predict_raster(patch_model, hls_path, tmp_path / "cells.tif", sensor="hls_l30", tile_size=16,
                                    patch_output="pixel", probabilities=True, progress=False)
    with rasterio.open(mapped.probabilities) as src:
        expected = np.moveaxis(src.read(), 0, -1)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert len(np.unique(probabilities[:16, :16, 0])) == 1  # one prediction per 16 x 16 cell


def test_patch_classifier_slides_over_every_pixel(export, patch_model, hls_path, tmp_path):
    out, _, _ = export
    tfrecord, mixer_json = predict_ee_export(patch_model, str(out / "patches-*.tfrecord.gz"),
                                             tmp_path / "sliding.tfrecord", kernel_size=KERNEL, overlap=15)
    classes = _scene_mosaic(tfrecord, mixer_json, ["class"])[..., 0]
    mapped = rskeras.predict_raster(patch_model, hls_path, tmp_path / "sliding.tif", sensor="hls_l30", tile_size=16,
                                    overlap=15, patch_output="pixel", progress=False)
    with rasterio.open(mapped.dst) as src:
        expected = src.read(1)
    inner = (slice(8, -8), slice(8, -8))  # at the raster's edge predict_raster mirrors, the export holds nodata
    np.testing.assert_array_equal(classes[inner], expected[inner])


def test_two_inputs_read_bands_per_input(export, tmp_path):
    out, _, raster = export
    optical = keras.Input((None, None, 2), name="optical")
    infrared = keras.Input((None, None, 2), name="infrared")
    h = keras.layers.Concatenate()([BandNormalization(band_names=["blue", "green"])(optical),
                                    BandNormalization(band_names=["red", "nir"])(infrared)])
    h = keras.layers.Conv2D(3, 3, padding="same")(h)
    model = keras.Model({"optical": optical, "infrared": infrared}, output_head(h, "regression", 1, kind="conv"))
    bands = {"optical": ["blue", "green"], "infrared": ["red", "nir"]}
    tfrecord, mixer_json = predict_ee_export(model, str(out / "patches-*.tfrecord.gz"), tmp_path / "two.tfrecord",
                                             bands, kernel_size=KERNEL)
    values = _scene_mosaic(tfrecord, mixer_json, ["value"])
    expected = model.predict({"optical": raster[None, ..., :2], "infrared": raster[None, ..., 2:]}, verbose=0)[0]
    inner = (slice(8, 56), slice(8, 56))  # inside the first patch, away from every edge
    np.testing.assert_allclose(values[inner], expected[inner], atol=1e-4)


def test_predict_scene_names_the_bands_of_a_classifier(export, model, tmp_path):
    out, _, _ = export
    m, _ = model
    scene = read_scene_export(str(out / "patches-*.tfrecord.gz"), BANDS, kernel_size=KERNEL)
    tfrecord, mixer_json = predict_scene(m, scene, tmp_path / "scene.tfrecord")
    back = _scene_mosaic(tfrecord, mixer_json, ["probability_a", "probability_b", "probability_c"])
    np.testing.assert_allclose(back.sum(axis=-1), 1.0, atol=1e-5)
    assert upload_settings(m) == {"bands": ["class"], "pyramiding_policy": "MODE"}
    assert upload_settings(m, "probabilities")["pyramiding_policy"] == "MEAN"


def test_command_takes_a_pixel_model_and_its_bands(export, pixel_model, tmp_path, capsys):
    out, _, _ = export
    path = tmp_path / "ann.keras"
    pixel_model.save(path)
    dst = tmp_path / "ann.tfrecord.gz"
    code = main(["predict-ee", str(path), str(out / "patches-*.tfrecord.gz"), str(dst), "--kernel-size", str(KERNEL)])
    assert code == 0, capsys.readouterr().err
    assert "bands: ['class'], pyramiding_policy: MODE" in capsys.readouterr().out
    classes = np.stack([x.numpy() for x in ee_patch_dataset(dst, ["class"], batch_size=None, ordered=True)])
    assert classes.shape == (16, 64, 64, 1) and set(np.unique(classes)) <= {0.0, 1.0, 2.0}
