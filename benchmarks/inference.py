"""Whole-scene inference benchmark: ``predict_raster`` against the model's compiled forward pass.

Two models on real scenes from ``../shared/data`` mirror-tiled out to ``--size`` x ``--size`` px
(written as tiled GeoTIFFs compressed like a delivered scene: LZW, the COG driver's default, or ``--compress``):

- ``dense``: a U-Net (depth 4, 8 filters, 5 classes) on the Landsat 7 RGB scene
  (``rasters/landsat7_rgb_byte.tif``), 256 px tiles with 64 px overlap.
- ``pixel``: the ANN pixel model (two hidden layers of 64, 5 classes) on the 8-band Landsat 7 stack
  (``labels/landsat7_1999_stack.tif``).

The ceiling is the model's forward pass compiled with ``tf.function`` (``training=False``), with and without
``jit_compile`` (XLA), on inputs already in memory as tensors, called in a loop with no Python per tile:

- dense: batches of ``predict_raster``'s batch size cut from the scene, as many batches as the scene's tiles
  fill (overlap counted), scaled to the exact number of tiles ``predict_raster`` predicts;
- pixel: every pixel of the scene as ``(N, bands)`` float32, in batches of 4,096 to 262,144 pixels.

The fastest variant is the ceiling. ``predict_raster`` (GeoTIFF on disk to GeoTIFF on disk: reading, nodata
masks, padding, tiling, prediction, blending, encoding, writing) and the ceiling are timed alternately in one
process, ``--repeats`` times, so machine load weighs on both; the ratio is ceiling seconds / ``predict_raster``
seconds, the median of the pairs (targets: dense >= 0.85, pixel >= 0.8). ``predict_raster``'s
``stage_seconds`` split its time into read, pad, predict, blend and write (:mod:`rskeras.inference.stages`).

The ceiling's inputs are in memory; ``predict_raster`` must also decode the scene and encode its map, CPU time
that on a small machine the model's threads lose. Each pair therefore also records the CPU limit
(:func:`cpu_limit`): the ceiling's CPU-seconds (every thread, ``time.process_time``) plus those of decoding
every band of the scene and encoding the written map again, each once and whole in one GDAL call
(:func:`io_cpu_seconds`), spread over the cores that ``machine`` names, or the ceiling's seconds where longer;
``cpu_limit_ratio_median`` is that limit over ``predict_raster``'s seconds, and ``predict_raster_cpu_seconds``
its own CPU time. The ceiling's CPU-seconds include whatever its thread pool spends waiting busily, so the
limit errs long and that ratio high.

The load average is recorded before and after. ``--memory`` also runs ``predict_raster`` of the U-Net alone
in a fresh process on the scene and on one of twice its side, for their peak resident memory. Run from the
repository root::

    python benchmarks/inference.py                  # 4096 px scenes, 3 pairs each (about 3 minutes on 2 cores)
    python benchmarks/inference.py --size 2048 --repeats 2 --out /tmp/inference.json   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rskeras  # noqa: E402,F401  (before TensorFlow: turns oneDNN on)
from rskeras.data import find_data  # noqa: E402
from rskeras.inference.tiling import reflect_index, tile_origins  # noqa: E402
from rskeras.training.precision import describe_machine  # noqa: E402
from rskeras.io import atomic_write_text  # noqa: E402

SCENES = {"dense": "rasters/landsat7_rgb_byte.tif", "pixel": "labels/landsat7_1999_stack.tif"}
PIXEL_BATCHES = (4096, 65536, 262144)  # pixels per call tried for the pixel ceiling


def build_scene(src: Path, dst: Path, size: int, compress: str = "lzw") -> tuple[np.ndarray, np.ndarray]:
    """Mirror-tile ``src`` to ``size x size`` px at ``dst`` (tiled, ``compress``ed), one strip of rows at a time.

    Returns the per-band mean and standard deviation of ``src``'s valid pixels, ``(bands,)`` float64 each.
    """
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(src) as ds:
        scene, profile, nodata = ds.read(), ds.profile, ds.nodata
    profile.update(width=size, height=size, tiled=True, blockxsize=256, blockysize=256, compress=compress)
    cols = reflect_index(np.arange(size), scene.shape[2])
    with rasterio.open(dst, "w", **profile) as out:
        for top in range(0, size, 512):
            rows = reflect_index(np.arange(top, min(top + 512, size)), scene.shape[1])
            out.write(scene[:, rows][:, :, cols], window=Window(0, top, size, len(rows)))
    pixels = scene.reshape(len(scene), -1).astype(np.float64)
    pixels = pixels[:, (pixels != nodata).all(axis=0)] if nodata is not None else pixels
    return pixels.mean(axis=1), pixels.std(axis=1) + 1e-6


def build_model(kind: str, stats: tuple[np.ndarray, np.ndarray]):
    """The benchmark's U-Net (``"dense"``) or ANN (``"pixel"``), normalised with the scene's statistics."""
    import keras

    from rskeras.models import ann, unet

    keras.utils.set_random_seed(0)
    mean, std = (list(map(float, s)) for s in stats)
    if kind == "dense":
        return unet((None, None, len(mean)), task="multiclass", n_outputs=5, depth=4, filters=8,
                    band_stats=(mean, std))
    return ann((len(mean),), task="multiclass", n_outputs=5, band_stats=(mean, std))


def forward(model, jit: bool):
    """The model's forward pass as one compiled function of a batch tensor."""
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), jit_compile=jit, reduce_retracing=True)


def time_calls(call, batches: list) -> tuple[float, float]:
    """Seconds and CPU-seconds (all threads) for ``call`` over every batch (each batch shape called once before,
    outside the timing)."""
    for shape in {tuple(b.shape) for b in batches}:
        call(next(b for b in batches if tuple(b.shape) == shape))
    start, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        out = call(batch)
    np.asarray(out[:1])  # the last call has finished
    return time.perf_counter() - start, time.process_time() - cpu


def io_cpu_seconds(scene: Path, output: Path) -> dict:
    """CPU-seconds of the I/O no prediction of ``scene`` can skip, each done once, whole, in one GDAL call:
    ``read`` decodes every band of ``scene``; ``write`` encodes the map ``predict_raster`` wrote to ``output``
    again, with the writer's profile (:func:`rskeras.inference.writer.geotiff_profile`)."""
    import rasterio
    from rskeras.inference.writer import OutputSpec, geotiff_profile

    start = time.process_time()
    with rasterio.open(scene) as ds:
        ds.read()
    read = time.process_time() - start
    with rasterio.open(output) as ds:
        values = ds.read()
        profile = geotiff_profile(ds.profile, OutputSpec(output, ds.dtypes[0], ds.count, ds.nodata))
    copy = output.with_name(f"io_{output.name}")
    start = time.process_time()
    with rasterio.open(copy, "w", **profile) as dst:
        dst.write(values)
    write = time.process_time() - start
    copy.unlink()
    return {"read": read, "write": write}


def cpu_limit(ceiling: tuple[float, float], io: dict) -> float:
    """The fewest seconds a run can take on this machine's cores: the ceiling's seconds, or its CPU-seconds plus
    the unavoidable I/O's (:func:`io_cpu_seconds`) spread over the machine's cores (``os.cpu_count()``, as
    :func:`~rskeras.training.precision.describe_machine` counts them), whichever is longer."""
    seconds, cpu = ceiling
    return max(seconds, (cpu + io["read"] + io["write"]) / os.cpu_count())


def dense_variants(model, scene: Path, tile: int, overlap: int, batch: int) -> dict:
    """Per variant, ``(call, batches, scale)``: the forward pass over ``batches`` of real tiles, and the
    factor from those tiles to the ``n_tiles`` ``predict_raster`` predicts."""
    import rasterio
    import tensorflow as tf

    with rasterio.open(scene) as ds:
        n_tiles = len(tile_origins(ds.height, tile, overlap)) * len(tile_origins(ds.width, tile, overlap))
        strip = ds.read(window=rasterio.windows.Window(0, 0, ds.width, tile)).astype(np.float32)
    tiles = np.stack([strip[:, :, c:c + tile] for c in range(0, strip.shape[2] - tile + 1, tile - overlap)])
    tiles = np.moveaxis(tiles, 1, -1)[:batch]
    # as many calls as predict_raster makes (a quarter, scaled by 4, swung 5.9-6.8 s between pairs at 7.2 s
    # of predict_raster: each side of a pair is timed over the same length)
    reps = max(1, -(-n_tiles // len(tiles)))
    batches = [tf.constant(tiles)] * reps
    scale = n_tiles / (reps * len(tiles))
    return {f"tf.function{' + XLA' if jit else ''}, batch {len(tiles)}": (forward(model, jit), batches, scale)
            for jit in (False, True)}


def pixel_variants(model, scene: Path) -> dict:
    """Per variant, ``(call, batches, 1.0)``: the forward pass over every pixel of ``scene`` in memory."""
    import rasterio
    import tensorflow as tf

    with rasterio.open(scene) as ds:
        pixels = ds.read().reshape(ds.count, -1).T.astype(np.float32)
    variants = {}
    for jit in (False, True):
        call = forward(model, jit)
        for size in PIXEL_BATCHES:
            batches = [tf.constant(pixels[i:i + size]) for i in range(0, len(pixels), size)]
            variants[f"tf.function{' + XLA' if jit else ''}, batch {size}"] = (call, batches, 1.0)
    return variants


def measure(kind: str, scene: Path, stats, args) -> dict:
    """``predict_raster`` and the ceiling of one model, timed alternately ``args.repeats`` times."""
    from rskeras.inference import predict_raster

    model = build_model(kind, stats)
    options = {"tile_size": args.tile, "overlap": args.overlap} if kind == "dense" else {}
    dst = scene.with_name(f"pred_{scene.name}")
    first = predict_raster(model, scene, dst, progress=False, **options)  # traces, warms GDAL's cache
    variants = (dense_variants(model, scene, args.tile, args.overlap, first.batch_size) if kind == "dense"
                else pixel_variants(model, scene))
    ceilings = {name: scale * time_calls(call, batches)[0] for name, (call, batches, scale) in variants.items()}
    best = min(ceilings, key=ceilings.get)
    call, batches, scale = variants[best]
    pairs = []
    for _ in range(args.repeats):
        cpu = time.process_time()
        result = predict_raster(model, scene, dst, progress=False, **options)
        cpu = time.process_time() - cpu
        seconds, ceiling_cpu = (scale * t for t in time_calls(call, batches))
        io = io_cpu_seconds(scene, dst)
        pairs.append({"ceiling_seconds": seconds, "ceiling_cpu_seconds": ceiling_cpu,
                      "predict_raster_seconds": result.seconds, "predict_raster_cpu_seconds": cpu,
                      "io_cpu_seconds": io, "cpu_limit_seconds": cpu_limit((seconds, ceiling_cpu), io),
                      "stage_seconds": result.stage_seconds})
    ratios = [p["ceiling_seconds"] / p["predict_raster_seconds"] for p in pairs]
    cpu_ratios = [p["cpu_limit_seconds"] / p["predict_raster_seconds"] for p in pairs]
    return {
        "model": "U-Net depth 4, 8 filters" if kind == "dense" else "ANN, hidden (64, 64)",
        "scene": f"{SCENES[kind]} mirror-tiled to {args.size} x {args.size} px, {args.compress.upper()}",
        "tile": first.tile_size, "overlap": first.overlap, "batch_size": first.batch_size,
        "ceiling_variants_seconds": ceilings, "ceiling": best, "pairs": pairs,
        "ratio_median": statistics.median(ratios), "ratios": ratios,
        "cpu_limit_ratio_median": statistics.median(cpu_ratios), "cpu_limit_ratios": cpu_ratios,
        "megapixels_per_second": args.size**2 / 1e6 / statistics.median(p["predict_raster_seconds"] for p in pairs),
    }


def peak_memory(scene: Path, stats, args) -> float:
    """Peak resident memory (MiB) of ``predict_raster`` with the U-Net on ``scene``, in a fresh process."""
    code = ("import json, resource, sys; sys.path.insert(0, sys.argv[1]); import inference as b; "
            "from rskeras.inference import predict_raster; from pathlib import Path; s = Path(sys.argv[2]); "
            "m = b.build_model('dense', json.loads(sys.argv[3])); "
            "predict_raster(m, s, s.with_name('mem.tif'), tile_size=int(sys.argv[4]), overlap=int(sys.argv[5]), "
            "progress=False); print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)")
    command = [sys.executable, "-c", code, str(REPO / "benchmarks"), str(scene),
               json.dumps([list(s) for s in stats]), str(args.tile), str(args.overlap)]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=4096, help="scene side, pixels")
    parser.add_argument("--tile", type=int, default=256, help="U-Net tile side, pixels")
    parser.add_argument("--overlap", type=int, default=64, help="overlap of neighbouring U-Net tiles, pixels")
    parser.add_argument("--compress", default="lzw", choices=("lzw", "deflate", "zstd", "none"),
                        help="compression of the scenes written (LZW: GDAL's COG default)")
    parser.add_argument("--repeats", type=int, default=3, help="predict_raster / ceiling pairs per model")
    parser.add_argument("--models", nargs="+", choices=sorted(SCENES), default=sorted(SCENES))
    parser.add_argument("--memory", action="store_true", help="also the U-Net's peak memory at 1x and 2x the side")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "inference.json")
    args = parser.parse_args(argv)
    data = find_data()
    payload = {"command": " ".join(["python", "benchmarks/inference.py", *(argv or sys.argv[1:])]),
               "machine": describe_machine(), "load_average_before": os.getloadavg(),
               "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}
    with tempfile.TemporaryDirectory(prefix="rskeras_bench_") as folder:
        for kind in args.models:
            scene = Path(folder) / f"{kind}_{args.size}.tif"
            stats = build_scene(data / SCENES[kind], scene, args.size, args.compress)
            payload[kind] = measure(kind, scene, stats, args)
            result = payload[kind]
            print(f"{kind}: predict_raster {result['megapixels_per_second']:.2f} Mpx/s, "
                  f"{result['ratio_median']:.2f}x the ceiling ({result['ceiling']}), "
                  f"{result['cpu_limit_ratio_median']:.2f}x the CPU limit; stages of the last run "
                  + ", ".join(f"{k} {v:.2f} s" for k, v in result["pairs"][-1]["stage_seconds"].items()), flush=True)
            if kind == "dense" and args.memory:
                big = Path(folder) / f"dense_{2 * args.size}.tif"
                build_scene(data / SCENES[kind], big, 2 * args.size)
                payload["peak_memory_mib"] = {str(args.size): peak_memory(scene, stats, args),
                                              str(2 * args.size): peak_memory(big, stats, args)}
                print(f"peak memory: {payload['peak_memory_mib']} MiB", flush=True)
    payload["load_average_after"] = os.getloadavg()
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
