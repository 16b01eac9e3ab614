"""Hostile cases for every Earth Engine entry point: the mistakes a user makes with exports, mixers and outputs.

The export is written from the real HLS chip by rskeras' own writer in Earth Engine's layout (16 patches of
64 x 64 with an 8-pixel kernel, 6 patches per GZIP shard, a mixer.json); the model is a tiny U-Net. Every
case checks that the error names the fault; every case (``nothing_left_behind``) that the shared export and
model keep their checksums and that no temporary or partial file remains; cases that damage an export work on
their own copy and check it with ``unchanged`` where the call must not touch it.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
import tensorflow as tf
import yaml

from rskeras.cli import main
from rskeras.data import (
    Mixer,
    ee_patch_dataset,
    geotiff_to_ee_patches,
    predict_scene,
    read_mixer,
    read_scene_export,
    write_ee_patches,
    write_mixer,
)
from rskeras.io import TEMP_MARK
from rskeras.workflows import predict_ee_export
from tests.hostile.conftest import REPO, CliResult, assert_cli_error, checksums, leftovers, run_cli

NAMES = ["coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2"]
BANDS = ["blue", "green", "red", "nir"]
KERNEL = 8
SHARDS = "patches-*.tfrecord.gz"


@pytest.fixture(scope="module")
def export(hls_path, tmp_path_factory) -> Path:
    """An image export in Earth Engine's layout: 3 GZIP shards (6 + 6 + 4 patches) and patches-mixer.json."""
    out = tmp_path_factory.mktemp("export")
    geotiff_to_ee_patches(hls_path, out, 64, kernel_size=KERNEL, band_names=NAMES, max_nodata_fraction=1.0,
                          patches_per_file=6)
    return out


@pytest.fixture(scope="module")
def model_path(hls_path, tmp_path_factory) -> Path:
    from rskeras.layers import band_statistics
    from rskeras.models import unet

    with rasterio.open(hls_path) as src:
        raster = np.moveaxis(src.read([2, 3, 4, 5]), 0, -1)
    m = unet((None, None, 4), task="multiclass", n_outputs=3, depth=2, filters=4,
             band_stats=band_statistics(raster), band_names=BANDS, class_names=["a", "b", "c"])
    path = tmp_path_factory.mktemp("model") / "unet.keras"
    m.save(path)
    return path


@pytest.fixture(autouse=True)
def nothing_left_behind(export, model_path, tmp_path):
    """Every case: the shared export and model keep their checksums, and no temporary or partial file remains."""
    before = checksums(export, model_path)
    yield
    assert checksums(export, model_path) == before, "the export or the model was modified"
    assert leftovers(export) == [] and leftovers(tmp_path) == [], leftovers(export) + leftovers(tmp_path)


@pytest.fixture
def mine(export, tmp_path) -> Path:
    """A private copy of the export, for cases that damage it."""
    return Path(shutil.copytree(export, tmp_path / "export"))


def cli(capsys, *args) -> CliResult:
    """``rskeras ARGS`` in this process (fast); :func:`run_cli` runs a fresh one where that matters."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return CliResult(code, out, err)


def predict_ee(capsys, model_path, files, out, *options) -> CliResult:
    return cli(capsys, "predict-ee", model_path, files, out, "--bands", *BANDS, "--kernel-size", KERNEL, *options)


def truncate(path: Path, keep: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def assert_clean(*folders: Path) -> None:
    for folder in folders:
        assert leftovers(folder) == [], leftovers(folder)


def records_of(path: Path) -> int:
    return sum(1 for _ in tf.data.TFRecordDataset(str(path), compression_type="GZIP" if str(path).endswith(".gz") else ""))


# ----- rskeras predict-ee ------------------------------------------------------------------------------


def test_predict_ee_refuses_to_overwrite_its_own_input_shard(export, model_path, unchanged):
    """The issue's case, in a fresh process as a user types it: the output is one of the globbed inputs."""
    with unchanged(export):
        result = run_cli("predict-ee", model_path, export / SHARDS, export / "patches-00000.tfrecord.gz",
                         "--bands", *BANDS, "--kernel-size", KERNEL)
    assert_cli_error(result, "patches-00000.tfrecord.gz is also an input")
    assert not (export / "patches-00000-mixer.json").exists()
    assert_clean(export)


def test_predict_ee_refuses_an_output_matching_the_input_pattern(export, model_path, unchanged, capsys):
    with unchanged(export):
        result = predict_ee(capsys, model_path, export / SHARDS, export / "patches-pred.tfrecord.gz")
    assert_cli_error(result, "matches the input pattern", "a later run would read the predictions")
    assert sorted(p.name for p in export.iterdir() if "pred" in p.name) == []


@pytest.mark.parametrize("name", ["pred.tif", "pred.tfrecords", "pred.gz", "pred"])
def test_predict_ee_output_must_be_tfrecord(export, model_path, tmp_path, name, capsys):
    result = predict_ee(capsys, model_path, export / SHARDS, tmp_path / name)
    assert_cli_error(result, f"{name} must end in .tfrecord or .tfrecord.gz")
    assert list(tmp_path.iterdir()) == []


def test_predict_ee_output_that_is_a_folder(export, model_path, tmp_path, capsys):
    (tmp_path / "pred.tfrecord").mkdir()
    result = predict_ee(capsys, model_path, export / SHARDS, tmp_path / "pred.tfrecord")
    assert_cli_error(result, "is an existing directory")


def test_predict_ee_compression_follows_the_name(export, model_path, tmp_path, unchanged, capsys):
    with unchanged(export, model_path):
        for name in ("pred.tfrecord.gz", "plain.tfrecord"):
            assert predict_ee(capsys, model_path, export / SHARDS, tmp_path / name).returncode == 0
    assert (tmp_path / "pred.tfrecord.gz").read_bytes()[:2] == b"\x1f\x8b"
    assert (tmp_path / "plain.tfrecord").read_bytes()[:2] != b"\x1f\x8b"
    assert records_of(tmp_path / "pred.tfrecord.gz") == records_of(tmp_path / "plain.tfrecord") == 16
    assert read_mixer(tmp_path / "pred-mixer.json") == read_mixer(export / "patches-mixer.json")
    assert_clean(tmp_path)


def test_predict_ee_names_a_truncated_shard_and_writes_nothing(mine, model_path, tmp_path, capsys):
    truncate(mine / "patches-00001.tfrecord.gz", 0.5)
    out = tmp_path / "out"
    result = predict_ee(capsys, model_path, mine / SHARDS, out / "pred.tfrecord.gz")
    assert_cli_error(result, "patches-00001.tfrecord.gz is truncated or corrupt")
    assert not out.exists() or list(out.iterdir()) == []


def test_predict_ee_short_export_leaves_neither_records_nor_mixer(mine, model_path, tmp_path, unchanged, capsys):
    """The issue's case: fewer patches than the mixer says (a shard missing) -> both counts and the files named."""
    (mine / "patches-00001.tfrecord.gz").unlink()
    with unchanged(mine):
        result = predict_ee(capsys, model_path, mine / SHARDS, tmp_path / "pred.tfrecord")
    assert_cli_error(result, "patches-mixer.json says totalPatches 16 but 10 patches were predicted from",
                     "patches-00000.tfrecord.gz", "patches-00002.tfrecord.gz", "nothing was written")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]


def test_predict_ee_mixer_of_another_export(export, model_path, tmp_path, unchanged, capsys):
    """A 3 x 3 export's mixer (same patch size): the count is wrong; a 32-pixel export's: the size is wrong."""
    grid = read_mixer(export / "patches-mixer.json")
    small = write_mixer(tmp_path / "small-mixer.json", Mixer(grid.crs, grid.transform, (64, 64), 3, 9))
    other = write_mixer(tmp_path / "other-mixer.json", Mixer(grid.crs, grid.transform, (32, 32), 7, 49))
    with unchanged(export):
        result = predict_ee(capsys, model_path, export / SHARDS, tmp_path / "a.tfrecord", "--mixer", small)
        assert_cli_error(result, "small-mixer.json says totalPatches 9 but more predictions were given")
        result = predict_ee(capsys, model_path, export / SHARDS, tmp_path / "b.tfrecord", "--mixer", other)
        assert_cli_error(result, "found 5184 = 72x72: with the patch size 32x32 of", "other-mixer.json that is kernel_size 40")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other-mixer.json", "small-mixer.json"]


def test_predict_ee_wrong_band_lists_the_bands_the_records_hold(export, model_path, tmp_path, capsys):
    result = cli(capsys, "predict-ee", model_path, export / SHARDS, tmp_path / "p.tfrecord", "--bands", "B2", "B3",
                 "B4", "B8", "--kernel-size", KERNEL)
    assert_cli_error(result, "Feature: B2 (band) is required", "they hold: blue [5184], cirrus [5184], coastal [5184]")
    assert list(tmp_path.iterdir()) == []


def test_predict_ee_wrong_kernel_size_says_what_the_records_prove(export, model_path, tmp_path, capsys):
    result = cli(capsys, "predict-ee", model_path, export / SHARDS, tmp_path / "p.tfrecord", "--bands", *BANDS,
                 "--kernel-size", "32")
    assert_cli_error(result, "expected 96x96 = 9216 values per band but found 5184 = 72x72",
                     "patches-mixer.json that is kernel_size 8")


def test_predict_ee_empty_glob_and_bad_numbers(export, model_path, tmp_path, capsys):
    assert_cli_error(predict_ee(capsys, model_path, tmp_path / "nothing-*.tfrecord.gz", tmp_path / "p.tfrecord"),
                     "nothing-*.tfrecord.gz' matches no file")
    assert_cli_error(cli(capsys, "predict-ee", model_path, export / SHARDS, tmp_path / "p.tfrecord", "--bands", *BANDS,
                         "--kernel-size", "-2"), "--kernel-size must be zero or positive, got -2")
    assert_cli_error(predict_ee(capsys, model_path, export / SHARDS, tmp_path / "p.tfrecord", "--batch-size", "0"),
                     "--batch-size must be at least 1, got 0")
    assert list(tmp_path.iterdir()) == []


def test_predict_ee_paths_with_spaces_and_accents(export, model_path, tmp_path, capsys):
    folder = Path(shutil.copytree(export, tmp_path / "mes exports" / "Überflug ñ 2023"))
    out = tmp_path / "prédictions d'été" / "carte finale.tfrecord.gz"
    result = predict_ee(capsys, model_path, folder / SHARDS, out)
    assert result.returncode == 0, result.stderr
    assert records_of(out) == 16 and (out.parent / "carte finale-mixer.json").exists()
    assert_clean(tmp_path)


def test_predict_ee_output_under_a_file(export, model_path, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a folder")
    result = predict_ee(capsys, model_path, export / SHARDS, tmp_path / "notes.txt" / "pred.tfrecord")
    assert_cli_error(result, "notes.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders")
def test_predict_ee_read_only_output_folder(export, model_path, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        assert_cli_error(predict_ee(capsys, model_path, export / SHARDS, locked / "pred.tfrecord"), "locked")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


_SLOW_WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import rskeras.data.ee_records.layout as layout

    flag, calls, encode = Path(sys.argv[1]), [], layout.encode_patch

    def slow(*args, **kwargs):  # the writer stalls at its second record, its temporary file open
        calls.append(1)
        if len(calls) == 2:
            flag.write_text("writing")
            time.sleep(120)
        return encode(*args, **kwargs)

    layout.encode_patch = slow
    from rskeras.cli import main
    sys.exit(main(sys.argv[2:]))
""")


def _start_stalled_predict(export: Path, model_path: Path, out: Path, flag: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    args = ["predict-ee", model_path, export / SHARDS, out, "--bands", *BANDS, "--kernel-size", KERNEL]
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, flag, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while not flag.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.time() < deadline, "the writer never started"
        time.sleep(0.2)
    return proc


def test_predict_ee_sigterm_mid_write_leaves_nothing(export, model_path, tmp_path, unchanged):
    out = tmp_path / "out"
    with unchanged(export):
        proc = _start_stalled_predict(export, model_path, out / "pred.tfrecord.gz", tmp_path / "flag")
        assert any(TEMP_MARK in p.name for p in out.iterdir())  # the records were being written
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert list(out.iterdir()) == []  # no records, no mixer, no temporary


def test_predict_ee_sigkill_mid_write_then_rerun_cleans_up(export, model_path, tmp_path, unchanged, capsys):
    out = tmp_path / "out"
    with unchanged(export):
        proc = _start_stalled_predict(export, model_path, out / "pred.tfrecord.gz", tmp_path / "flag")
        proc.kill()
        proc.wait(timeout=60)
        visible = [p.name for p in out.iterdir() if not p.name.startswith(".")]
        assert visible == [] and leftovers(out)  # only hidden temporaries, which a killed process cannot remove
        assert predict_ee(capsys, model_path, export / SHARDS, out / "pred.tfrecord.gz").returncode == 0
    assert sorted(p.name for p in out.iterdir()) == ["pred-mixer.json", "pred.tfrecord.gz"]


# ----- predict_ee_export -------------------------------------------------------------------------------


def test_predict_ee_export_checks_outputs_before_loading_the_model(export, tmp_path, unchanged):
    missing_model = tmp_path / "not-yet-trained.keras"  # never opened: the output checks come first
    files = sorted(export.glob(SHARDS))
    with unchanged(export):
        with pytest.raises(ValueError, match="patches-00002.tfrecord.gz is also an input"):
            predict_ee_export(missing_model, files, files[2], BANDS, kernel_size=KERNEL)
        # the export's own mixer would be overwritten by the mixer of export/patches.tfrecord
        with pytest.raises(ValueError, match="its mixer .*patches-mixer.json is also an input"):
            predict_ee_export(missing_model, files, export / "patches.tfrecord", BANDS, kernel_size=KERNEL)
        with pytest.raises(ValueError, match="compression='GZIP' does not match the file name .*pred.tfrecord: name it "
                                             r"\*.tfrecord.gz"):
            predict_ee_export(missing_model, files, tmp_path / "pred.tfrecord", BANDS, compression="GZIP")
        with pytest.raises(ValueError, match="must end in .tfrecord or .tfrecord.gz"):
            predict_ee_export(missing_model, files, tmp_path / "unet.keras", BANDS)
        with pytest.raises(ValueError, match="unknown output 'masks'; choose one of auto, classes, probabilities, values"):
            predict_ee_export(missing_model, files, tmp_path / "pred.tfrecord", BANDS, output="masks")
    assert list(tmp_path.iterdir()) == []


def test_predict_ee_export_refuses_to_overwrite_the_model(export, model_path, unchanged):
    with unchanged(model_path):
        with pytest.raises(ValueError, match="must end in .tfrecord or .tfrecord.gz"):
            predict_ee_export(model_path, str(export / SHARDS), model_path, BANDS, kernel_size=KERNEL)


def test_predict_ee_export_writes_probabilities_with_gzip_from_the_name(export, model_path, tmp_path, unchanged):
    with unchanged(export, model_path):
        records, mixer = predict_ee_export(model_path, str(export / SHARDS), tmp_path / "p.tfrecord.gz", BANDS,
                                           kernel_size=KERNEL, output="probabilities")
    names = ["probability_a", "probability_b", "probability_c"]
    back = np.stack([x.numpy() for x in ee_patch_dataset(records, names, batch_size=None, ordered=True)])
    assert back.shape == (16, 64, 64, 3) and np.allclose(back.sum(-1), 1.0, atol=1e-4)
    assert Path(records).read_bytes()[:2] == b"\x1f\x8b" and Path(mixer).name == "p-mixer.json"


# ----- predict_scene -----------------------------------------------------------------------------------


class Centre:
    """A stand-in model: the first band of its (buffered) input."""

    def predict_on_batch(self, x):
        return np.asarray(x)[..., :1]


class Shrinking:
    """A model that returns patches of the wrong size."""

    def predict_on_batch(self, x):
        return np.asarray(x)[:, :50, :50, :1]


def test_predict_scene_gz_name_writes_gzip(export, tmp_path, unchanged):
    """The issue's case: predict_scene(model, scene, "x.tfrecord.gz") wrote plain records under a .gz name."""
    scene = read_scene_export(str(export / SHARDS), ["blue"], kernel_size=KERNEL)
    with unchanged(export):
        records, mixer = predict_scene(Centre(), scene, tmp_path / "x.tfrecord.gz", bands=["b"])
    assert Path(records).read_bytes()[:2] == b"\x1f\x8b" and records_of(Path(records)) == 16
    with pytest.raises(ValueError, match="compression=None does not match the file name .*y.tfrecord.gz: name it "
                                         r"\*.tfrecord \(without .gz\)"):
        predict_scene(Centre(), scene, tmp_path / "y.tfrecord.gz", bands=["b"], compression=None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x-mixer.json", "x.tfrecord.gz"]


def test_predict_scene_refuses_scene_files_and_bad_predictions(mine, tmp_path, unchanged):
    scene = read_scene_export(str(mine / SHARDS), ["blue"], kernel_size=KERNEL)
    with unchanged(mine):
        with pytest.raises(ValueError, match="patches-00001.tfrecord.gz is also an input"):
            predict_scene(Centre(), scene, mine / "patches-00001.tfrecord.gz")
        with pytest.raises(ValueError, match=r"prediction patches must be 64x64 \(or 72x72 with the kernel buffer\) "
                                             r"with 1 band\(s\), got shape \(50, 50, 1\)"):
            predict_scene(Shrinking(), scene, tmp_path / "p.tfrecord")
        with pytest.raises(ValueError, match="batch_size must be at least 1"):
            predict_scene(Centre(), scene, tmp_path / "p.tfrecord", batch_size=0)
    assert list(tmp_path.iterdir()) == [mine]
    assert_clean(mine)


def test_predict_scene_short_export_names_counts_and_files(mine, tmp_path, unchanged):
    scene = read_scene_export(str(mine / SHARDS), ["blue"], kernel_size=KERNEL)
    (mine / "patches-00002.tfrecord.gz").write_bytes(gzip.compress(b""))  # a shard that lost its patches
    with unchanged(mine):
        with pytest.raises(ValueError, match=r"patches-mixer.json says totalPatches 16 but 12 patches were predicted "
                                             r"from .*patches-00000.tfrecord.gz, .*patches-00002.tfrecord.gz; nothing was written"):
            predict_scene(Centre(), scene, tmp_path / "p.tfrecord.gz")
    assert list(tmp_path.iterdir()) == [mine]


# ----- read_scene_export -------------------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.0004, 0.05])
def test_read_scene_export_truncated_gzip_names_the_file(mine, keep, unchanged):
    """The issue's case: a truncated GZIP export gave DataLossError 'truncated record at 0' without a name."""
    first = mine / "patches-00000.tfrecord.gz"
    truncate(first, keep)
    with unchanged(mine):
        with pytest.raises(ValueError, match=r"GZIP TFRecord file .*patches-00000.tfrecord.gz is truncated or corrupt: "
                                             "record 0 cannot be read"):
            read_scene_export(str(mine / SHARDS), BANDS, kernel_size=KERNEL)


def test_read_scene_export_truncated_plain_export_names_the_file(export, tmp_path):
    records = list(tf.data.TFRecordDataset(str(export / "patches-00000.tfrecord.gz"), compression_type="GZIP"))
    plain = tmp_path / "scene-00000.tfrecord"
    with tf.io.TFRecordWriter(str(plain)) as writer:
        for record in records:
            writer.write(record.numpy())
    truncate(plain, 0.1)
    with pytest.raises(ValueError, match=r"TFRecord file .*scene-00000.tfrecord is truncated or is no TFRecord file: "
                                         r"record 0 announces 207\d+ bytes but the file ends first"):
        read_scene_export(plain, BANDS, mixer=export / "patches-mixer.json", kernel_size=KERNEL)


def test_read_scene_export_kernel_60_read_with_32_says_60(hls_path, tmp_path):
    """The issue's case: records of a kernelSize-60 export read with 32 suggested 28."""
    geotiff_to_ee_patches(hls_path, tmp_path, 64, kernel_size=60, band_names=NAMES, max_nodata_fraction=1.0)
    with pytest.raises(ValueError, match=r"expected 96x96 = 9216 values per band but found 15376 = 124x124: with the "
                                         r"patch size 64x64 of .*patches-mixer.json that is kernel_size 60$"):
        read_scene_export(str(tmp_path / SHARDS), BANDS, kernel_size=32)
    assert read_scene_export(str(tmp_path / SHARDS), BANDS, kernel_size=60).stored_size == (124, 124)


def test_read_scene_export_glob_that_catches_the_side_files(export):
    with pytest.raises(ValueError, match=r"files mix GZIP .* and plain TFRecord \(.*band_stats.json, .*patches-mixer.json"):
        read_scene_export(str(export / "*"), BANDS, kernel_size=KERNEL)


def test_read_scene_export_bad_mixers_folders_and_compression(export, tmp_path):
    with pytest.raises(ValueError, match="mixer file .*patches-00000.tfrecord.gz is not JSON"):
        read_scene_export(str(export / SHARDS), BANDS, mixer=export / "patches-00000.tfrecord.gz", kernel_size=KERNEL)
    (tmp_path / "list-mixer.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="list-mixer.json holds list, not a JSON object"):
        read_scene_export(str(export / SHARDS), BANDS, mixer=tmp_path / "list-mixer.json", kernel_size=KERNEL)
    with pytest.raises(ValueError, match=r"is a folder; give its TFRecord files \(a pattern such as"):
        read_scene_export(export, BANDS, kernel_size=KERNEL)
    with pytest.raises(ValueError, match="compression=None but .*patches-00000.tfrecord.gz.* are GZIP; leave compression='auto'"):
        read_scene_export(str(export / SHARDS), BANDS, kernel_size=KERNEL, compression=None)
    with pytest.raises(KeyError, match=r"Feature: B8 \(band\) is required .*they hold: blue \[5184\]"):
        read_scene_export(str(export / SHARDS), ["B8"], kernel_size=KERNEL)


# ----- ee_patch_dataset --------------------------------------------------------------------------------


def test_ee_patch_dataset_truncated_shard_in_training_names_it_without_hanging(mine, tmp_path):
    """The issue's case: a truncated shard in a training run (shuffle, cache, repeat) must not hang."""
    truncate(mine / "patches-00001.tfrecord.gz", 0.5)
    script = textwrap.dedent(f"""
        import keras
        from rskeras.data import ee_patch_dataset
        ds = ee_patch_dataset({str(mine / SHARDS)!r}, ["blue", "green"], label="red", patch_size=64, kernel_size=8,
                              batch_size=4, shuffle=16, cache="memory", repeat=True, augment=True)
        inputs = keras.Input((72, 72, 2))
        model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same")(inputs))
        model.compile("sgd", "mse")
        model.fit(ds, steps_per_epoch=8, epochs=3, verbose=0)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    started = time.time()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode != 0 and time.time() - started < 120
    assert "patches-00001.tfrecord.gz] [is truncated or corrupt" in done.stderr, done.stderr[-3000:]


def test_ee_patch_dataset_256_patch_read_as_64_gives_both_readings(hls_path, tmp_path):
    """The issue's case: a whole patch read with a smaller patch_size suggested only a kernel size."""
    with rasterio.open(hls_path) as src:
        chip = np.moveaxis(src.read([2, 3]), 0, -1)  # one 224 x 224 patch, no kernel buffer
    write_ee_patches(tmp_path / "whole.tfrecord.gz", chip[None], ["blue", "green"])
    with pytest.raises(ValueError, match=r"expected 64x64 = 4096 values per band but found 50176 = 224x224: .*"
                                         r"patch_size 224 without kernel_size or patch_size 64x64 with kernel_size 160; "
                                         r"check the export's patchDimensions and kernelSize"):
        ee_patch_dataset(tmp_path / "whole.tfrecord.gz", ["blue", "green"], patch_size=64)
    x = next(iter(ee_patch_dataset(tmp_path / "whole.tfrecord.gz", ["blue", "green"], batch_size=None)))
    np.testing.assert_array_equal(x.numpy(), chip)


def test_ee_patch_dataset_record_of_another_size_names_file_and_record(tmp_path):
    patches = [np.full((8, 8, 1), i, np.float32) for i in range(3)] + [np.zeros((9, 9, 1), np.float32)]
    write_ee_patches(tmp_path / "mixed.tfrecord.gz", patches, ["b"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"mixed.tfrecord.gz record 3, Key: b"):
        for _ in ee_patch_dataset(tmp_path / "mixed.tfrecord.gz", ["b"], batch_size=2):
            pass


def test_ee_patch_dataset_labels_empty_files_and_compression(export, tmp_path):
    write_ee_patches(tmp_path / "l.tfrecord.gz", np.zeros((2, 8, 8, 1)), ["blue"], {"mask": np.zeros((2, 10))})
    with pytest.raises(ValueError, match=r"label 'mask' .* is neither a scalar property nor a band: holds 10 values "
                                         r"where band 'blue' holds 8x8"):
        ee_patch_dataset(tmp_path / "l.tfrecord.gz", ["blue"], label="mask")
    with pytest.raises(KeyError, match=r"Feature: landcover \(label\) is required .*they hold: blue \[5184\]"):
        ee_patch_dataset(str(export / SHARDS), BANDS, label="landcover")
    write_ee_patches(tmp_path / "test.tfrecord.gz", [], ["blue"])
    with pytest.raises(ValueError, match=r"no patches: the 1 TFRecord file\(s\) \[.*test.tfrecord.gz\] hold no records"):
        ee_patch_dataset(tmp_path / "test.tfrecord.gz", ["blue"])
    with pytest.raises(ValueError, match="compression='' but .* are GZIP"):
        ee_patch_dataset(str(export / SHARDS), BANDS, compression="")
    with pytest.raises(ValueError, match="patch_size must be a whole number of pixels or \\(height, width\\), got 64.5"):
        ee_patch_dataset(str(export / SHARDS), BANDS, patch_size=64.5)


# ----- geotiff_to_ee_patches ---------------------------------------------------------------------------


def test_geotiff_to_ee_patches_refuses_bad_outputs_before_work(hls_path, tmp_path, unchanged):
    (tmp_path / "afile").write_text("x")
    with unchanged(hls_path):
        with pytest.raises(ValueError, match="out_dir .*afile is an existing file; give a folder"):
            geotiff_to_ee_patches(hls_path, tmp_path / "afile", 64)
        with pytest.raises(ValueError, match="prefix 'sub/patches' must be a plain file name start"):
            geotiff_to_ee_patches(hls_path, tmp_path / "out", 64, prefix="sub/patches")
        with pytest.raises(ValueError, match="stride must be positive, got 0"):
            geotiff_to_ee_patches(hls_path, tmp_path / "out", 64, stride=0)
        with pytest.raises(ValueError, match="band names must differ"):
            geotiff_to_ee_patches(hls_path, tmp_path / "out", 64, band_names=["b"] * 10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_geotiff_to_ee_patches_not_a_raster(tmp_path):
    fake = tmp_path / "scene.tif"
    fake.write_text("this is not a GeoTIFF")
    with pytest.raises(ValueError, match="cannot open raster .*scene.tif"):
        geotiff_to_ee_patches(fake, tmp_path / "out", 64)
    assert not (tmp_path / "out").exists()


def test_geotiff_to_ee_patches_rerun_replaces_the_previous_set(hls_path, tmp_path):
    first = geotiff_to_ee_patches(hls_path, tmp_path, 32, band_names=NAMES, patches_per_file=10)  # 49 -> 5 shards
    assert len(first.files) == 5 and first.mixer is not None
    second = geotiff_to_ee_patches(hls_path, tmp_path, 64, stride=48, band_names=NAMES, max_nodata_fraction=1.0,
                                   patches_per_file=10)  # 5 x 5 overlapping: no mixer
    assert len(second.files) == 3 and second.mixer is None
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "band_stats.json", "patches-00000.tfrecord.gz", "patches-00001.tfrecord.gz", "patches-00002.tfrecord.gz",
        "patches.json"]
    n = sum(x.shape[0] for x in ee_patch_dataset(str(tmp_path / SHARDS), ["blue"], batch_size=16))
    assert n == second.written == 25


def test_geotiff_to_ee_patches_sigkill_then_rerun(hls_path, tmp_path, unchanged):
    """Killed while writing its third shard: nothing visible; a rerun removes the temporaries and writes all."""
    out, flag = tmp_path / "ünïcode out", tmp_path / "flag"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        import rskeras.data.ee_records.layout as layout
        calls, encode = [], layout.encode_patch
        def slow(*args, **kwargs):
            calls.append(1)
            if len(calls) == 9:
                Path({str(flag)!r}).write_text("writing")
                time.sleep(120)
            return encode(*args, **kwargs)
        layout.encode_patch = slow
        from rskeras.data import geotiff_to_ee_patches
        geotiff_to_ee_patches({str(hls_path)!r}, {str(out)!r}, 64, kernel_size=8, max_nodata_fraction=1.0,
                              patches_per_file=4)
    """)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    with unchanged(hls_path):
        proc = subprocess.Popen([sys.executable, "-c", script], env=env, stderr=subprocess.PIPE)
        deadline = time.time() + 120
        while not flag.exists():
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.2)
        proc.kill()
        proc.wait(timeout=60)
        assert [p.name for p in out.iterdir() if not p.name.startswith(".")] == []
        assert len(leftovers(out)) == 3  # two whole shards and the third, all under hidden temporary names
        summary = geotiff_to_ee_patches(hls_path, out, 64, kernel_size=8, max_nodata_fraction=1.0, patches_per_file=4)
    assert summary.written == 16 and len(summary.files) == 4 and summary.mixer is not None
    assert_clean(out)
    assert json.loads(Path(summary.metadata).read_text())["files"] == [Path(f).name for f in summary.files]


# ----- write_ee_patches --------------------------------------------------------------------------------


def test_write_ee_patches_names_compression_and_partial_writes(hls_path, tmp_path):
    with rasterio.open(hls_path) as src:
        chips = np.moveaxis(src.read([2, 3]), 0, -1)[:192, :192].reshape(3, 64, 3, 64, 2).swapaxes(1, 2).reshape(9, 64, 64, 2)
    assert write_ee_patches(tmp_path / "a.tfrecord", chips, ["blue", "green"]) == 9
    assert (tmp_path / "a.tfrecord").read_bytes()[:2] != b"\x1f\x8b"  # plain under a plain name
    assert write_ee_patches(tmp_path / "a.tfrecord.gz", chips, ["blue", "green"]) == 9
    assert (tmp_path / "a.tfrecord.gz").read_bytes()[:2] == b"\x1f\x8b"
    with pytest.raises(ValueError, match=r"compression='GZIP' does not match the file name .*b.tfrecord"):
        write_ee_patches(tmp_path / "b.tfrecord", chips, ["blue", "green"], compression="GZIP")
    with pytest.raises(ValueError, match="b.tif must end in .tfrecord or .tfrecord.gz"):
        write_ee_patches(tmp_path / "b.tif", chips, ["blue", "green"])
    (tmp_path / "dir" / "a.tfrecord.gz").mkdir(parents=True)
    with pytest.raises(ValueError, match="a.tfrecord.gz is an existing directory"):
        write_ee_patches(tmp_path / "dir" / "a.tfrecord.gz", chips, ["blue", "green"])

    def stream():  # the fifth patch has a band too many: nothing may remain of the four before
        for i, chip in enumerate(chips):
            yield chip if i != 4 else np.concatenate([chip, chip[..., :1]], -1)

    with pytest.raises(ValueError, match=r"patch must be \(height, width, 2\) for bands \['blue', 'green'\], got shape \(64, 64, 3\)"):
        write_ee_patches(tmp_path / "c.tfrecord.gz", stream(), ["blue", "green"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tfrecord", "a.tfrecord.gz", "dir"]
    assert_clean(tmp_path)



# ----- pipelines/ --dry-run with a broken config -------------------------------------------------------


def _dry_run(script: str, tmp_path: Path, config: dict | str) -> subprocess.CompletedProcess:
    path = tmp_path / f"{script}.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return subprocess.run([sys.executable, str(REPO / "pipelines" / f"{script}.py"), "--dry-run", "--config", str(path)],
                          capture_output=True, text=True, timeout=120)


def _config(script: str) -> dict:
    return yaml.safe_load((REPO / "pipelines" / f"{script}.yaml").read_text())


def _broken(script: str, change) -> dict:
    cfg = _config(script)
    change(cfg)
    return cfg


@pytest.mark.parametrize("script, config, needle", [
    ("export_scene", "region: [\n  bbox: 1\n", "line 3, column 1: not valid YAML"),
    ("export_scene", _broken("export_scene", lambda c: c["region"].update(bbox=[11.2, 47.7, 11.4])),
     "region.bbox must be [west, south, east, north] in degrees, got [11.2, 47.7, 11.4]"),
    ("export_scene", _broken("export_scene", lambda c: c["region"].update(bbox=[11.4, 47.7, 11.2, 47.85])),
     "region.bbox must have west < east"),
    ("export_scene", _broken("export_scene", lambda c: c["format"].update(kernel_size=[-32, 32])),
     "format.kernel_size must be [x, y] whole pixel counts >= 0, got [-32, 32]"),
    ("export_scene", _broken("export_scene", lambda c: c.update(scale="10 m")), "scale must be a number > 0, got '10 m'"),
    ("export_scene", _broken("export_scene", lambda c: c.update(region=None)), "lacks the setting 'region.bbox'"),
    ("export_scene", _broken("export_scene", lambda c: c.update(sentinel2_bands=["B2", "B10"])),
     "sentinel2_bands ['B10'] are not Sentinel-2 L2A bands"),
    ("export_training_patches", _broken("export_training_patches", lambda c: c.update(patch_size=0)),
     "patch_size must be a whole number >= 1, got 0"),
    ("export_training_patches", _broken("export_training_patches", lambda c: c["dates"].update(end="2020-01-01")),
     "dates.start (2023-04-01) must come before dates.end (2020-01-01)"),
    ("upload_predictions", _broken("upload_predictions", lambda c: c.update(bands=[])),
     "bands must be a non-empty list of names, got []"),
    ("upload_predictions", _broken("upload_predictions", lambda c: c.pop("mixer")), "lacks the setting 'mixer'"),
])
def test_pipelines_dry_run_with_a_broken_config(script, config, needle, tmp_path):
    done = _dry_run(script, tmp_path, config)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and f"{script}.yaml" in lines[0], done.stderr
    assert done.stdout == ""


def test_pipelines_dry_run_with_a_missing_config(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "pipelines" / "export_scene.py"), "--dry-run", "--config",
                           str(tmp_path / "scene.yml")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.strip() == f"config file {tmp_path / 'scene.yml'} does not exist"
