"""Hostile cases for ``rskeras beam chip`` and ``rskeras beam predict``: outputs onto their inputs, impossible
sizes, missing files, an interrupted chip run. Each checks the one-line error naming the option or file, the
inputs unchanged (checksums) and no output or temporary file left."""

from __future__ import annotations

import shutil

import pytest
import rasterio

from tests.hostile.conftest import assert_cli_error, leftovers

pytest.importorskip("apache_beam", reason="apache-beam is not installed (pip install 'rskeras[beam]')")


@pytest.fixture(scope="module")
def data(labels_dir, tmp_path_factory) -> dict:
    """The real Landsat 7 stack and its label raster in a folder of their own, and a tiny U-Net over its bands."""
    from rskeras.data.rasters import band_names
    from rskeras.models import unet

    folder = tmp_path_factory.mktemp("beam_inputs")
    scene = shutil.copy(labels_dir / "landsat7_1999_stack.tif", folder / "scene.tif")
    labels = shutil.copy(labels_dir / "landsat7_training_labels.tif", folder / "labels.tif")
    with rasterio.open(scene) as ds:
        names = band_names(ds)
    model = folder / "tiny.keras"
    unet((None, None, len(names)), depth=2, filters=4, band_names=names, class_names=["a", "b"]).save(model)
    return {"folder": folder, "scene": scene, "labels": labels, "model": model}


@pytest.mark.parametrize("pipeline", ["chip", "predict"])
def test_output_onto_an_input_is_refused_before_any_work(pipeline, data, unchanged, cli):
    head = ["beam", "chip"] if pipeline == "chip" else ["beam", "predict", data["model"]]
    with unchanged(data["folder"]):
        assert_cli_error(cli(*head, data["scene"], "--out", data["scene"]),
                         f"--out {data['scene']} is an existing file; give a folder")
        assert_cli_error(cli(*head, data["scene"], "--out", data["folder"]),
                         f"--out {data['folder']} and the input {data['scene']} would be inside each other")
    assert sorted(p.name for p in data["folder"].iterdir()) == ["labels.tif", "scene.tif", "tiny.keras"]


@pytest.mark.parametrize("options, needle", [
    (["--patch-size", "0"], "--patch-size must be a positive number of pixels"),
    (["--max-nodata", "2"], "--max-nodata is a fraction of a patch's pixels in [0, 1], got 2.0"),
    (["--bands", "99"], "99"),
])
def test_impossible_chip_options_name_the_option(options, needle, data, tmp_path, unchanged, cli):
    with unchanged(data["folder"]):
        assert_cli_error(cli("beam", "chip", data["scene"], "--labels", data["labels"], "--out", tmp_path / "c",
                             *options), needle)
    assert not (tmp_path / "c").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("options, needle", [
    (["--tile-size", "0"], "--tile-size must be 1 or more pixels, got 0"),
    (["--batch-size", "0"], "--batch-size must be 1 or more, got 0"),
])
def test_impossible_predict_sizes_are_refused_once_before_any_scene(options, needle, data, tmp_path, unchanged, cli):
    with unchanged(data["folder"]):
        assert_cli_error(cli("beam", "predict", data["model"], data["scene"], "--out", tmp_path / "m", *options),
                         needle)
    assert not (tmp_path / "m").exists()


def test_missing_model_and_scenes_are_named(data, tmp_path, cli):
    assert_cli_error(cli("beam", "predict", tmp_path / "none.keras", data["scene"], "--out", tmp_path / "m"),
                     f"model file {tmp_path / 'none.keras'} does not exist")
    assert_cli_error(cli("beam", "chip", tmp_path / "nothing*.tif", "--out", tmp_path / "c"),
                     f"the pattern '{tmp_path / 'nothing*.tif'}' matches no file")
    assert list(tmp_path.iterdir()) == []


def test_a_chip_run_failing_at_the_end_leaves_no_set_and_a_rerun_writes_one(data, tmp_path, monkeypatch, unchanged,
                                                                           cli):
    """A chip run that fails while writing its side files (a full disk) leaves no ``patches.json`` (the set is
    incomplete and says so by its absence); the rerun without ``--overwrite`` is not refused, removes the failed
    run's shards and writes the set."""
    import rskeras.beam.chip as chip

    out = tmp_path / "chips"

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    with unchanged(data["folder"]):
        monkeypatch.setattr(chip, "_write_side_files", fail)
        assert_cli_error(cli("beam", "chip", data["scene"], "--labels", data["labels"], "--out", out),
                         "No space left on device")
        assert not (out / "patches.json").exists() and leftovers(tmp_path) == []
        (out / "patches-00007.tfrecord.gz").write_bytes(b"a shard of a larger failed run")
        monkeypatch.undo()
        done = cli("beam", "chip", data["scene"], "--labels", data["labels"], "--out", out)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (out / "patches.json").exists() and (out / "band_stats.json").exists() and leftovers(tmp_path) == []
    assert sorted(p.name for p in out.glob("*.tfrecord.gz")) == ["patches-00000.tfrecord.gz"]  # the failed run's gone
