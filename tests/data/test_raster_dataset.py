"""raster_dataset on the real Landsat 7 scene, its label raster and its training polygons (and the HLS chip)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import calculate_default_transform, reproject

from rskeras.data import BlockSplit, RandomSampler, RegionSplit, raster_dataset
from rskeras.evaluation import evaluate_model
from rskeras.layers.normalization import band_statistics
from rskeras.models import unet
from rskeras.tasks import get_task

SCENE = "landsat7_1999_stack.tif"
LABELS = "landsat7_training_labels.tif"
POLYGONS = "landsat7_training_polygons.shp"
#: The polygons' class names in the order of their ``id`` (the label raster's values 1-5).
NAMES = ["forest", "water", "herbaceous", "barren", "urban"]
WHOLE = {"patch_size": 250, "sampler": "grid", "batch_size": None, "max_nodata": 1.0}  # the scene as one window


def _whole(images, labels=None, **options):
    """The single ``(image, target)`` of a window covering the whole 250x250 scene."""
    ((image, target),) = raster_dataset(images, labels, **{**WHOLE, **options}).as_numpy_iterator()
    return image, target


def _all(dataset) -> tuple[np.ndarray, np.ndarray]:
    """Every ``(image, target)`` of an unbatched dataset, stacked."""
    images, targets = zip(*dataset.as_numpy_iterator())
    return np.stack(images), np.stack(targets)


@pytest.fixture(scope="module")
def scene(labels_dir):
    return labels_dir / SCENE


@pytest.fixture(scope="module")
def raster_targets(labels_dir, scene):
    """The label raster's classes (1-5 -> 0-4, 0 -> 255) on the scene, and the raster itself."""
    with rasterio.open(labels_dir / LABELS) as ds:
        raw = ds.read(1)
    _, target = _whole(scene, labels_dir / LABELS, bands=[1])
    return target[..., 0], raw


def test_label_raster_classes_counts_and_ignore_value(raster_targets, labels_dir, scene):
    """Classes 1-5 become indices 0-4; the unlabelled 0 (the raster's nodata) becomes the ignore value 255."""
    target, raw = raster_targets
    np.testing.assert_array_equal(target, np.where(raw > 0, raw.astype(np.int32) - 1, 255))
    ds = raster_dataset(scene, labels_dir / LABELS, **WHOLE)
    assert ds.class_names == ["1", "2", "3", "4", "5"] and ds.ignore_value == 255
    assert ds.class_counts == [383, 16, 145, 106, 68]
    named = raster_dataset(scene, labels_dir / LABELS, classes=dict(zip(range(1, 6), NAMES)), **WHOLE)
    assert named.class_names == NAMES


def test_polygons_give_the_label_raster_targets(raster_targets, labels_dir, scene):
    """Burnt by ``id`` the 30 polygons give exactly the label raster; by ``class`` they differ only where
    the two inconsistent records are (id 5 named "barren": 11 px, id 4 named "urban": 8 px)."""
    target, _ = raster_targets
    _, by_id = _whole(scene, labels_dir / POLYGONS, label_column="id", bands=[1])
    np.testing.assert_array_equal(by_id[..., 0], target)
    ds = raster_dataset(scene, labels_dir / POLYGONS, label_column="class", classes=NAMES, bands=[1], **WHOLE)
    assert ds.class_names == NAMES and ds.class_counts == [383, 16, 145, 109, 65]
    by_class = next(ds.as_numpy_iterator())[1][..., 0]
    differ = by_class != target
    assert differ.sum() == 19
    assert sorted(zip(target[differ].tolist(), by_class[differ].tolist())) == [(3, 4)] * 8 + [(4, 3)] * 11


def test_label_raster_in_another_crs_or_resolution_lines_up(raster_targets, labels_dir, scene, tmp_path):
    """A label raster reprojected to EPSG:4326, or resampled to 60 m, is read back onto the 30 m UTM grid."""
    target, _ = raster_targets
    geographic = _reprojected(labels_dir / LABELS, tmp_path / "labels_4326.tif", "EPSG:4326", Resampling.nearest)
    coarse = _reprojected(labels_dir / LABELS, tmp_path / "labels_60m.tif", None, Resampling.mode, resolution=60)
    for path, floor in ((geographic, 0.95), (coarse, 0.6)):
        _, back = _whole(scene, path, bands=[1])
        both = (back[..., 0] != 255) & (target != 255)
        assert (back[..., 0][both] == target[both]).mean() >= floor, path
    # values (regression): band 4 of the scene reprojected to EPSG:4326 lines up with the scene, not shifted
    nir = _reprojected(scene, tmp_path / "nir_4326.tif", "EPSG:4326", Resampling.bilinear, band=4)
    image, values = _whole(scene, nir, bands=[4], values=True)
    assert values.dtype == np.float32 and np.isfinite(values).mean() > 0.98
    shifts = {shift: _correlation(image[..., 0], np.roll(values[..., 0], shift, axis=1)) for shift in (-1, 0, 1)}
    assert shifts[0] > 0.95 and shifts[0] > max(shifts[-1], shifts[1]), shifts


def _reprojected(src_path, dst_path, crs, resampling, resolution=None, band=1):
    """One band of ``src_path`` warped to ``crs`` (or its own CRS at ``resolution``) with ``resampling``."""
    with rasterio.open(src_path) as src:
        dst_crs = crs or src.crs
        transform, width, height = calculate_default_transform(src.crs, dst_crs, src.width, src.height, *src.bounds,
                                                               resolution=resolution)
        profile = {**src.profile, "crs": dst_crs, "transform": transform, "width": width, "height": height,
                   "count": 1}
        with rasterio.open(dst_path, "w", **profile) as dst:
            reproject(rasterio.band(src, band), rasterio.band(dst, 1), resampling=resampling)
    return dst_path


def _correlation(a, b) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def test_per_band_files_at_30_and_60_m_are_stacked(scene, tmp_path):
    """A scene given as band name -> file, one band at 60 m, is stacked on the 30 m grid of the first file."""
    with rasterio.open(scene) as src:
        stack, profile = src.read(), src.profile
    files = {}
    for name, band in (("blue", 1), ("green", 2), ("red", 3)):
        files[name] = tmp_path / f"{name}.tif"
        with rasterio.open(files[name], "w", **{**profile, "count": 1}) as dst:
            dst.write(stack[band - 1], 1)
    nir60 = stack[3].reshape(125, 2, 125, 2).mean(axis=(1, 3)).astype(np.float32)
    files["nir"] = tmp_path / "nir_60m.tif"
    t = profile["transform"]
    with rasterio.open(files["nir"], "w", **{**profile, "count": 1, "dtype": "float32", "width": 125, "height": 125,
                                             "transform": rasterio.Affine(60, 0, t.c, 0, -60, t.f)}) as dst:
        dst.write(nir60, 1)
    ds = raster_dataset(files, **WHOLE)
    assert ds.band_names == ["blue", "green", "red", "nir"]
    image = next(ds.as_numpy_iterator())
    assert image.shape == (250, 250, 4)
    np.testing.assert_array_equal(image[..., :3], np.moveaxis(stack[:3], 0, -1).astype(np.float32))
    assert _correlation(image[..., 3], stack[3].astype(np.float32)) > 0.9
    inner = image[1:-1, 1:-1, 3]  # bilinear between 60 m centres; the outer half pixel has one neighbour
    assert inner.min() >= nir60.min() and inner.max() <= nir60.max()
    coarse = next(raster_dataset(files, bands=["nir", "red"], resolution=60, **{**WHOLE, "patch_size": 125})
                  .as_numpy_iterator())
    np.testing.assert_allclose(coarse[..., 0], nir60, rtol=1e-6)


def test_grid_sampler_covers_the_scene(scene):
    """A 64 px grid over the 250 px scene: windows at 0, 64, 128 and 186 (flush with the edge) on each axis,
    whose patches put back together are the scene."""
    ds = raster_dataset(scene, patch_size=64, sampler="grid", batch_size=None, max_nodata=1.0)
    assert ds.windows_per_epoch == 16
    with rasterio.open(scene) as src:
        full = np.moveaxis(src.read(), 0, -1).astype(np.float32)
    rebuilt = np.full(full.shape, np.nan, np.float32)
    starts = [0, 64, 128, 186]
    for (row, col), patch in zip([(r, c) for r in starts for c in starts], ds.as_numpy_iterator()):
        rebuilt[row:row + 64, col:col + 64] = patch
    np.testing.assert_array_equal(rebuilt, full)


@pytest.fixture(scope="module")
def positions(scene, tmp_path_factory):
    """A raster on the scene's grid whose two bands are each pixel's row and column: patches tell where they are."""
    path = tmp_path_factory.mktemp("positions") / "positions.tif"
    with rasterio.open(scene) as src:
        profile = {**src.profile, "count": 2, "dtype": "float32", "nodata": None}
    rows, cols = np.indices((250, 250), dtype=np.float32)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.stack([rows, cols]))
    return path


def _covered(dataset, size: int) -> np.ndarray:
    """The 250x250 mask of pixels the windows of a dataset of :func:`positions` patches cover."""
    covered = np.zeros((250, 250), bool)
    for patch in dataset.as_numpy_iterator():
        row, col = (int(v) for v in patch[0, 0, :2])
        covered[row:row + size, col:col + size] = True
    return covered


def test_block_and_region_splits_never_overlap(positions, tmp_path):
    """Training windows (random, many) and validation windows (grid) of a split share no pixel."""
    split = BlockSplit(50, {"train": 0.6, "validation": 0.4}, seed=2)
    masks = {}
    for subset, sampler in (("train", RandomSampler(400)), ("validation", "grid")):
        ds = raster_dataset(positions, patch_size=24, sampler=sampler, split=split, subset=subset, batch_size=None)
        masks[subset] = _covered(ds, 24)
    assert masks["train"].mean() > 0.4 and masks["validation"].mean() > 0.2
    assert not (masks["train"] & masks["validation"]).any()
    regions = RegionSplit(_write_regions(tmp_path / "regions.geojson", positions))
    west = _covered(raster_dataset(positions, patch_size=24, sampler=RandomSampler(300), split=regions,
                                   subset="train", batch_size=None), 24)
    east = _covered(raster_dataset(positions, patch_size=24, sampler="grid", split=regions, subset="validation",
                                   batch_size=None), 24)
    assert west[:, :125].mean() > 0.9 and not west[:, 125:].any()
    assert east[:, 144:].all() and not east[:, :125].any()  # the grid starts at multiples of 24


def _write_regions(path, scene):
    """Two regions as GeoJSON in the scene's CRS: the west half ``train``, the east half ``validation``."""
    with rasterio.open(scene) as src:
        left, bottom, right, top = src.bounds
        crs = src.crs.to_epsg()
    middle = (left + right) / 2
    features = [{"type": "Feature", "properties": {"split": name},
                 "geometry": {"type": "Polygon", "coordinates": [[[x0, bottom], [x1, bottom], [x1, top], [x0, top],
                                                                   [x0, bottom]]]}}
                for name, x0, x1 in (("train", left, middle), ("validation", middle, right))]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features,
                                "crs": {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{crs}"}}}))
    return path


def test_image_nodata_nan_and_unlabelled_pixels_become_the_ignore_value(raster_targets, labels_dir, scene, tmp_path):
    """Label pixels under image nodata (-9999) or NaN get the ignore value, like unlabelled ones; the image is 0
    there; windows mostly nodata are skipped (max_nodata)."""
    target, _ = raster_targets
    with rasterio.open(scene) as src:
        data, profile = src.read().astype(np.float32), src.profile
    data[2, :125, :125] = -9999  # one band's nodata covers the top-left quarter
    data[5, 200:, 200:] = np.nan  # NaN in another band at the bottom right
    holes = tmp_path / "holes.tif"
    with rasterio.open(holes, "w", **{**profile, "dtype": "float32"}) as dst:
        dst.write(data)
    image, back = _whole(holes, labels_dir / LABELS, ignore_value=99)
    invalid = np.zeros((250, 250), bool)
    invalid[:125, :125] = invalid[200:, 200:] = True
    np.testing.assert_array_equal(back[..., 0], np.where(invalid | (target == 255), 99, target))
    assert (image[invalid] == 0).all() and (image[~invalid] != 0).any()
    assert (target[:125, :125] != 255).sum() > 0  # labels were there
    grid = raster_dataset(holes, labels_dir / LABELS, patch_size=125, sampler="grid", batch_size=None, max_nodata=0.5)
    assert grid.windows_per_epoch == 4 and len(list(grid)) == 3  # the top-left window is all nodata


def test_patch_targets_majority_centre_multilabel_and_pixels(raster_targets, labels_dir, scene):
    """Patch classifiers' targets and the pixel vectors of pixel models agree with the dense targets."""
    options = {"patch_size": 25, "sampler": "grid", "batch_size": None, "bands": [1, 2, 3]}
    images, dense = _all(raster_dataset(scene, labels_dir / LABELS, **options))
    dense = dense[..., 0]
    counts = np.stack([np.bincount(d[d != 255], minlength=5) for d in dense])
    _, majority = _all(raster_dataset(scene, labels_dir / LABELS, target="majority", **options))
    np.testing.assert_array_equal(majority, counts.argmax(axis=1))
    _, multilabel = _all(raster_dataset(scene, labels_dir / LABELS, target="multilabel", **options))
    np.testing.assert_array_equal(multilabel, (counts > 0).astype(np.float32))
    assert (multilabel.sum(axis=1) > 1).any()  # some patches hold several classes
    _, centre = _all(raster_dataset(scene, labels_dir / LABELS, target="centre", **options))
    np.testing.assert_array_equal(np.sort(centre), np.sort(dense[:, 12, 12][dense[:, 12, 12] != 255]))
    vectors, classes = _all(raster_dataset(scene, labels_dir / LABELS, target="pixel", **options))
    assert vectors.shape == (718, 3) and np.bincount(classes).tolist() == [383, 16, 145, 106, 68]
    np.testing.assert_array_equal(vectors, images[dense != 255])


def test_balanced_random_sampler_finds_the_rare_class(labels_dir, scene):
    """Water holds 16 of 62,500 pixels: about one balanced window in five holds it; uniform windows rarely do."""
    def water_windows(balanced):
        ds = raster_dataset(scene, labels_dir / LABELS, patch_size=16, sampler=RandomSampler(200, balanced=balanced),
                            target="multilabel", batch_size=None, bands=[1], seed=3)
        return int(_all(ds)[1][:, 1].sum())

    assert water_windows(True) >= 30 and water_windows(False) <= 10


def test_same_seed_same_windows_new_epochs_new_windows_cache_keeps_them(positions, tmp_path):
    def epochs(**options):
        ds = raster_dataset(positions, patch_size=16, sampler=RandomSampler(20), batch_size=None, **options)
        return [[tuple(p[0, 0]) for p in ds.as_numpy_iterator()] for _ in range(2)]

    first, again = epochs(seed=1), epochs(seed=1)
    assert first == again and first[0] != first[1] and epochs(seed=2)[0] != first[0]
    for cache in ("memory", tmp_path / "patches.cache"):
        cached = epochs(seed=1, cache=cache)
        assert cached[0] == cached[1] == first[0]


def test_grouped_bands_make_one_input_each_and_augmentation_moves_image_and_target(labels_dir, scene):
    ds = raster_dataset(scene, labels_dir / LABELS, bands={"multispectral": [1, 2, 3, 4], "thermal": [7]},
                        patch_size=32, sampler=RandomSampler(8, balanced=True), batch_size=4, augment=True)
    assert ds.band_names == {"multispectral": ["band_1", "band_2", "band_3", "band_4"], "thermal": ["band_7"]}
    images, target = next(iter(ds))
    assert images["multispectral"].shape == (4, 32, 32, 4) and images["thermal"].shape == (4, 32, 32, 1)
    assert target.shape == (4, 32, 32, 1) and target.dtype == np.int32


def test_points_and_lines_with_a_buffer(labels_dir, scene, tmp_path):
    """Points (given in EPSG:4326) label the pixels whose centre lies within the buffer (45 m = 1.5 px: the pixel
    and its 8 neighbours); a line the 3 rows along it and 3 pixels past each end."""
    with rasterio.open(scene) as src:
        t = src.transform
    centre = lambda row, col: rasterio.transform.xy(t, row, col)
    points = [("water", centre(100, 100)), ("forest", centre(30, 200))]
    features = [{"type": "Feature", "properties": {"cover": name},
                 "geometry": {"type": "Point", "coordinates": list(_to_lonlat(*xy))}} for name, xy in points]
    line = [_to_lonlat(*centre(200, 20)), _to_lonlat(*centre(200, 60))]
    features.append({"type": "Feature", "properties": {"cover": "road"},
                     "geometry": {"type": "LineString", "coordinates": [list(p) for p in line]}})
    path = tmp_path / "field.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    _, target = _whole(scene, path, label_column="cover", buffer=45.0, bands=[1])
    target = target[..., 0]
    assert np.bincount(target[target != 255]).tolist() == [9, 41 * 3 + 2 * 3, 9]  # forest, road, water
    rows, cols = np.nonzero(target == 2)
    assert (rows.mean(), cols.mean()) == pytest.approx((100, 100), abs=0.01)
    assert np.hypot(rows - 100, cols - 100).max() <= 1.5


def _to_lonlat(x, y):
    from rasterio.warp import transform

    (lon,), (lat,) = transform("EPSG:32615", "EPSG:4326", [x], [y])
    return lon, lat


def test_hls_chip_by_sensor_band_names_and_landsat_rgb_nodata_edges(hls_path, landsat_path):
    """The real HLS chip read by sensor band names; the real Landsat RGB scene's nodata collar is skipped."""
    ds = raster_dataset(hls_path, bands=["red", "nir"], sensor="hls_l30", patch_size=56, sampler="grid",
                        batch_size=None)
    assert ds.band_names == ["red", "nir"] and ds.windows_per_epoch == 16
    with rasterio.open(hls_path) as src:
        expected = np.moveaxis(src.read([4, 5], window=((56, 112), (0, 56))), 0, -1)
    np.testing.assert_array_equal(list(ds.as_numpy_iterator())[4], expected)
    rgb = raster_dataset(landsat_path, patch_size=128, sampler="grid", batch_size=None, max_nodata=0.2)
    kept = list(rgb.as_numpy_iterator())
    assert rgb.windows_per_epoch == 42 and 0 < len(kept) < 42
    assert all((patch == 0).all(axis=-1).mean() <= 0.2 for patch in kept)


#: The held-out accuracy floor of the U-Net below: measured 0.996 with seed 0 (0.959 and 0.989 with seeds 1 and 2;
#: 268 labelled pixels of 4 classes in the held-out blocks).
HELD_OUT_FLOOR = 0.90


def test_unet_with_the_ignore_label_classifies_held_out_blocks(labels_dir, scene):
    """A small U-Net trained with the ignore label on the training blocks of the scene (1 % of its pixels
    labelled) classifies the labelled pixels of the spatially held-out blocks."""
    split = BlockSplit(50, {"train": 0.6, "validation": 0.4}, seed=2)
    common = {"bands": [1, 2, 3, 4, 5, 6, 7], "patch_size": 32, "split": split, "batch_size": 16}
    train = raster_dataset(scene, labels_dir / LABELS, sampler=RandomSampler(256, balanced=True), subset="train",
                           augment=True, **common)
    held_out = raster_dataset(scene, labels_dir / LABELS, sampler="grid", subset="validation", **common)
    keras.utils.set_random_seed(0)
    first = np.concatenate([x for x, _ in train.take(4).as_numpy_iterator()])
    model = unet((32, 32, 7), n_outputs=5, depth=2, filters=8, class_names=train.class_names,
                 band_stats=band_statistics(first))
    task = get_task("multiclass")
    task.compile(model, keras.optimizers.Adam(3e-3), ignore_class=train.ignore_value)
    model.fit(train, epochs=10, verbose=0)
    report = evaluate_model(model, held_out, ignore_index=train.ignore_value, progress=False)
    print(f"held-out accuracy {report['overall_accuracy']:.3f} on {report['n']} labelled pixels")
    assert report["n"] == 268 and sum(np.asarray(report["confusion_matrix"]).sum(axis=1) > 0) == 4
    assert report["overall_accuracy"] >= HELD_OUT_FLOOR


def test_several_scenes_with_a_label_raster_each(labels_dir, scene, raster_targets):
    """Two dates of the same place as two scenes, each with its label raster: both are read, in order."""
    scenes = [scene, labels_dir / "landsat7_2002_stack.tif"]
    ds = raster_dataset(scenes, [labels_dir / LABELS] * 2, bands=[1, 2, 3], **WHOLE)
    (first, target_1999), (second, target_2002) = ds.as_numpy_iterator()
    np.testing.assert_array_equal(target_1999[..., 0], raster_targets[0])
    np.testing.assert_array_equal(target_2002, target_1999)
    assert not np.array_equal(first, second) and ds.class_counts == [2 * n for n in [383, 16, 145, 106, 68]]
    with rasterio.open(scenes[1]) as src:
        np.testing.assert_array_equal(second, np.moveaxis(src.read([1, 2, 3]), 0, -1).astype(np.float32))


@pytest.mark.parametrize("target", ["dense", "majority", "multilabel"])
def test_batches_equal_single_patches_with_skipped_windows(labels_dir, scene, landsat_path, target):
    """Batches hold the single patches and targets in the same order, each of ``batch_size`` but the last, when
    windows are skipped for nodata (the Landsat RGB collar) or for want of a label (two scenes, 1 % labelled);
    repeated epochs run on into one another's batches, as ``unbatch().repeat(2).batch(8, drop_remainder=True)``."""
    cases = [([scene, scene], [labels_dir / LABELS] * 2, {"bands": [1, 2, 3, 4], "target": target})]
    if target == "dense":
        cases.append((landsat_path, None, {"max_nodata": 0.2}))
    for images, labels, options in cases:
        common = {"patch_size": 32, "sampler": "grid", **options}
        dataset = raster_dataset(images, labels, batch_size=None, **common)
        single = list(dataset.as_numpy_iterator())
        batches = list(raster_dataset(images, labels, batch_size=8, **common).as_numpy_iterator())
        if labels is None:
            single, batches = [(x, 0) for x in single], [(x, np.zeros(len(x))) for x in batches]
        assert 0 < len(single) < dataset.windows_per_epoch  # windows were skipped
        full, rest = divmod(len(single), 8)
        assert [len(x) for x, _ in batches] == [8] * full + ([rest] if rest else [])
        np.testing.assert_array_equal(np.concatenate([x for x, _ in batches]), np.stack([x for x, _ in single]))
        if labels is not None:
            np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), np.stack([y for _, y in single]))
            twice = list(raster_dataset(images, labels, batch_size=8, repeat=2, drop_remainder=True, **common))
            assert [len(x) for x, _ in twice] == [8] * (2 * len(single) // 8)  # batches span the two epochs
            np.testing.assert_array_equal(np.concatenate([y for _, y in twice]),
                                          np.stack([y for _, y in single * 2])[:8 * len(twice)])


def test_a_vrt_whose_bands_differ_in_dtype_gives_the_patches_of_its_source(labels_dir, tmp_path):
    """rasterio reads one dtype a call: a georeferenced VRT of an int16 and a float32 band is read band by band,
    with its nodata, into the same patches as the bands of the source file."""
    src = labels_dir / SCENE
    with rasterio.open(src) as ds:
        geo = f"<SRS>{ds.crs.to_wkt()}</SRS><GeoTransform>{', '.join(map(str, ds.transform.to_gdal()))}</GeoTransform>"
    bands = "".join(f'<VRTRasterBand dataType="{kind}" band="{b}"><NoDataValue>-9999</NoDataValue><SimpleSource>'
                    f"<SourceFilename>{src}</SourceFilename><SourceBand>{b}</SourceBand></SimpleSource></VRTRasterBand>"
                    for b, kind in ((1, "Int16"), (2, "Float32")))
    vrt = tmp_path / "mixed.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="250" rasterYSize="250">{geo}{bands}</VRTDataset>')
    options = {"patch_size": 96, "sampler": "grid", "batch_size": None, "max_nodata": 1.0}
    mixed = _all(raster_dataset(vrt, labels_dir / LABELS, **options))
    plain = _all(raster_dataset(src, labels_dir / LABELS, bands=[1, 2], **options))
    assert len(mixed[0]) == len(plain[0]) == 9
    for got, want in zip(mixed, plain):
        np.testing.assert_array_equal(got, want)
