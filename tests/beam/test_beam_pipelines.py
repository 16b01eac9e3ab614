"""rskeras.beam on real scenes: chip_scenes against raster_dataset, predict_scenes against predict_raster, reruns,
interruptions and bad input. The scenes are tiles cut, with their georeferencing, from the real Landsat 7 stack and
its training-label raster in ../shared/data/labels; the pipelines run on Beam's local runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

beam = pytest.importorskip("apache_beam", reason="apache-beam is not installed (pip install 'rskeras[beam]')")

from rskeras.beam import chip_scenes, predict_scenes  # noqa: E402
from rskeras.data.rasters import band_names  # noqa: E402
from rskeras.io import TEMP_MARK  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["forest", "water", "herbaceous", "barren", "urban"]
PATCH = 16


def cut_tiles(src: Path, folder: Path, rows: int, cols: int) -> list[str]:
    """``src`` cut into ``rows x cols`` georeferenced tiles (band descriptions and nodata kept)."""
    tiles = []
    with rasterio.open(src) as ds:
        h, w = ds.height // rows, ds.width // cols
        for i in range(rows):
            for j in range(cols):
                window = Window(j * w, i * h, w, h)
                path = folder / f"{src.stem}_{i}{j}.tif"
                with rasterio.open(path, "w", **(ds.profile | {"width": w, "height": h,
                                                              "transform": ds.window_transform(window)})) as out:
                    out.write(ds.read(window=window))
                    for band, text in enumerate(ds.descriptions, start=1):
                        if text:
                            out.set_band_description(band, text)
                tiles.append(str(path))
    return tiles


@pytest.fixture(scope="module")
def scenes(labels_dir, tmp_path_factory) -> dict:
    """Six 125x83 px tiles of the 1999 stack, their label tiles, and a tiny U-Net over the stack's bands."""
    folder = tmp_path_factory.mktemp("scenes")
    images = cut_tiles(labels_dir / "landsat7_1999_stack.tif", folder, 2, 3)
    labels = cut_tiles(labels_dir / "landsat7_training_labels.tif", folder, 2, 3)
    from rskeras.models import unet

    with rasterio.open(images[0]) as ds:
        names = band_names(ds)
    model = folder / "tiny.keras"
    unet((None, None, len(names)), task="multiclass", depth=2, filters=4, band_names=names, class_names=CLASSES,
         name="tiny").save(model)
    return {"images": images, "labels": labels, "model": str(model), "folder": folder}


def read_records(files) -> list[bytes]:
    import tensorflow as tf

    return [r.numpy() for r in tf.data.TFRecordDataset(list(files), compression_type="GZIP")]


@pytest.mark.parametrize("sampler", ["grid", "balanced"])
def test_chipped_records_equal_raster_dataset(scenes, tmp_path, sampler):
    """The records hold raster_dataset's patches and targets value for value (sorted by window), and
    band_stats.json the statistics of their valid pixels."""
    from rskeras.data import RandomSampler, raster_dataset
    from rskeras.data.ee_records.example_codec import parse_float_examples
    from rskeras.data.ee_records.stats import RunningBandStats, load_band_stats
    from rskeras.data.raster_patches import open_patches

    chosen = "grid" if sampler == "grid" else RandomSampler(length=40, balanced=True)
    result = chip_scenes(scenes["images"], tmp_path / "chips", scenes["labels"], patch_size=PATCH, sampler=chosen,
                         windows_per_task=10, patches_per_file=30, seed=3)
    expected = list(raster_dataset(scenes["images"], scenes["labels"], patch_size=PATCH, sampler=chosen,
                                   batch_size=None, seed=3))
    bands = list(result.bands)
    parsed = parse_float_examples(read_records(result.files), [*bands, "label", "scene", "row", "col"])
    order = np.lexsort((parsed["col"][:, 0], parsed["row"][:, 0], parsed["scene"][:, 0]))
    images = np.stack([parsed[b] for b in bands], axis=-1)[order].reshape(-1, PATCH, PATCH, len(bands))
    labels = parsed["label"][order].reshape(-1, PATCH, PATCH, 1)

    opened = open_patches(scenes["images"], scenes["labels"], patch_size=PATCH, sampler=chosen, seed=3)
    windows = opened.plan.windows(0)
    kept_images, _, valid, kept = opened.reader.read(windows)
    where = windows[kept]  # raster_dataset's patches in its order, then sorted like the records
    expected_order = np.lexsort((where[:, 2], where[:, 1], where[:, 0]))
    assert result.written == len(expected) == len(kept) > 0 and len(result.files) > 1
    np.testing.assert_array_equal(images, np.stack([image.numpy() for image, _ in expected])[expected_order])
    np.testing.assert_array_equal(labels, np.stack([target.numpy() for _, target in expected])[expected_order])
    assert result.class_names == ("1", "2", "3", "4", "5")

    running = RunningBandStats(bands)
    running.update(kept_images.transpose(0, 2, 3, 1)[valid])
    want, got = running.result(), load_band_stats(result.stats)
    assert got.bands == tuple(bands) and got.count == want.count
    np.testing.assert_allclose(got.mean, want.mean, rtol=1e-9)
    np.testing.assert_allclose(got.std, want.std, rtol=1e-9)
    assert (got.ranges.minimum, got.ranges.maximum) == (want.ranges.minimum, want.ranges.maximum)


def test_chip_cli_reads_a_scene_list_csv_and_refuses_a_second_run(scenes, tmp_path):
    """``rskeras beam chip`` on a CSV of scene and label paths (relative to the CSV); an unreadable scene is named,
    the others chipped, exit status 1; the same folder again is refused without --overwrite."""
    from rskeras.cli import main

    rows = [f"{Path(i).name},{Path(label).name}" for i, label in zip(scenes["images"], scenes["labels"])]
    listing = scenes["folder"] / "scenes.csv"
    listing.write_text("scene,label\n" + "\n".join(rows + ["no_such_scene.tif,no_such_label.tif"]) + "\n")
    out = tmp_path / "chips"
    assert main(["beam", "chip", str(listing), "--out", str(out), "--patch-size", str(PATCH)]) == 1
    meta = (out / "patches.json").read_text()
    assert "no_such_scene.tif" in meta and len(list(out.glob("patches-*.tfrecord.gz"))) == 1
    assert main(["beam", "chip", str(listing), "--out", str(out), "--patch-size", str(PATCH)]) == 2


def read_map(path) -> tuple[np.ndarray, tuple]:
    with rasterio.open(path) as ds:
        return ds.read(), (ds.transform, ds.crs, ds.nodata)


def test_maps_equal_predict_raster_and_a_rerun_skips_them(scenes, tmp_path):
    """Every map equals predict_raster's for its scene; the summary has class areas and nodata shares; a rerun
    rewrites nothing; another model into the same folder is refused unless overwrite."""
    from rskeras import predict_raster

    out = tmp_path / "maps"
    result = predict_scenes(scenes["model"], scenes["images"][:4], out, tile_size=64, probabilities=True)
    assert result.written == 4 and not result.failed
    for scene in scenes["images"][:4]:
        stem = Path(scene).stem
        predict_raster(scenes["model"], scene, tmp_path / f"{stem}.tif", tile_size=64, probabilities=True,
                       progress=False)
        for name in (f"{stem}.tif", f"{stem}_probabilities.tif"):
            got, where = read_map(out / name)
            want, want_where = read_map(tmp_path / name)
            np.testing.assert_array_equal(got, want)
            assert where == want_where
    row = result.rows[0]
    assert row["status"] == "written" and float(row["nodata_share"]) == 0.0
    assert sum(float(v) for k, v in row.items() if k.startswith("area_ha:")) == pytest.approx(125 * 83 * 0.09, rel=1e-6)

    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("[!.]*.tif")}
    again = predict_scenes(scenes["model"], scenes["images"][:4], out, tile_size=64, probabilities=True)
    assert again.skipped == 4 and again.written == 0
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("[!.]*.tif")} == before

    with pytest.raises(ValueError, match="maps of another model or other options"):
        predict_scenes(scenes["model"], scenes["images"][:4], out, tile_size=128, probabilities=True)


KILLED_RUN = textwrap.dedent("""
    import os, signal, sys
    import rskeras.inference.writer as writer
    from rskeras.beam import predict_scenes

    calls = []
    real_write = writer.GeoTIFFOutputs.write

    def write(self, index, array, window):  # the third map dies half-written, as a worker killed outright
        real_write(self, index, array, window)
        calls.append(self)
        if len({id(c) for c in calls}) == 3:
            os.kill(os.getpid(), signal.SIGKILL)

    writer.GeoTIFFOutputs.write = write
    predict_scenes(sys.argv[1], sys.argv[3:], sys.argv[2], tile_size=32)
""")


def test_a_killed_run_restarted_completes_every_map_once(scenes, tmp_path):
    """A run killed (SIGKILL) while writing its third map leaves two complete maps and a temporary; the restart
    writes the other maps, removes the temporary and rewrites neither complete map."""
    out = tmp_path / "maps"
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, str(script), scenes["model"], str(out), *scenes["images"]], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    complete = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.glob("[!.]*.tif")}
    assert len(complete) == 2 and len(list(out.glob(f".*{TEMP_MARK}*"))) == 1

    result = predict_scenes(scenes["model"], scenes["images"], out, tile_size=32,
                            pipeline_options=["--direct_num_workers", "2", "--direct_running_mode", "multi_processing"])
    assert (result.skipped, result.written) == (2, len(scenes["images"]) - 2)
    assert {name: (p.stat().st_ino, p.stat().st_mtime_ns) for name in complete for p in [out / name]} == complete
    assert not list(out.glob(f".*{TEMP_MARK}*"))
    for scene in scenes["images"]:
        values, _ = read_map(out / f"{Path(scene).stem}.tif")
        assert values.shape == (1, 125, 83)


def test_bad_input_is_named(scenes, tmp_path, labels_dir, capsys):
    """A missing scene is named in the summary and the exit status, the others mapped; scenes with other band
    layouts and runner options Beam does not know are refused before any work."""
    from rskeras.cli import main

    missing = tmp_path / "gone.tif"
    code = main(["beam", "predict", scenes["model"], scenes["images"][0], str(missing), "--out", str(tmp_path / "m"),
                 "--tile-size", "64"])
    err = capsys.readouterr().err
    assert code == 1 and f"failed: {missing}: raster not found: {missing}" in err
    assert (tmp_path / "m" / f"{Path(scenes['images'][0]).stem}.tif").exists()

    other = str(labels_dir.parent / "rasters" / "hls_10band_224.tif")
    with pytest.raises(ValueError, match="different band layouts.*hls_10band_224.tif: 10 bands"):
        predict_scenes(scenes["model"], [scenes["images"][0], other], tmp_path / "x")
    code = main(["beam", "predict", scenes["model"], scenes["images"][0], "--out", str(tmp_path / "y"),
                 "--direct_num_worker", "2"])
    assert code == 2 and "Discarding unparseable args: ['--direct_num_worker', '2']" in capsys.readouterr().err
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


def test_local_worker_processes_share_the_cores_between_their_tensorflows(monkeypatch):
    """The DirectRunner's worker processes get cores // workers TensorFlow threads each; other runs keep
    TensorFlow's default."""
    from rskeras.beam.options import pipeline_options
    from rskeras.beam.predict import worker_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    local = ["--direct_running_mode", "multi_processing", "--direct_num_workers"]
    assert worker_threads(pipeline_options(local + ["2"])) == 4
    assert worker_threads(pipeline_options(local + ["3"])) == 2
    assert worker_threads(pipeline_options(local + ["16"])) == 1
    assert worker_threads(pipeline_options(local + ["0"])) == 1  # 0: one worker per core
    assert worker_threads(pipeline_options(local + ["1"])) is None
    assert worker_threads(pipeline_options(["--direct_num_workers", "2"])) is None  # threads of one process
    assert worker_threads(pipeline_options(None)) is None
    assert worker_threads(pipeline_options(["--runner", "DataflowRunner"])) is None
