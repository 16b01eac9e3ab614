"""Tile layout, reflection, blending weights and atomic GeoTIFF writing (no model involved)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from rskeras.inference.outputs import distinct_colors, plan_outputs
from rskeras.inference.tiling import blend_profile, blend_weights, reflect_index, tile_origins
from rskeras.inference.windows import block_windows
from rskeras.inference.writer import GeoTIFFOutputs, OutputSpec


@pytest.mark.parametrize("n", [1, 2, 5, 17])
def test_reflect_index_matches_numpy_reflect_padding(n):
    values = np.arange(n) * 10
    pad = 3 * n + 4
    expected = np.pad(values, pad, mode="reflect") if n > 1 else np.zeros(n + 2 * pad, int)
    np.testing.assert_array_equal(values[reflect_index(np.arange(-pad, n + pad), n)], expected)


@pytest.mark.parametrize("n, tile, overlap", [(100, 32, 8), (10, 32, 8), (791, 64, 16), (64, 64, 0), (500, 256, 64)])
def test_blend_weights_cover_every_pixel_smoothly(n, tile, overlap):
    starts = tile_origins(n, tile, overlap)
    assert starts[0] == -(overlap // 2) and np.all(np.diff(starts) == tile - overlap)
    assert starts[-1] + tile - overlap // 2 >= n  # the last tile reaches pad pixels past the scene
    h = blend_profile(tile, overlap)
    total = np.zeros(int(starts[-1]) + tile - int(starts[0]))
    for s in starts:
        total[s - starts[0]:s - starts[0] + tile] += h
    scene = total[-starts[0]:-starts[0] + n]
    assert scene.min() >= 0.5 - 1e-9  # never (close to) zero inside the scene
    if len(starts) > 1:  # interior of the scene: the ramps of neighbours add up to 1
        middle = scene[tile:-tile] if n > 2 * tile + 1 else scene[overlap:-overlap]
        np.testing.assert_allclose(middle, 1.0, atol=2e-6)
    assert h.min() > 0 and h.max() == 1.0 and np.all(np.abs(np.diff(h)) < 0.5)
    w = blend_weights(tile, overlap)
    assert w.shape == (tile, tile) and w.dtype == np.float32 and w.min() > 0


def test_tile_layout_errors():
    with pytest.raises(ValueError, match="0 <= overlap < tile_size"):
        tile_origins(100, 32, 32)
    with pytest.raises(ValueError, match="window_size must be a positive"):
        block_windows(10, 10, 0)


def test_block_windows_cover_the_scene_once():
    windows = block_windows(130, 70, 64)
    covered = np.zeros((130, 70), int)
    for w in windows:
        covered[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width] += 1
    assert len(windows) == 6 and np.all(covered == 1)


def test_outputs_renamed_together_or_removed_together(tmp_path):
    grid = {"crs": "EPSG:32618", "transform": from_origin(0, 100, 1, 1), "width": 40, "height": 30}
    plan = plan_outputs("multiclass", 3, ["a", "b", "c"], tmp_path / "map.tif", probabilities=True)
    assert [s.path.name for s in plan.specs] == ["map.tif", "map_probabilities.tif"]
    with GeoTIFFOutputs(grid, plan.specs) as out:
        for index, spec in enumerate(plan.specs):
            out.write(index, np.ones((spec.count, 30, 40)), Window(0, 0, 40, 30))
        assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map_probabilities.tif"]
    with rasterio.open(tmp_path / "map.tif") as ds:
        assert ds.profile["tiled"] and ds.profile["blockxsize"] == 256 and ds.profile["compress"] == "deflate"

    spec = OutputSpec(tmp_path / "other.tif", "float32", 1, -9999.0)
    with pytest.raises(KeyboardInterrupt):
        with GeoTIFFOutputs(grid, [spec]) as out:
            out.write(0, np.zeros((1, 30, 40)), Window(0, 0, 40, 30))
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif", "map_probabilities.tif"]
    assert len(set(distinct_colors(12))) == 12
