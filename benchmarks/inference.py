"""Whole-scene inference benchmark: ``predict_raster`` with a U-Net against the compute limit.

The scene is the real Landsat 7 RGB subset (791 x 718 px) mirror-tiled out to
``--size`` x ``--size`` pixels (default 4096) and to twice that side (a scene
four times as large). Each measurement runs in its own Python process, so its
peak resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``, which
counts TensorFlow's allocations too) belongs to it alone:

- ``predict``: ``predict_raster`` from the GeoTIFF on disk to a GeoTIFF on disk
  (reading, reflect padding, tiling, blending, nodata masking, writing).
- ``limit``: the same model's ``predict`` on the very tiles ``predict_raster``
  predicts (same tile size, overlap and count, so overlap is counted on both
  sides), already cut and held in memory: the compute limit.

Reported: pixels per second (scene pixels / wall time) for both, their ratio
(target >= 0.85), and the peak memory of ``predict`` for both scene sizes (target:
the larger at most 1.2x the smaller). Run from the repository root::

    .venv/bin/python benchmarks/inference.py              # U-Net depth 4, filters 8, 4096 px
    .venv/bin/python benchmarks/inference.py --filters 64 # the paper's widths (slow on CPU)

Not run by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LANDSAT = Path(os.environ.get("RSKERAS_SHARED_DATA", REPO.parent / "shared" / "data")) / "rasters" / "landsat7_rgb_byte.tif"


def build_scene(path: Path, size: int) -> None:
    """Mirror-tile the Landsat scene to ``size x size`` px, written one strip of rows at a time.

    Runs in the parent process, which never imports TensorFlow.
    """
    import rasterio

    from rskeras.inference.tiling import reflect_index

    with rasterio.open(LANDSAT) as ds:
        scene, profile = ds.read(), ds.profile
    profile.update(width=size, height=size, tiled=True, blockxsize=256, blockysize=256, compress="lzw")
    cols = reflect_index(np.arange(size), scene.shape[2])
    with rasterio.open(path, "w", **profile) as out:
        for top in range(0, size, 512):
            rows = reflect_index(np.arange(top, min(top + 512, size)), scene.shape[1])
            out.write(scene[:, rows][:, :, cols], window=rasterio.windows.Window(0, top, size, len(rows)))


def build_model(args):
    import keras

    from rskeras.models import unet

    keras.utils.set_random_seed(0)
    return unet((None, None, 3), task="multiclass", n_outputs=5, depth=args.depth, filters=args.filters,
                band_stats=([90.0, 80.0, 70.0], [40.0, 35.0, 30.0]))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def worker(args) -> dict:
    """One measurement in this process; returns what the parent prints."""
    import rskeras  # noqa: F401  (before TensorFlow)

    model = build_model(args)
    scene = Path(args.scene)
    if args.worker == "predict":
        from rskeras.inference import predict_raster

        start = time.perf_counter()
        result = predict_raster(model, scene, scene.with_name(f"pred_{scene.name}"), tile_size=args.tile,
                                overlap=args.overlap, batch_size=args.batch, progress=False)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "pixels": result.n_pixels + result.n_nodata, "peak_rss_mib": peak_rss_mib()}

    import rasterio

    from rskeras.inference.tiling import cut_tiles, reflect_index, tile_origins

    with rasterio.open(scene) as ds:
        data = ds.read().astype(np.float32)
    height, width = data.shape[1:]
    rows, cols = tile_origins(height, args.tile, args.overlap), tile_origins(width, args.tile, args.overlap)
    span = np.arange(cols[0], cols[-1] + args.tile)
    tiles = []
    for top in rows:
        strip = data[:, reflect_index(np.arange(top, top + args.tile), height)][:, :, reflect_index(span, width)]
        tiles.append(cut_tiles(strip, cols - cols[0], args.tile))
    tiles = np.concatenate(tiles)
    del data
    model.predict(tiles[: args.batch], batch_size=args.batch, verbose=0)  # build and trace outside the timing
    start = time.perf_counter()
    model.predict(tiles, batch_size=args.batch, verbose=0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "pixels": height * width, "tiles": len(tiles), "peak_rss_mib": peak_rss_mib()}


def run_worker(kind: str, scene: Path, args) -> dict:
    command = [sys.executable, __file__, "--worker", kind, "--scene", str(scene), "--tile", str(args.tile),
               "--overlap", str(args.overlap), "--batch", str(args.batch), "--filters", str(args.filters),
               "--depth", str(args.depth)]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{kind} worker on {scene} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="side of the smaller scene, pixels (>= 4096)")
    parser.add_argument("--tile", type=int, default=256, help="tile side, pixels")
    parser.add_argument("--overlap", type=int, default=64, help="overlap of neighbouring tiles, pixels")
    parser.add_argument("--batch", type=int, default=8, help="tiles per model call")
    parser.add_argument("--filters", type=int, default=8, help="U-Net channels of the first level")
    parser.add_argument("--depth", type=int, default=4, help="U-Net pooling steps")
    parser.add_argument("--worker", choices=["predict", "limit"], help=argparse.SUPPRESS)
    parser.add_argument("--scene", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    print(f"U-Net depth {args.depth}, filters {args.filters}; tiles {args.tile} px, overlap {args.overlap} px, "
          f"batch {args.batch}; {os.cpu_count()} CPU core(s)")
    with tempfile.TemporaryDirectory(prefix="rskeras_bench_") as folder:
        results = {}
        for size in (args.size, 2 * args.size):
            scene = Path(folder) / f"landsat_{size}.tif"
            build_scene(scene, size)
            results[size] = {"predict": run_worker("predict", scene, args)}
            if size == args.size:
                results[size]["limit"] = run_worker("limit", scene, args)
            scene.unlink()
            Path(folder, f"pred_{scene.name}").unlink(missing_ok=True)
    small, large = results[args.size], results[2 * args.size]
    for size, result in results.items():
        p = result["predict"]
        print(f"{size}x{size}: predict_raster {p['pixels'] / p['seconds']:,.0f} px/s "
              f"({p['seconds']:.1f} s), peak memory {p['peak_rss_mib']:,.0f} MiB")
    limit = small["limit"]
    speed = (small["predict"]["pixels"] / small["predict"]["seconds"]) / (limit["pixels"] / limit["seconds"])
    memory = large["predict"]["peak_rss_mib"] / small["predict"]["peak_rss_mib"]
    print(f"compute limit (model.predict on the same {limit['tiles']} tiles in memory): "
          f"{limit['pixels'] / limit['seconds']:,.0f} px/s ({limit['seconds']:.1f} s), "
          f"peak memory {limit['peak_rss_mib']:,.0f} MiB")
    print(f"predict_raster / compute limit: {speed:.2f}x (target >= 0.85)")
    print(f"peak memory {2 * args.size} px scene / {args.size} px scene: {memory:.2f}x (target <= 1.2)")


if __name__ == "__main__":
    main()
