"""ee_patch_dataset: values, labels, options and the errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from rskeras.data import compute_band_stats, ee_patch_dataset, save_band_stats, write_ee_patches
from rskeras.data.ee_records.stats import BandStats

BANDS = ["B2", "B3", "B4"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    """Two GZIP shards of 6 patches 8x8 with 3 bands, a mask band and a class property."""
    folder = tmp_path_factory.mktemp("ee")
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 1000, size=(12, 8, 8, 3)).astype(np.float32)
    masks = (patches[..., :1] > 500).astype(np.float32)
    classes = np.arange(12) % 3
    for i in range(2):
        sl = slice(6 * i, 6 * i + 6)
        write_ee_patches(folder / f"train-{i:05d}.tfrecord.gz", np.concatenate([patches[sl], masks[sl]], -1), BANDS + ["mask"], {"landcover": classes[sl]})
    return folder, patches, masks, classes


def test_scalar_label_values_and_band_order(shards):
    folder, patches, _, classes = shards
    ds = ee_patch_dataset(str(folder / "train-*.tfrecord.gz"), ["B4", "B2"], label="landcover", batch_size=5, ordered=True, label_dtype="int32")
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    assert [x.shape for x in images] == [(5, 8, 8, 2), (5, 8, 8, 2), (2, 8, 8, 2)]
    np.testing.assert_array_equal(np.concatenate(images), patches[..., [2, 0]])
    np.testing.assert_array_equal(np.concatenate(labels), classes)
    assert labels[0].dtype == np.int32


def test_mask_label_joint_augmentation_shuffle_repeat(shards):
    folder, *_ = shards
    ds = ee_patch_dataset(folder / "train-00000.tfrecord.gz", BANDS, label="mask", patch_size=8, batch_size=4, shuffle=8, augment=True, repeat=2, seed=3)
    n = 0
    for x, y in ds:
        assert y.shape[1:] == (8, 8, 1)
        # the mask was made from B2 > 500: still true after the joint flips/rotations
        np.testing.assert_array_equal(y.numpy()[..., 0], (x.numpy()[..., 0] > 500).astype(np.float32))
        n += x.shape[0]
    assert n == 12


def _symmetries(patch: np.ndarray) -> list[np.ndarray]:
    """The 8 flips and 90-degree rotations of a square patch (height, width, bands)."""
    rotations = [np.rot90(patch, k, axes=(0, 1)) for k in range(4)]
    return rotations + [r[:, ::-1] for r in rotations]


def test_augmentation_draws_symmetries_per_patch_from_the_cache(shards):
    """Cached parsed patches are augmented anew every epoch, each patch on its own draw; the scalar
    label stays with its patch and every output is one of the 8 symmetries of its source patch."""
    folder, patches, _, classes = shards
    ds = ee_patch_dataset(str(folder / "*.gz"), BANDS, label="landcover", batch_size=12, ordered=True, augment=True, cache="memory", repeat=8, seed=1)
    seen = [set() for _ in range(12)]
    for x, y in ds:
        assert x.shape == (12, 8, 8, 3)
        for i, (patch, cls) in enumerate(zip(x.numpy(), y.numpy())):
            assert cls == classes[i]
            match = [k for k, s in enumerate(_symmetries(patches[i])) if np.array_equal(patch, s)]
            assert len(match) == 1, f"patch {i} is not a flip/rotation of its source"
            seen[i].add(match[0])
    assert set().union(*seen) == set(range(8))  # all 8 symmetries drawn
    assert all(len(s) > 1 for s in seen)  # every patch drawn anew across epochs


def test_non_square_patches_are_only_flipped(tmp_path):
    rng = np.random.default_rng(5)
    patches = rng.integers(0, 100, size=(4, 4, 6, 1)).astype(np.float32)
    write_ee_patches(tmp_path / "p.tfrecord.gz", np.concatenate([patches, patches], -1), ["B1", "m"])
    ds = ee_patch_dataset(tmp_path / "p.tfrecord.gz", ["B1"], label="m", patch_size=(4, 6), batch_size=None, ordered=True, augment=True, repeat=4)
    for i, (x, y) in enumerate(ds):
        assert x.shape == (4, 6, 1)
        np.testing.assert_array_equal(x.numpy(), y.numpy())
        flips = [patches[i % 4], patches[i % 4][::-1], patches[i % 4][:, ::-1], patches[i % 4][::-1, ::-1]]
        assert any(np.array_equal(x.numpy(), f) for f in flips)


def test_bands_by_input_name_for_multi_input_models(shards):
    """A mapping of bands gives a dict of images per model input; flips move every input and the mask together."""
    folder, patches, masks, _ = shards
    ds = ee_patch_dataset(str(folder / "*.gz"), {"multispectral": ["B4", "B2"], "multiview": ["B3"]}, label="mask", batch_size=12, ordered=True)
    x, y = next(iter(ds))
    assert set(x) == {"multispectral", "multiview"}
    np.testing.assert_array_equal(x["multispectral"].numpy(), patches[..., [2, 0]])
    np.testing.assert_array_equal(x["multiview"].numpy(), patches[..., 1:2])
    np.testing.assert_array_equal(y.numpy(), masks)
    augmented = ee_patch_dataset(str(folder / "*.gz"), {"a": ["B2"], "b": ["B2", "B3"]}, label="mask", batch_size=4, augment=True, shuffle=12, seed=2)
    for x, y in augmented:
        np.testing.assert_array_equal(x["a"].numpy()[..., 0], x["b"].numpy()[..., 0])
        np.testing.assert_array_equal(y.numpy()[..., 0], (x["a"].numpy()[..., 0] > 500).astype(np.float32))
    with pytest.raises(ValueError, match="none for \\['b'\\]"):
        ee_patch_dataset(str(folder / "*.gz"), {"a": ["B2"], "b": []})
    with pytest.raises(KeyError, match="B9"):
        ee_patch_dataset(str(folder / "*.gz"), {"a": ["B2"], "b": ["B9"]})


def test_unbatched_cache_and_images_only(shards, tmp_path):
    folder, patches, *_ = shards
    for cache in (tmp_path / "cache", "memory"):
        ds = ee_patch_dataset([folder / "train-00000.tfrecord.gz"], ["B3"], batch_size=None, ordered=True, cache=cache)
        for _ in range(2):  # a second iterator (epoch) reads the cache
            xs = np.stack([x.numpy() for x in ds])
            np.testing.assert_array_equal(xs, patches[:6, :, :, 1:2])
    assert (tmp_path / "cache.index").exists()


def test_normalize_from_saved_stats(shards, tmp_path):
    folder, patches, *_ = shards
    stats = compute_band_stats(str(folder / "*.tfrecord.gz"), BANDS)
    np.testing.assert_allclose(stats.mean, patches.reshape(-1, 3).mean(0), rtol=1e-6)
    path = save_band_stats(stats, tmp_path / "s.json")
    x = np.concatenate([b.numpy() for b in ee_patch_dataset(str(folder / "*.gz"), BANDS, batch_size=12, ordered=True, normalize=path)])
    np.testing.assert_allclose(x.reshape(-1, 3).mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x.reshape(-1, 3).std(0), 1.0, atol=1e-4)
    with pytest.raises(FileNotFoundError, match="band_stats.json"):
        ee_patch_dataset(str(folder / "*.gz"), BANDS, normalize="auto")
    with pytest.raises(KeyError, match="B8"):
        ee_patch_dataset(str(folder / "*.gz"), ["B8"], normalize=BandStats(("B2",), (0.0,), (1.0,)))


def test_missing_band_names_it_and_lists_features(shards):
    folder, *_ = shards
    with pytest.raises(KeyError, match=r"Feature: B8 \(band\) is required but could not be found.*B2 \[64\], B3 \[64\], B4 \[64\], landcover \[1\], mask \[64\]"):
        ee_patch_dataset(str(folder / "*.gz"), ["B2", "B8"])
    with pytest.raises(KeyError, match=r"Feature: cls \(label\)"):
        ee_patch_dataset(str(folder / "*.gz"), ["B2"], label="cls")


def test_patch_size_mismatch_explains_kernel_buffer(tmp_path):
    write_ee_patches(tmp_path / "k.tfrecord.gz", np.zeros((2, 34, 34, 1)), ["B2"])
    with pytest.raises(ValueError, match=r"expected 32x32 = 1024 values per band but found 1156 = 34x34: .*patch_size 34 "
                                         r"without kernel_size or patch_size 32x32 with kernel_size 2"):
        ee_patch_dataset(tmp_path / "k.tfrecord.gz", ["B2"], patch_size=32)
    ds = ee_patch_dataset(tmp_path / "k.tfrecord.gz", ["B2"], patch_size=32, kernel_size=2, batch_size=2)
    assert next(iter(ds)).shape == (2, 34, 34, 1)


def test_empty_pattern_and_empty_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="matches no file"):
        ee_patch_dataset(str(tmp_path / "nothing-*.tfrecord.gz"), ["B2"])
    write_ee_patches(tmp_path / "test.tfrecord.gz", [], ["B2"])
    with pytest.raises(ValueError, match="hold no records"):
        ee_patch_dataset(tmp_path / "test.tfrecord.gz", ["B2"])


def test_truncated_file_error_names_it_and_skip_keeps_the_rest(shards, tmp_path, capfd):
    folder, *_ = shards
    good = folder / "train-00000.tfrecord.gz"
    bad = tmp_path / "cut.tfrecord.gz"
    data = good.read_bytes()
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"TFRecord file.*cut\.tfrecord\.gz.*truncated or corrupt"):
        for _ in ee_patch_dataset([good, bad], BANDS, batch_size=4, ordered=True):
            pass
    n = sum(x.shape[0] for x in ee_patch_dataset([good, bad], BANDS, batch_size=4, on_corrupt="skip"))
    assert 6 <= n < 12
    err = capfd.readouterr().err
    assert "cut.tfrecord.gz" in err and f"kept its first {n - 6} records" in err


def test_fits_under_tf_distribute(shards):
    import keras

    folder, *_ = shards
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    ds = ee_patch_dataset(str(folder / "*.gz"), BANDS, label="mask", batch_size=4, shuffle=4, augment=True, repeat=True, drop_remainder=True)
    with strategy.scope():
        inputs = keras.Input((8, 8, 3))
        model = keras.Model(inputs, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(inputs))
        model.compile(optimizer="sgd", loss="binary_crossentropy")
    history = model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
