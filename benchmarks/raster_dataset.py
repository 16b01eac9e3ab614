"""Benchmark: raster_dataset on the real Landsat 7 scene (not part of the test suite).

The real 250x250 px scene (8 bands, int16) is tiled out to a larger scene (``--tiles`` x ``--tiles`` copies),
with a label raster on every pixel (3 classes from NDVI thresholds, so no window is skipped for lack of
labels). Four figures, each written to ``benchmarks/results/raster_dataset.json``:

1. Reading: patches per second of ``raster_dataset`` (64 px windows, 7 bands and the label) against the
   same windows read in a plain rasterio loop into the same float32 patches and int32 targets (the read
   limit); once on the scene's own grid, once reprojected to EPSG:4326 (``crs=``; the loop reads the
   same windows of a ``WarpedVRT`` onto the same grid). On the own grid also against the bare GDAL reads
   of those windows (rasterio's ``_read``, which ``raster_dataset`` uses for windows inside a file): the
   loop with no library code around GDAL. Readers take turns, best of ``--repeats`` passes.
2. ``model.fit`` of a small U-Net fed by ``raster_dataset`` (random windows drawn anew every epoch, and
   a grid cached in memory) against ``model.fit`` from the same patches as tensors in memory: the median
   patches per second of the epochs after the first, over rounds in which the feeds take turns.
3. Peak resident memory of a process reading ``--windows`` class-balanced windows (a census of the label
   raster included) from the tiled scene and from one four times its area.
4. The ignore label: a small U-Net trained on the training blocks of the real scene with its real labels
   (1 % of the pixels labelled), with the ignore label and with "unlabelled" as a sixth class: accuracy on
   the labelled pixels of the held-out blocks and the share of held-out pixels predicted "unlabelled".

    python benchmarks/raster_dataset.py            # about 7 minutes on 2 cores
    python benchmarks/raster_dataset.py --quick    # a smaller look
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

import rskeras  # noqa: F401  (before TensorFlow: turns oneDNN on)
from rskeras.data import find_data
from rskeras.data.raster_scenes import open_scenes
from rskeras.data.samplers import RandomSampler, WindowPlan
from rskeras.io import atomic_write_text

BANDS = [1, 2, 3, 4, 5, 6, 7]
PATCH = 64


def tiled_scene(src_path: Path, folder: Path, tiles: int) -> tuple[Path, Path]:
    """The real scene tiled ``tiles`` x ``tiles`` times, and a label raster (3 NDVI classes) on every pixel."""
    with rasterio.open(src_path) as src:
        data, profile = src.read(), src.profile
    data = np.tile(data, (1, tiles, tiles))
    profile.update(width=data.shape[2], height=data.shape[1], tiled=True, blockxsize=256, blockysize=256)
    scene, labels = folder / f"scene_{tiles}x{tiles}.tif", folder / f"labels_{tiles}x{tiles}.tif"
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(data)
    red, nir = data[2].astype(np.float32), data[3].astype(np.float32)
    ndvi = (nir - red) / np.maximum(nir + red, 1)
    classes = (1 + (ndvi > 0.2) + (ndvi > 0.5)).astype(np.uint8)
    with rasterio.open(labels, "w", **{**profile, "count": 1, "dtype": "uint8", "nodata": 0}) as dst:
        dst.write(classes, 1)
    return scene, labels


def plan_windows(scene: Path, n: int, crs: str | None) -> np.ndarray:
    """The windows ``raster_dataset(..., sampler=RandomSampler(n), seed=0)`` reads in its first epoch."""
    scenes, _ = open_scenes(scene, BANDS, crs=crs)
    return WindowPlan([s.shape for s in scenes], [s.name for s in scenes], (PATCH, PATCH), RandomSampler(n)).windows(0)


def plain_loop(scene: Path, labels: Path, windows: np.ndarray, crs: str | None, bare: bool = False) -> float:
    """Patches per second of the read limit: the same windows, image and labels, in one rasterio loop.

    ``bare``: each window read by rasterio's read step (``_read``, GDAL's RasterIO) without the checks of
    ``DatasetReader.read``, as ``raster_dataset`` reads windows inside a file: the loop's time is then GDAL's
    reads and the same casts, with no Python library code around them (own grid only).
    """
    scenes, _ = open_scenes(scene, BANDS, crs=crs)
    grid = scenes[0].grid
    with rasterio.open(scene) as img, rasterio.open(labels) as lab:
        if crs is not None:
            img = WarpedVRT(img, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
                            resampling=Resampling.bilinear)
            lab = WarpedVRT(lab, crs=grid.crs, transform=grid.transform, width=grid.width, height=grid.height,
                            resampling=Resampling.nearest)
        image, label = np.empty((len(BANDS), PATCH, PATCH), np.int16), np.empty((1, PATCH, PATCH), np.uint8)
        start = time.perf_counter()
        for _, row, col in windows:
            window = Window(int(col), int(row), PATCH, PATCH)
            if bare:
                img._read(BANDS, image, window, image.dtype)
                lab._read([1], label, window, label.dtype)
                np.moveaxis(image, 0, -1).astype(np.float32)  # the patch
                np.where(label[0] > 0, label[0].astype(np.int32) - 1, 255)[..., None]  # the target
                continue
            np.moveaxis(img.read(BANDS, window=window), 0, -1).astype(np.float32)  # the patch
            label = lab.read(1, window=window)
            np.where(label > 0, label.astype(np.int32) - 1, 255)[..., None]  # the target
        return len(windows) / (time.perf_counter() - start)


def dataset_rate(dataset) -> float:
    """Patches per second of one pass over ``dataset`` (its iterator started inside the time)."""
    start, count = time.perf_counter(), 0
    for images, _ in dataset:
        count += int(images.shape[0])
    return count / (time.perf_counter() - start)


def reading(scene: Path, labels: Path, n: int, repeats: int) -> dict:
    """Each reader once to warm up (GDAL handles, caches, tf.data threads), then ``repeats`` timed passes."""
    from rskeras.data import raster_dataset

    passes: dict[str, list[float]] = {}
    for crs in (None, "EPSG:4326"):
        windows = plan_windows(scene, n, crs)
        tag = "own_grid" if crs is None else "reprojected_4326"
        dataset = raster_dataset(scene, labels, bands=BANDS, patch_size=PATCH, sampler=RandomSampler(n), crs=crs,
                                 batch_size=32, max_nodata=1.0)
        plain_loop(scene, labels, windows, crs), dataset_rate(dataset)
        for _ in range(repeats):
            passes.setdefault(f"plain_rasterio_{tag}", []).append(plain_loop(scene, labels, windows, crs))
            if crs is None:
                passes.setdefault("bare_gdal_reads_own_grid", []).append(plain_loop(scene, labels, windows, crs, True))
            passes.setdefault(f"raster_dataset_{tag}", []).append(dataset_rate(dataset))
    best = {name: max(rates) for name, rates in passes.items()}
    ratios = {tag: best[f"raster_dataset_{tag}"] / best[f"plain_rasterio_{tag}"]
              for tag in ("own_grid", "reprojected_4326")}
    ratios["own_grid_to_bare_gdal_reads"] = best["raster_dataset_own_grid"] / best["bare_gdal_reads_own_grid"]
    return {"patches_per_second": best, "passes": passes, "ratio_to_read_limit": ratios}


def small_unet():
    import keras

    from rskeras.models import unet
    from rskeras.tasks import get_task

    keras.utils.set_random_seed(0)
    model = unet((PATCH, PATCH, len(BANDS)), n_outputs=3, depth=2, filters=8, band_stats=([1000.0] * 7, [500.0] * 7))
    return get_task("multiclass").compile(model, "adam", ignore_class=255)


def fit(scene: Path, labels: Path, n: int, epochs: int, rounds: int) -> dict:
    """Patches per second of ``model.fit``: medians over the epochs after the first of ``rounds`` rounds in
    which the feeds take turns (single epochs on a shared machine vary by tens of percent).

    Feeds: ``n`` random windows drawn anew every epoch (no cache); the grid's windows cached in memory
    (shuffled); the random windows of one epoch as tensors in memory (shuffled).
    """
    import keras
    import tensorflow as tf

    from rskeras.data import raster_dataset

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    common = {"bands": BANDS, "patch_size": PATCH, "batch_size": 16, "max_nodata": 1.0}
    random_windows = raster_dataset(scene, labels, sampler=RandomSampler(n), **common)
    grid = raster_dataset(scene, labels, sampler="grid", cache="memory", shuffle=n, **common)
    images, targets = (np.concatenate(part) for part in zip(*random_windows.as_numpy_iterator()))
    memory = tf.data.Dataset.from_tensor_slices((images, targets)).shuffle(len(images)).batch(16)
    feeds = {"raster_dataset_random": (random_windows, n), "raster_dataset_grid_cached": (grid, grid.windows_per_epoch),
             "in_memory_tensors": (memory, len(images))}
    later: dict[str, list[float]] = {name: [] for name in feeds}
    first: dict[str, list[float]] = {name: [] for name in feeds}
    for _ in range(rounds):
        for name, (feed, patches) in feeds.items():
            clock = Clock()
            clock.seconds = []
            small_unet().fit(feed, epochs=epochs, verbose=0, callbacks=[clock])
            first[name].append(patches / clock.seconds[0])
            later[name] += [patches / seconds for seconds in clock.seconds[1:]]
    rates = {name: float(np.median(values)) for name, values in later.items()}
    in_memory = rates["in_memory_tensors"]
    return {"patches_per_second_after_first_epoch": rates, "epoch_rates": later,
            "first_epoch_patches_per_second": {name: float(np.median(v)) for name, v in first.items()},
            "ratio_to_in_memory": {k: v / in_memory for k, v in rates.items() if k != "in_memory_tensors"},
            "patches_per_epoch": {name: patches for name, (_, patches) in feeds.items()}, "epochs": epochs,
            "rounds": rounds}


def peak_memory_worker(scene: str, labels: str, n: int) -> None:
    """Child process: read ``n`` balanced windows (census included), print the peak RSS in MiB."""
    from rskeras.data import raster_dataset

    ds = raster_dataset(scene, labels, bands=BANDS, patch_size=PATCH, batch_size=32, max_nodata=1.0,
                        sampler=RandomSampler(n, balanced=True))
    for _ in ds:
        pass
    status = Path("/proc/self/status").read_text()  # VmHWM: this process's peak (ru_maxrss survives exec)
    peak_kib = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(json.dumps({"peak_rss_mib": peak_kib / 1024}))


def peak_memory(scenes: dict[str, tuple[Path, Path]], n: int) -> dict:
    found = {}
    for name, (scene, labels) in scenes.items():
        command = [sys.executable, __file__, "--memory-worker", str(scene), str(labels), str(n)]
        done = subprocess.run(command, capture_output=True, text=True, check=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        found[name] = json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mib"]
    small, large = found.values()
    return {"peak_rss_mib": found, "growth_for_4x_area": large / small, "windows": n}


def ignore_label(labels_dir: Path, seeds: list[int]) -> dict:
    """The same U-Net with the ignore label and with "unlabelled" as class 5, on spatially held-out blocks."""
    import keras
    import tensorflow as tf

    from rskeras.data import BlockSplit, raster_dataset
    from rskeras.evaluation import evaluate_model
    from rskeras.layers.normalization import band_statistics
    from rskeras.models import unet
    from rskeras.tasks import get_task

    scene, labels = labels_dir / "landsat7_1999_stack.tif", labels_dir / "landsat7_training_labels.tif"
    common = {"bands": BANDS, "patch_size": 32, "batch_size": 16,
              "split": BlockSplit(50, {"train": 0.6, "validation": 0.4}, seed=2)}
    task = get_task("multiclass")
    runs = []
    for seed in seeds:
        for ignore in (True, False):
            train = raster_dataset(scene, labels, sampler=RandomSampler(256, balanced=True), subset="train",
                                   augment=True, seed=seed, **common)
            held_out = raster_dataset(scene, labels, sampler="grid", subset="validation", **common)
            keras.utils.set_random_seed(seed)
            first = np.concatenate([x for x, _ in train.take(4).as_numpy_iterator()])
            model = unet((32, 32, 7), n_outputs=5 if ignore else 6, depth=2, filters=8,
                         band_stats=band_statistics(first))
            if ignore:
                task.compile(model, keras.optimizers.Adam(3e-3), ignore_class=255)
            else:  # the unlabelled pixels (255) become class 5, "unlabelled", in training and evaluation
                task.compile(model, keras.optimizers.Adam(3e-3))
                train, held_out = (d.map(lambda x, y: (x, tf.where(y == 255, 5, y))) for d in (train, held_out))
            model.fit(train, epochs=10, verbose=0)
            cm = np.asarray(evaluate_model(model, held_out, ignore_index=255 if ignore else None,
                                           progress=False)["confusion_matrix"])
            runs.append({"seed": seed, "ignore_label": ignore, "held_out_labelled_pixels": int(cm[:5].sum()),
                         "held_out_accuracy": float(np.trace(cm[:5, :5]) / cm[:5].sum())})
            if not ignore:  # the share of all held-out pixels the model calls "unlabelled"
                runs[-1]["held_out_pixels_predicted_unlabelled"] = float(cm[:, 5].sum() / cm.sum())
            print(runs[-1])
    return {"runs": runs, "blocks": "50 px, 60 % train / 40 % validation (seed 2)", "epochs": 10,
            "windows_per_epoch": 256}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiles", type=int, default=4, help="the scene is the real one tiled N x N (the 4x one 2N x 2N)")
    p.add_argument("--windows", type=int, default=1024, help="windows per reading pass and per fit epoch")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--rounds", type=int, default=3, help="rounds of fits in which the feeds take turns")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="256 windows, 1 repeat, 3 epochs, 1 round, 1 seed")
    p.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "raster_dataset.json"))
    p.add_argument("--memory-worker", nargs=3, metavar=("SCENE", "LABELS", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.memory_worker:
        peak_memory_worker(args.memory_worker[0], args.memory_worker[1], int(args.memory_worker[2]))
        return
    if args.quick:
        args.windows, args.repeats, args.epochs, args.rounds, args.seeds = 256, 1, 3, 1, [0]
    labels_dir = find_data() / "labels"
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        scene, labels = tiled_scene(labels_dir / "landsat7_1999_stack.tif", Path(tmp), args.tiles)
        large = tiled_scene(labels_dir / "landsat7_1999_stack.tif", Path(tmp), 2 * args.tiles)
        results = {
            "reading": reading(scene, labels, args.windows, args.repeats),
            "fit": fit(scene, labels, args.windows, args.epochs, args.rounds),
            "memory": peak_memory({f"{250 * args.tiles} px": (scene, labels),
                                   f"{500 * args.tiles} px": large}, args.windows),
        }
    results["ignore_label"] = ignore_label(labels_dir, args.seeds)
    results["setup"] = {"scene": f"landsat7_1999_stack.tif tiled {args.tiles}x{args.tiles} "
                                 f"({250 * args.tiles} px a side), bands {BANDS}, {PATCH} px windows",
                        "windows": args.windows, "repeats": args.repeats, "cpus": os.cpu_count(),
                        "load_average_at_start": os.getloadavg(), "python": platform.python_version(),
                        "seconds": round(time.perf_counter() - started)}
    print(json.dumps({k: v for k, v in results.items() if k != "ignore_label"}, indent=1))
    atomic_write_text(args.json, json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
