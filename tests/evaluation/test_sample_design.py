"""Sample design: Olofsson et al. (2014) eq. 13, allocations, and samples drawn from real class maps."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from rskeras.data import read_points
from rskeras.evaluation import design_sample
from rskeras.evaluation.sample_design import allocate, sample_size

# Olofsson et al. (2014), Section 5: mapped pixels of deforestation, forest gain, stable forest, stable non-forest
PAPER_PIXELS = np.array([200_000, 150_000, 3_200_000, 6_450_000])


def test_sample_size_of_olofsson_eq13():
    # the paper's example: W = 0.02, 0.015, 0.32, 0.645; expected U = 0.70, 0.60, 0.90, 0.95; SE(O) = 0.01 -> 641
    weights = PAPER_PIXELS / PAPER_PIXELS.sum()
    assert sample_size(weights, [0.70, 0.60, 0.90, 0.95], 0.01) == 641
    assert sample_size([1.0], [0.9], 0.01, stratified=False) == 900  # 0.9 * 0.1 / 0.01**2


def test_allocations_add_up_and_respect_minimums():
    proportional = allocate(PAPER_PIXELS, 641)
    assert proportional.tolist() == [13, 10, 205, 413] and proportional.sum() == 641
    assert allocate(PAPER_PIXELS, 640, "equal").tolist() == [160] * 4
    at_least = allocate(PAPER_PIXELS, 641, "min_proportional", 50)
    assert at_least[:2].tolist() == [50, 50] and at_least.sum() == 641
    assert at_least[2] / at_least[3] == pytest.approx(3_200_000 / 6_450_000, rel=0.01)  # the rest proportional
    # a stratum smaller than its share is taken whole; its points go to the others
    assert allocate(np.array([5, 1000, 1000]), 300, "equal").tolist() == [5, 148, 147]
    # minimums above n raise n to their sum
    assert allocate(np.array([100, 100, 100]), 20, "min_proportional", 10).tolist() == [10, 10, 10]


def _read_map(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.nodata


def test_stratified_sample_of_a_real_class_map(ndvi_class_map, tmp_path):
    sample = design_sample(ndvi_class_map, tmp_path / "sample.gpkg", target_se=0.01, min_per_class=40, seed=0)
    design, points = sample.design, sample.points
    classes, nodata = _read_map(ndvi_class_map)
    values, pixels = np.unique(classes[classes != nodata], return_counts=True)
    assert design.strata == values.tolist() and design.stratum_pixels == pixels.tolist()
    weights = pixels / pixels.sum()
    assert design.n == len(points) == sum(design.stratum_points)
    assert design.n >= sample_size(weights, [0.9] * 3, 0.01) and min(design.stratum_points) >= 40
    rows, cols = points.column("row"), points.column("col")
    assert (classes[rows, cols] == points.column("map_value")).all() and (points.column("map_value") != nodata).all()
    for h, N, n in zip(design.strata, design.stratum_pixels, design.stratum_points):
        in_h = points.column("stratum") == h
        assert in_h.sum() == n
        assert np.allclose(points.column("inclusion_probability")[in_h], n / N)
    assert set(points.column("map_class")) <= {"sparse vegetation", "grassland and crops", "dense vegetation"}
    assert len(set(zip(rows.tolist(), cols.tolist()))) == design.n  # no pixel twice
    # files: GeoPackage in the map CRS and CSV in lon/lat, read back alike; nothing temporary left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sample.csv", "sample.gpkg"]
    gpkg, table = read_points(tmp_path / "sample.gpkg"), read_points(tmp_path / "sample.csv")
    assert gpkg.crs == points.crs and table.crs.to_epsg() == 4326
    assert (table.column("point_id") == gpkg.column("point_id")).all() and (table.column("reference") == "").all()
    back = table.to_crs(points.crs)
    assert np.allclose(back.x, points.x, atol=0.05) and np.allclose(back.y, points.y, atol=0.05)


def test_same_seed_same_sample_whatever_the_window(ndvi_class_map):
    one = design_sample(ndvi_class_map, n=90, seed=7)
    two = design_sample(ndvi_class_map, n=90, seed=7, max_window_bytes=1000)  # one row per strip
    other = design_sample(ndvi_class_map, n=90, seed=8)
    assert (one.points.column("row") == two.points.column("row")).all()
    assert (one.points.column("col") == two.points.column("col")).all()
    assert not (one.points.column("row") == other.points.column("row")).all()


def test_real_label_raster_proportional_and_minimum(labels_dir):
    labels = labels_dir / "landsat7_training_labels.tif"  # nodata 0; 383 / 16 / 145 / 106 / 68 labelled pixels
    sample = design_sample(labels, n=100, seed=0)
    assert sample.design.stratum_pixels == [383, 16, 145, 106, 68]
    assert sample.design.stratum_points == allocate(np.array([383, 16, 145, 106, 68]), 100).tolist()
    assert (sample.points.column("map_value") != 0).all()
    floor = design_sample(labels, n=100, min_per_class=15, seed=0).design
    assert min(floor.stratum_points) == 15 and floor.n == 100


def test_random_and_systematic_samples(ndvi_class_map):
    classes, nodata = _read_map(ndvi_class_map)
    N = int((classes != nodata).sum())
    random = design_sample(ndvi_class_map, n=200, method="random", seed=1)
    assert len(random) == 200 and np.allclose(random.points.column("inclusion_probability"), 200 / N)
    grid = design_sample(ndvi_class_map, n=200, method="systematic", seed=1)
    d = grid.design.spacing
    assert d == round(np.sqrt(N / 200))
    rows, cols = grid.points.column("row"), grid.points.column("col")
    assert len(set(rows % d)) == 1 and len(set(cols % d)) == 1  # one grid
    assert (classes[rows, cols] != nodata).all() and np.allclose(grid.points.column("inclusion_probability"), 1 / d**2)
    assert abs(len(grid) - N / d**2) < 0.05 * N / d**2


def test_separate_strata_raster(ndvi_class_map, tmp_path):
    with rasterio.open(ndvi_class_map) as src:
        profile = dict(src.profile, nodata=None)
        halves = np.where(np.arange(src.width) < src.width // 2, 1, 2).astype(np.uint8)[None, :].repeat(src.height, 0)
    strata = tmp_path / "halves.tif"
    with rasterio.open(strata, "w", **profile) as ds:
        ds.write(halves, 1)
    sample = design_sample(ndvi_class_map, n=60, strata=strata, allocation="equal", seed=0)
    assert sample.design.strata == [1, 2] and sample.design.stratum_points == [30, 30]
    left = sample.points.column("col") < halves.shape[1] // 2
    assert (sample.points.column("stratum") == np.where(left, 1, 2)).all()


def test_bad_design_input(ndvi_class_map, labels_dir, hls_path, tmp_path):
    labels = labels_dir / "landsat7_training_labels.tif"
    with pytest.raises(ValueError, match="n= .* or as target_se="):
        design_sample(labels, n=10, target_se=0.01)
    with pytest.raises(ValueError, match="n= .* or as target_se="):
        design_sample(labels)
    with pytest.raises(ValueError, match=r"target_se=0.001 needs \d+ sample points, more than the 718 pixels"):
        design_sample(labels, target_se=0.001)
    with pytest.raises(ValueError, match="holds float32 values; a class map holds integer"):
        design_sample(hls_path, n=10)
    with pytest.raises(ValueError, match="method='cluster' is not a sample design"):
        design_sample(labels, n=10, method="cluster")
    with pytest.raises(ValueError, match="min_per_class= and allocation='min_proportional' go together"):
        design_sample(labels, n=10, allocation="equal", min_per_class=2)
    with pytest.raises(ValueError, match="min_per_class applies to stratified samples"):
        design_sample(labels, n=10, method="random", min_per_class=2)
    with pytest.raises(ValueError, match="target='snow' is not a class of .*classes: 0=sparse vegetation"):
        design_sample(ndvi_class_map, target_se=0.01, target="snow")
    with pytest.raises(ValueError, match="expected_accuracy has no value for strata 2"):
        design_sample(ndvi_class_map, target_se=0.01, expected_accuracy={0: 0.9, "grassland and crops": 0.8})
    with pytest.raises(ValueError, match="must end in .gpkg or .csv"):
        design_sample(labels, tmp_path / "sample.shp", n=10)
    with pytest.raises(ValueError, match="is not on the grid of class map"):
        design_sample(ndvi_class_map, n=10, strata=labels)
    no_crs = tmp_path / "no_crs.tif"
    with rasterio.open(no_crs, "w", driver="GTiff", width=4, height=4, count=1, dtype="uint8",
                       transform=from_origin(0, 4, 1, 1)) as ds:
        ds.write(np.ones((1, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="no_crs.tif has no CRS"):
        design_sample(no_crs, n=2)
    assert not any(tmp_path.glob("*.tmp*"))


def test_warning_for_a_stratum_too_small_for_a_variance(tmp_path):
    path = tmp_path / "tiny_class.tif"
    classes = np.ones((20, 20), np.uint8)
    classes[0, 0] = 2  # one pixel of class 2
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="uint8", crs="EPSG:32615",
                       transform=from_origin(500000, 1000000, 30, 30)) as ds:
        ds.write(classes, 1)
    with pytest.warns(UserWarning, match="stratum 2 gets 1 point"):
        sample = design_sample(path, n=30, min_per_class=5, seed=0)
    assert sample.design.stratum_points == [29, 1]
