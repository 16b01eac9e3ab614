"""Samplers and spatial splits (pure NumPy): windows, coverage, subsets, seeds, class balance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rskeras.data.samplers import (
    BlockSplit,
    GridSampler,
    RandomSampler,
    SplitMap,
    WindowPlan,
)

REPO = Path(__file__).resolve().parents[2]


class _Scene:
    """What the splits need of a scene: its shape."""

    def __init__(self, height, width):
        self.shape = (height, width)


def _covered(windows: np.ndarray, shape, patch) -> np.ndarray:
    covered = np.zeros(shape, int)
    for _, row, col in windows:
        covered[row:row + patch[0], col:col + patch[1]] += 1
    return covered


def test_grid_windows_cover_every_pixel_and_end_flush_with_the_edge():
    plan = WindowPlan([(100, 70), (40, 40)], ["a", "b"], (32, 32), GridSampler())
    windows = plan.windows()
    first = windows[windows[:, 0] == 0]
    assert sorted(set(first[:, 1].tolist())) == [0, 32, 64, 68] and sorted(set(first[:, 2].tolist())) == [0, 32, 38]
    assert (_covered(first, (100, 70), (32, 32)) >= 1).all()
    assert windows[windows[:, 0] == 1][:, 1:].tolist() == [[0, 0], [0, 8], [8, 0], [8, 8]]
    assert plan.length() == len(windows) == 16
    overlapping = WindowPlan([(64, 64)], ["a"], (32, 32), GridSampler(stride=16)).windows()
    assert len(overlapping) == 9


def test_a_patch_larger_than_a_scene_is_named():
    with pytest.raises(ValueError, match=r"patch_size 64x64 px is larger than scene b \(40x90 px on the target grid\)"):
        WindowPlan([(100, 100), (40, 90)], ["a", "b"], (64, 64), RandomSampler())


def test_block_split_shares_blocks_by_fractions_and_seed():
    maps = BlockSplit(10, (0.5, 0.3, 0.2), seed=4).maps([_Scene(50, 50), _Scene(30, 20)])
    assert maps[0].names == ("train", "validation", "test")
    assert np.bincount(maps[0].codes.ravel()).tolist() == [13, 7, 5]  # 25 blocks: 12.5, 7.5, 5 -> 13, 7, 5
    assert np.bincount(maps[1].codes.ravel(), minlength=3).tolist() == [3, 2, 1]
    again = BlockSplit(10, (0.5, 0.3, 0.2), seed=4).maps([_Scene(50, 50)])
    np.testing.assert_array_equal(again[0].codes, maps[0].codes)
    assert not np.array_equal(BlockSplit(10, (0.5, 0.3, 0.2), seed=5).maps([_Scene(50, 50)])[0].codes, maps[0].codes)


@pytest.mark.parametrize("options, message", [
    ({"block_size": 0}, "block_size must be a positive number of pixels"),
    ({"fractions": (0.5, 0.4)}, r"fractions must be >= 0 and sum to 1, got \{'train': 0.5, 'validation': 0.4\}"),
    ({"fractions": (1.0,)}, "fractions are 2 or 3 numbers"),
])
def test_bad_block_splits_are_named(options, message):
    with pytest.raises(ValueError, match=message):
        BlockSplit(**options)


def test_windows_of_a_subset_lie_in_its_cells_only():
    codes = np.array([[0, 1], [1, 0]], np.uint8)  # a 2x2 checkerboard of 16 px blocks
    split = SplitMap(16, codes, ("train", "validation"))
    rows, cols = np.meshgrid(np.arange(17), np.arange(17), indexing="ij")
    inside = split.contains(rows.ravel(), cols.ravel(), (16, 16), 0).reshape(17, 17)
    assert inside.sum() == 2 and inside[0, 0] and inside[16, 16]
    plans = {code: WindowPlan([(32, 32)], ["a"], (8, 8), RandomSampler(50), [split], code) for code in (0, 1)}
    covered = {code: _covered(plan.windows(), (32, 32), (8, 8)) > 0 for code, plan in plans.items()}
    assert not (covered[0] & covered[1]).any()
    assert covered[0][:16, :16].any() and covered[1][:16, 16:].any()
    np.testing.assert_array_equal(split.mask(8, 8, 16, 16, 1), np.kron([[0, 1], [1, 0]], np.ones((8, 8))) > 0)


def test_random_windows_are_seeded_per_epoch():
    plan = WindowPlan([(100, 100)], ["a"], (10, 10), RandomSampler(30), seed=7)
    assert np.array_equal(plan.windows(0), plan.windows(0)) and not np.array_equal(plan.windows(0), plan.windows(1))
    assert plan.windows(0).shape == (30, 3) and plan.windows(0)[:, 1:].max() <= 90
    assert WindowPlan([(100, 100)], ["a"], (10, 10), RandomSampler()).length() == 100


def test_balanced_windows_hold_each_class_about_equally_often():
    pixels = [[np.array([[r, c] for r in range(50) for c in range(50)]), np.array([[90, 90]])]]
    plan = WindowPlan([(100, 100)], ["a"], (8, 8), RandomSampler(400, balanced=True), class_pixels=pixels, seed=1)
    windows = plan.windows()
    rare = ((windows[:, 1] <= 90) & (windows[:, 1] > 82) & (windows[:, 2] <= 90) & (windows[:, 2] > 82)).mean()
    assert 0.4 < rare < 0.6
    with pytest.raises(ValueError, match="balanced RandomSampler needs class labels"):
        WindowPlan([(100, 100)], ["a"], (8, 8), RandomSampler(4, balanced=True))


def test_geo_modules_do_not_import_tensorflow():
    code = ("import sys; import rskeras.data.samplers, rskeras.data.raster_scenes, rskeras.data.label_sources, "
            "rskeras.data.vector_labels; sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False).returncode == 0
