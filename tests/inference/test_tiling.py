"""Tile layout and sizes, reflection, blending weights, memory checks and atomic GeoTIFF writing."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from rskeras.inference.memory import available_memory, fit_batch, format_size, parse_size
from rskeras.inference.model_probe import WORKSPACE_FACTOR, probe_model
from rskeras.inference.outputs import distinct_colors, plan_outputs
from rskeras.inference.tiling import (
    TileChoice, blend_profile, blend_weights, check_count, choose_tile, reflect_index, tile_origins,
)
from rskeras.inference.windows import block_windows
from rskeras.inference.writer import GeoTIFFOutputs, OutputSpec
from rskeras.models import cnn, m3net, unet


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


def test_free_tiles_round_up_to_the_multiple_and_clamp_to_the_scene():
    dense = {"kind": "dense", "multiple": 4}
    assert choose_tile(718, 791, **dense) == TileChoice(256, 64)  # the default: a quarter overlap, on the grid
    choice = choose_tile(718, 791, tile_size=30, **dense)
    assert (choice.tile, choice.overlap) == (32, 8)
    assert choice.notes == ("tile_size 30 is not a multiple of 4, which the model's downsampling needs: "
                            "rounded up to 32",)
    choice = choose_tile(718, 791, tile_size=100000, **dense)
    assert (choice.tile, choice.overlap) == (792, 0)
    assert choice.notes == ("tile_size 100000 is larger than the 791 x 718 scene: one tile of 792 px covers it",)
    # with an overlap, the one tile keeps a mirrored margin of overlap // 2 on each side
    assert choose_tile(224, 224, tile_size=256, overlap=32, kind="dense") == TileChoice(256, 32)
    assert choose_tile(224, 224, kind="dense", multiple=16) == TileChoice(224, 0)  # the default tile covers it
    # a given overlap moves onto the pooling grid (multiples of 2 * 4 px)
    choice = choose_tile(718, 791, tile_size=128, overlap=30, **dense)
    assert (choice.tile, choice.overlap) == (128, 32) and "overlap 30 changed to 32" in choice.notes[0]
    assert choose_tile(718, 791, tile_size=128, overlap=30, kind="patch") == TileChoice(128, 30)
    assert choose_tile(718, 791, tile_size=12, **dense).overlap == 8  # small tiles keep some overlap


def test_tile_and_overlap_errors_name_the_option_and_what_works():
    with pytest.raises(ValueError, match=r"overlap=64 must be smaller than the tile \(64 px\).*0 to 63 px"):
        choose_tile(718, 791, kind="dense", tile_size=64, overlap=64)
    with pytest.raises(ValueError, match=r"tile_size=32 but the model takes 64 x 64 tiles only \(its fixed "
                                         r"input size, a multiple of its downsampling by 8\); leave tile_size "
                                         r"unset or give 64"):
        choose_tile(718, 791, kind="patch", multiple=8, fixed=64, tile_size=32)
    assert choose_tile(718, 791, kind="patch", multiple=8, fixed=64) == TileChoice(64, 0)
    with pytest.raises(ValueError, match="tile_size must be 1 or more pixels, got 0"):
        choose_tile(718, 791, kind="dense", tile_size=0)
    with pytest.raises(ValueError, match="overlap must be a whole number of pixels, got 2.5"):
        choose_tile(718, 791, kind="dense", overlap=2.5)
    with pytest.raises(ValueError, match="batch_size must be 1 or more, got 0"):
        check_count("batch_size", 0, 1, unit="")


@pytest.mark.parametrize("builder, multiple", [
    (lambda: unet((None, None, 3), task="multiclass", n_outputs=3, depth=2, filters=4), 4),
    (lambda: unet((None, None, 4), task="regression", n_outputs=1, depth=4, filters=4), 16),
    (lambda: unet((64, 64, 3), task="multiclass", n_outputs=3, backbone="resnet50"), 32),
    (lambda: m3net((None, None, 3), (None, None, 1), depth=3, filters=4), 8),
    (lambda: cnn((64, 64, 3), task="multiclass", n_outputs=10), 8),
    (lambda: keras.Sequential([keras.Input((None, None, 2)), keras.layers.Conv2D(3, 5, padding="same")]), 1),
])
def test_the_size_multiple_is_read_from_the_layers(builder, multiple):
    assert probe_model(builder()).multiple == multiple


def test_receptive_radius_follows_kernels_strides_and_upsampling():
    layers = [keras.layers.Conv2D(4, 3, padding="same") for _ in range(3)]
    convs = keras.Sequential([keras.Input((None, None, 2)), *layers])
    assert probe_model(convs).receptive_radius == 3
    # U-Net of depth 2: 2 convs at stride 1, 2, 4 on the way down, transposed convs and 2 convs at 2 and 1 up
    assert probe_model(unet((None, None, 3), task="regression", n_outputs=1, depth=2, filters=4)).receptive_radius == 23
    assert probe_model(cnn((64, 64, 3), task="multiclass", n_outputs=10)).receptive_radius == float("inf")


def test_activation_memory_follows_the_tensors_alive_at_once():
    inputs = keras.Input((None, None, 2))
    a = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    b = keras.layers.MaxPooling2D()(a)
    c = keras.layers.UpSampling2D()(keras.layers.Conv2D(4, 3, padding="same")(b))
    model = keras.Model(inputs, keras.layers.Concatenate()([a, c]))
    probe = probe_model(model)
    # at the concatenation: a (8 ch), c (4 ch) and the output (12 ch) at full size; before it b and its conv at 1/4
    assert probe.activation_bytes(64, 1) == WORKSPACE_FACTOR * 4 * (8 + 4 + 12) * 64 * 64
    assert probe.activation_bytes(64, 3) == 3 * probe.activation_bytes(64, 1)
    assert probe.activation_bytes(128, 1) == 4 * probe.activation_bytes(64, 1)


def test_fit_batch_lowers_a_default_batch_and_refuses_given_sizes_naming_what_fits():
    def estimate(tile, batch):
        return tile * tile * batch * 1000

    assert fit_batch(estimate, 64, 8, batch_given=True, tile_given=True, multiple=4, budget=10**8, where="x") == (8, [])
    batch, notes = fit_batch(estimate, 64, 64, batch_given=False, tile_given=False, multiple=4, budget=10**8,
                             where="free host memory")
    assert batch == 24 and notes == ["batch_size lowered from 64 to 24 to fit in 95.4 MiB of free host memory"]
    with pytest.raises(ValueError) as caught:
        fit_batch(estimate, 512, 8, batch_given=True, tile_given=True, multiple=4, budget=10**8, where="max_memory")
    assert str(caught.value) == ("tile_size=512 with batch_size=8 needs about 2.0 GiB, but max_memory allows 95.4 MiB; "
                                 "tile_size=108 fits (89.0 MiB)")
    with pytest.raises(ValueError, match=r"even tile_size=4 with batch_size=1 needs about 15.6 KiB"):
        fit_batch(estimate, 8, 1, batch_given=True, tile_given=True, multiple=4, budget=1000, where="max_memory")
    assert [parse_size(v) for v in (1024, "2GiB", "1.5 g", "512MB")] == [1024, 2 * 2**30, 3 * 2**29, 512 * 10**6]
    with pytest.raises(ValueError, match=r"max_memory='lots' is not a size; write e.g. 4GiB"):
        parse_size("lots")
    assert format_size(3 * 2**29) == "1.5 GiB" and available_memory()[0] > 0
