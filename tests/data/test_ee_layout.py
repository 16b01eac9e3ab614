"""Earth Engine TFRecord layout, mixer.json and band statistics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from rskeras.data import BandStats, Mixer, load_band_stats, read_mixer, save_band_stats, write_ee_patches, write_mixer
from rskeras.data.ee_records.layout import buffered_size, describe_length, encode_patch, kernel_margin
from rskeras.data.ee_records.stats import RANGE_SAMPLE_SIZE, RunningBandStats


def test_encode_patch_is_ee_layout():
    patch = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    ex = tf.train.Example.FromString(encode_patch(patch, ["B2", "B3"], {"landcover": 7}))
    feats = ex.features.feature
    assert sorted(feats) == ["B2", "B3", "landcover"]
    # one float_list per band, row-major (row 0 west to east first)
    assert list(feats["B2"].float_list.value) == [0, 2, 4, 6, 8, 10]
    assert list(feats["B3"].float_list.value) == [1, 3, 5, 7, 9, 11]
    assert list(feats["landcover"].float_list.value) == [7.0]


def test_write_ee_patches_gzip_and_count(tmp_path):
    path = tmp_path / "p.tfrecord.gz"
    n = write_ee_patches(path, np.zeros((3, 4, 4, 1)), ["b"], {"y": [0, 1, 2]})
    assert n == 3 and path.read_bytes()[:2] == b"\x1f\x8b"
    assert [p.name for p in tmp_path.iterdir()] == ["p.tfrecord.gz"]  # no temporary left
    with pytest.raises(ValueError, match="property .y. has 2 values for"):
        write_ee_patches(tmp_path / "q.tfrecord.gz", np.zeros((3, 4, 4, 1)), ["b"], {"y": [0, 1]})
    assert not (tmp_path / "q.tfrecord.gz").exists()


def test_kernel_buffer_sizes_and_messages():
    assert kernel_margin(128) == (64, 64)
    assert buffered_size(256, 128) == (384, 384)  # the tutorials' 256 + 128
    assert buffered_size((32, 16), (2, 4)) == (34, 20)
    assert describe_length(1, 8).endswith("a scalar property, not a patch")


def test_length_messages_claim_only_what_the_numbers_prove():
    # a 256 x 256 patch read as 64 (no mixer): the stored size is proved, its split into patch and buffer is not
    msg = describe_length(256 * 256, 64)
    assert msg.startswith("expected 64x64 = 4096 values per band but found 65536 = 256x256: ")
    assert "patch_size 256 without kernel_size or patch_size 64x64 with kernel_size 192" in msg
    assert msg.endswith("check the export's patchDimensions and kernelSize")
    # records of a kernelSize-60 export of 256 patches read with 32: the mixer fixes the patch, so the kernel follows
    assert describe_length(316 * 316, 256, 32, patch_from="scene-mixer.json") == (
        "expected 288x288 = 82944 values per band but found 99856 = 316x316: "
        "with the patch size 256x256 of scene-mixer.json that is kernel_size 60")
    # an odd excess: Earth Engine adds kernelSize // 2 on each side, so no kernel size gives it
    assert "no kernel size gives that" in describe_length(257 * 257, 256, patch_from="m.json")
    # fewer values than the patch itself
    assert "no kernel size gives that" in describe_length(64 * 64, 256, patch_from="m.json")
    # a rectangular patch: the one stored size whose sides grow by even numbers
    assert describe_length(34 * 20, (32, 16), patch_from="m.json").endswith(
        "kernel_size (2, 4) (Earth Engine's kernelSize [4, 2])")


def test_mixer_round_trip_and_validation(tmp_path):
    mixer = Mixer("EPSG:32614", (30.0, 0.0, 440280.0, 0.0, -30.0, 3159720.0), (64, 32), 4, 8)
    path = write_mixer(tmp_path / "x-mixer.json", mixer)
    data = json.loads(open(path).read())
    assert data == {
        "projection": {"crs": "EPSG:32614", "affine": {"doubleMatrix": [30.0, 0.0, 440280.0, 0.0, -30.0, 3159720.0]}},
        "patchDimensions": [32, 64],  # [width, height]
        "patchesPerRow": 4,
        "totalPatches": 8,
    }
    back = read_mixer(path)
    assert back == mixer and back.rows == 2
    data["patchesPerRow"] = 3
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="totalPatches 8 is not whole rows of patchesPerRow 3"):
        read_mixer(tmp_path / "bad.json")
    (tmp_path / "bad2.json").write_text(json.dumps({"patchDimensions": [2, 2]}))
    with pytest.raises(ValueError, match="lacks"):
        read_mixer(tmp_path / "bad2.json")


def test_band_stats_running_matches_numpy_and_saves(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal([100.0, -5.0], [10.0, 2.0], size=(5, 8, 8, 2))
    x[0, 0, 0, 0] = -9999.0
    running = RunningBandStats(["a", "b"], nodata=-9999.0)
    for chunk in x:
        running.update(chunk)
    stats = running.result()
    valid_a = x[..., 0][x[..., 0] != -9999.0]
    np.testing.assert_allclose(stats.mean, [valid_a.mean(), x[..., 1].mean()], rtol=1e-10)
    np.testing.assert_allclose(stats.std, [valid_a.std(), x[..., 1].std()], rtol=1e-10)
    assert stats.count == (319, 320)
    path = save_band_stats(stats, tmp_path)
    assert path.endswith("band_stats.json")
    loaded = load_band_stats(tmp_path)
    assert loaded.select(["b", "a"]).mean == (stats.mean[1], stats.mean[0])
    with pytest.raises(KeyError, match=r"hold no \['c'\]; they cover \['a', 'b'\]"):
        loaded.select(["c"])
    layer = loaded.to_layer(["a"])
    out = layer(np.full((1, 2, 2, 1), stats.mean[0], np.float32))
    np.testing.assert_allclose(np.asarray(out), 0.0, atol=1e-5)
    assert isinstance(loaded, BandStats)


def test_running_band_stats_merged_in_parts_equal_one_pass():
    """Statistics merged from parts (a Beam combiner's accumulators) have one pass's count, mean, std, min and max;
    past RANGE_SAMPLE_SIZE values the merged percentile sample stays that size and within the values' range."""
    rng = np.random.default_rng(0)
    parts = [rng.normal(loc, 3.0, size=(n, 2)) for loc, n in ((10.0, 70_000), (-5.0, 60_000), (0.0, 500))]
    whole = RunningBandStats(["a", "b"])
    whole.update(np.concatenate(parts))
    merged = RunningBandStats(["a", "b"])
    for values in parts:
        part = RunningBandStats(["a", "b"])
        part.update(values)
        merged.merge(part)
    want, got = whole.result(), merged.result()
    assert got.count == want.count == (130_500, 130_500)
    np.testing.assert_allclose(got.mean, want.mean, rtol=1e-12)
    np.testing.assert_allclose(got.std, want.std, rtol=1e-12)
    assert (got.ranges.minimum, got.ranges.maximum) == (want.ranges.minimum, want.ranges.maximum)
    assert all(sample.size == RANGE_SAMPLE_SIZE for sample in merged._samples)
    np.testing.assert_allclose(got.ranges.low, want.ranges.low, atol=0.3)
    np.testing.assert_allclose(got.ranges.high, want.ranges.high, atol=0.3)
