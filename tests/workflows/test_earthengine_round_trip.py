"""The Earth Engine round trip on the real HLS raster: an image export in Earth Engine's layout (kernel
buffer, mixer.json) -> a U-Net -> the prediction TFRecord + mixer.json Earth Engine uploads."""

import numpy as np
import pytest
import rasterio

from rskeras.cli import main
from rskeras.data import assemble_scene, ee_patch_dataset, geotiff_to_ee_patches, read_mixer
from rskeras.layers import band_statistics
from rskeras.models import unet
from rskeras.workflows import predict_ee_export

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
