"""Augmentation of multispectral patches: joint geometry, ignore values kept, radiometry in data units, mixing.

Patches are cut from the real HLS chip (8 of its bands, reflectance x 10,000); label maps from its
NDVI classes with an unlabelled (255) block, as a real label raster has.
"""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import tensorflow as tf

from rskeras.data.augment import batch_augmenter, parse_augment, patch_augmenter
from rskeras.data.sensors import ndvi

SIZE = 32


@pytest.fixture(scope="module")
def patches(hls_path):
    """(images (4, 32, 32, 8) float32 reflectance x 10,000, labels (4, 32, 32) int32 with 255 unlabelled)."""
    with rasterio.open(hls_path) as ds:
        data = ds.read(list(range(1, 9))).transpose(1, 2, 0)[:2 * SIZE, :2 * SIZE]
        red, nir = ds.read(4)[:2 * SIZE, :2 * SIZE], ds.read(5)[:2 * SIZE, :2 * SIZE]
    classes = np.digitize(np.nan_to_num(ndvi(nir.astype(float), red.astype(float))), [0.3, 0.6]).astype("int32")
    cut = lambda a: np.stack([a[i:i + SIZE, j:j + SIZE] for i in (0, SIZE) for j in (0, SIZE)])  # noqa: E731
    labels = cut(classes)
    labels[:, 13:19, 13:19] = 255  # the centre: inside every crop of at least 0.6 of the side
    return cut(data).astype("float32"), labels


def coordinates(batch: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Images whose bands are the pixel's row and column, targets row * 1000 + column."""
    rows, cols = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    images = np.broadcast_to(np.stack([rows, cols], -1), (batch, SIZE, SIZE, 2)).astype("float32")
    return images, np.broadcast_to(rows * 1000 + cols, (batch, SIZE, SIZE)).astype("int32")


def test_geometric_steps_move_image_and_target_together():
    images, targets = coordinates()
    out, moved = batch_augmenter(["flip", {"crop": {"min_scale": 0.5}}], seed=1)(tf.constant(images),
                                                                                 tf.constant(targets))
    out, moved = out.numpy(), moved.numpy()
    # bilinear on a linear band is exact; nearest for the target: at most half a pixel apart
    assert np.abs(moved // 1000 - out[..., 0]).max() <= 0.5 + 1e-4
    assert np.abs(moved % 1000 - out[..., 1]).max() <= 0.5 + 1e-4
    assert moved.shape == targets.shape and not np.array_equal(moved, targets)


def test_shift_is_numpys_mirrored_pad_cut_at_the_drawn_offset():
    """Each patch is the mirrored (reflect-padded) patch cut at one offset of at most ``pixels`` each
    way, the same for its target; values are moved, never resampled; some patches do move."""
    images, targets = coordinates(batch=16)
    out, moved = batch_augmenter({"shift": {"pixels": 3}}, seed=2)(tf.constant(images), tf.constant(targets))
    out, moved = out.numpy(), moved.numpy()
    offsets = set()
    for image, target, got, got_target in zip(images, targets, out, moved):
        padded_image = np.pad(image, [(3, 3), (3, 3), (0, 0)], mode="reflect")
        padded_target = np.pad(target, 3, mode="reflect")
        matches = [(i, j) for i in range(7) for j in range(7)
                   if np.array_equal(padded_image[i:i + SIZE, j:j + SIZE], got)]
        assert len(matches) == 1
        i, j = matches[0]
        np.testing.assert_array_equal(padded_target[i:i + SIZE, j:j + SIZE], got_target)
        offsets.add((i - 3, j - 3))
    assert len(offsets) > 5 and all(max(abs(dy), abs(dx)) <= 3 for dy, dx in offsets)
    assert moved.dtype == targets.dtype and out.shape == images.shape


def test_shift_larger_than_the_patch_is_named():
    images, _ = coordinates()
    with pytest.raises(ValueError, match=r"'shift': pixels \(32\) must be under the patch's side \(32 x 32"):
        batch_augmenter({"shift": {"pixels": 32}})(tf.constant(images))
    with pytest.raises(ValueError, match="'shift': pixels must be a whole number of pixels, got 2.5"):
        parse_augment({"shift": {"pixels": 2.5}})
    with pytest.raises(ValueError, match=r"'shift': pixels must be a number in \[1, inf\], got 0"):
        parse_augment({"shift": {"pixels": 0}})
    assert parse_augment(["flip", "shift"]) == {"flip": {}, "shift": {"pixels": 4.0}}


def test_ignore_value_stays_ignore_and_classes_stay_classes(patches):
    images, labels = patches
    augment = batch_augmenter({"flip": None, "crop": {"min_scale": 0.6}}, seed=0)
    for _ in range(3):
        out, moved = augment(tf.constant(images), tf.constant(labels[..., None]))
        values = set(np.unique(moved.numpy()))
        assert values <= {0, 1, 2, 255} and 255 in values and moved.dtype == tf.int32
        assert out.shape == images.shape and out.dtype == tf.float32
    identity, same = batch_augmenter({"crop": {"min_scale": 1.0}})(tf.constant(images), tf.constant(labels))
    np.testing.assert_allclose(identity.numpy(), images, rtol=1e-6)
    np.testing.assert_array_equal(same.numpy(), labels)


def test_brightness_is_a_gain_and_offset_per_band_in_data_units(patches):
    images, labels = patches
    gain_only, kept = batch_augmenter({"brightness": {"gain": 0.1}}, seed=0)(tf.constant(images), tf.constant(labels))
    ratio = gain_only.numpy() / images
    per_band = ratio.reshape(4, -1, 8)
    np.testing.assert_allclose(per_band, np.broadcast_to(per_band[:, :1], per_band.shape), rtol=1e-5)  # per band
    assert 0.9 <= ratio.min() and ratio.max() <= 1.1 and np.unique(per_band[:, 0]).size == 32  # a gain per patch and band
    np.testing.assert_array_equal(kept.numpy(), labels)
    shifted, _ = batch_augmenter({"brightness": {"gain": 0.0, "offset": 200}}, seed=0)(tf.constant(images))
    delta = (shifted.numpy() - images).reshape(4, -1, 8)
    assert np.abs(delta).max() <= 200 and np.abs(delta - delta[:, :1]).max() < 1e-2


def test_noise_has_the_standard_deviation_asked_in_data_units(patches):
    images, labels = patches
    noisy, kept = batch_augmenter({"noise": {"std": 50}}, seed=0)(tf.constant(images), tf.constant(labels))
    noise = noisy.numpy() - images
    assert abs(noise.std() - 50) < 1.5 and abs(noise.mean()) < 1.5  # 32,768 draws: SE 0.28
    np.testing.assert_array_equal(kept.numpy(), labels)


def test_mixup_and_cutmix_mix_patch_labels(patches):
    images = np.stack([np.full((SIZE, SIZE, 8), 1000.0 * k, "float32") for k in range(4)])
    labels = tf.constant([0, 1, 2, 3])
    mixed, soft = batch_augmenter(["mixup"], seed=3, n_classes=4)(tf.constant(images), labels)
    mixed, soft = mixed.numpy(), soft.numpy()
    np.testing.assert_allclose(soft.sum(1), 1, rtol=1e-5)
    np.testing.assert_allclose(mixed[:, 0, 0, 0], 1000.0 * soft @ np.arange(4), rtol=1e-4)  # same blend
    cut, soft = batch_augmenter(["cutmix"], seed=3, n_classes=4)(tf.constant(images), labels)
    shares = np.stack([(cut.numpy()[..., 0] == 1000.0 * k).mean(axis=(1, 2)) for k in range(4)], 1)
    np.testing.assert_allclose(soft.numpy(), shares, atol=2.5 / SIZE)  # label weights = pasted areas
    with pytest.raises(ValueError, match="'mixup' mixes patch labels.*not apply to per-pixel targets"):
        batch_augmenter(["mixup"])(tf.constant(patches[0]), tf.constant(patches[1]))
    with pytest.raises(ValueError, match="mix the patches of a batch: apply them per batch"):
        patch_augmenter(["flip", "cutmix"])


def test_per_patch_in_tf_data_with_two_inputs_moved_together(patches):
    images, labels = patches
    augment = patch_augmenter(["flip", "crop", {"noise": {"std": 1.0}}], seed=4)
    inputs = {"a": images[..., :2], "b": images[..., :2]}
    ds = tf.data.Dataset.from_tensor_slices((inputs, labels)).map(lambda x, y: augment(x, y)).batch(4)
    first = [(x["a"].numpy(), x["b"].numpy(), y.numpy()) for x, y in ds.repeat(2)]
    for a, b, y in first:
        assert a.shape == b.shape == (4, SIZE, SIZE, 2) and y.shape == labels.shape
        assert np.abs(a - b).max() < 12  # the same crop and flip; only the noise differs
        assert set(np.unique(y)) <= {0, 1, 2, 255}
    assert not np.array_equal(first[0][2], first[1][2])  # drawn anew every epoch


def test_augment_spec_is_checked():
    assert parse_augment(True) == {"flip": {}} and parse_augment(None) == {}
    assert parse_augment(["flip", "crop"]) == {"flip": {}, "crop": {"min_scale": 0.75}}
    assert parse_augment({"brightness": {"offset": 100}}) == {"brightness": {"gain": 0.1, "offset": 100.0}}
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'; choose from flip, crop, shift, brightness, "
                                         "noise, "
                                         "mixup, cutmix"):
        parse_augment(["flip", "rotate"])
    with pytest.raises(ValueError, match=r"'noise' needs std in the units of the data, e\.g\. \{noise: \{std: 50\}\}"):
        parse_augment(["noise"])
    with pytest.raises(ValueError, match=r"'crop': min_scale must be a number in \(0, 1\], got 1.5"):
        parse_augment({"crop": {"min_scale": 1.5}})
    with pytest.raises(ValueError, match="'crop': unknown setting\\(s\\) 'scale'; valid: min_scale"):
        parse_augment({"crop": {"scale": 0.5}})
