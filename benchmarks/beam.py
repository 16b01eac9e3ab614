"""Beam batch inference benchmark: scenes per minute of ``predict_scenes`` with 1 and 2 local workers against the
plain single-process loop of ``predict_raster`` over the same scenes.

The scenes are tiles cut, with their georeferencing, from the real Landsat 7 RGB subset (791 x 718 px, 3 bands)
and repeated under other names to ``--scenes`` files; the model is a U-Net (depth 3, 16 filters) saved as .keras.
Each measurement starts from an empty output folder and counts everything a user waits for: loading the model,
Beam's pipeline start and, for 2 workers, starting the worker processes (each imports TensorFlow):

- ``loop``: ``for scene: predict_raster(model, scene, dst)`` with the model loaded once;
- ``beam_1``: ``predict_scenes`` on the DirectRunner in this process (``--direct_num_workers 1``);
- ``beam_2``: ``--direct_num_workers 2 --direct_running_mode multi_processing``.

Each run also records the CPU cores it kept busy on average (CPU seconds of this process and of the worker
processes, over wall-clock seconds). Two workers can at most use every core, so with the CPU time per scene
unchanged, beam_2 / beam_1 cannot pass ``cores / cores used by beam_1`` (``beam_2_over_beam_1_bound``).

Targets of issue 17: beam_2 at least 1.6x beam_1, beam_1 at least 0.9x the loop. Results go to
``benchmarks/results/beam.json``. Run from the repository root::

    .venv/bin/python benchmarks/beam.py              # 360 scenes: the README's figures (beam.json)
    .venv/bin/python benchmarks/beam.py --scenes 72 --out benchmarks/results/beam_72.json
    .venv/bin/python benchmarks/beam.py --scenes 8 --out /tmp/beam.json    # a quick look

Not run by the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
LANDSAT = Path(os.environ.get("RSKERAS_SHARED_DATA", REPO.parent / "shared" / "data")) / "rasters" / "landsat7_rgb_byte.tif"
RESULT = REPO / "benchmarks" / "results" / "beam.json"


def make_scenes(folder: Path, n: int, grid: int = 3) -> list[str]:
    """``n`` scene files: the ``grid x grid`` tiles of the Landsat scene, repeated under other names."""
    import rasterio
    from rasterio.windows import Window

    tiles = []
    with rasterio.open(LANDSAT) as ds:
        h, w = ds.height // grid, ds.width // grid
        for k in range(n):
            i, j = divmod(k % (grid * grid), grid)
            window = Window(j * w, i * h, w, h)
            path = folder / f"scene_{k:03d}.tif"
            with rasterio.open(path, "w", **(ds.profile | {"width": w, "height": h,
                                                          "transform": ds.window_transform(window)})) as out:
                out.write(ds.read(window=window))
            tiles.append(str(path))
    return tiles


def timed(fn) -> tuple[float, float]:
    """Wall-clock seconds of ``fn()`` and the CPU seconds it used: this process's, and those of the worker
    processes that ended during it."""
    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    start, start_cpu = time.perf_counter(), cpu()
    fn()
    return time.perf_counter() - start, cpu() - start_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=360)
    parser.add_argument("--tile-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()

    import rasterio

    import rskeras
    from rskeras.beam import predict_scenes
    from rskeras.inference.runner import load_model
    from rskeras.models import unet

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scenes = make_scenes(folder, args.scenes)
        model_path = folder / "unet.keras"
        unet((None, None, 3), task="multiclass", depth=3, filters=16, band_names=["band_1", "band_2", "band_3"],
             class_names=["a", "b", "c", "d"]).save(model_path)

        def loop() -> None:
            model = load_model(model_path)
            out = folder / "loop"
            out.mkdir()
            for scene in scenes:
                rskeras.predict_raster(model, scene, out / Path(scene).name, tile_size=args.tile_size, progress=False)

        def beam(workers: int):
            flags = ["--direct_num_workers", str(workers)]
            if workers > 1:
                flags += ["--direct_running_mode", "multi_processing"]
            out = folder / f"beam_{workers}"
            return lambda: predict_scenes(str(model_path), scenes, out, tile_size=args.tile_size,
                                          pipeline_options=flags)

        runs = {"loop": timed(loop), "beam_1": timed(beam(1)), "beam_2": timed(beam(2))}
        seconds = {k: wall for k, (wall, _) in runs.items()}
        cores = {k: cpu / wall for k, (wall, cpu) in runs.items()}
        with rasterio.open(scenes[0]) as first:
            size = [first.height, first.width]
        shutil.rmtree(folder / "loop")
    per_minute = {k: round(args.scenes * 60 / v, 2) for k, v in seconds.items()}
    result = {
        "what": "scenes per minute: predict_raster loop vs predict_scenes (Beam DirectRunner) with 1 and 2 workers",
        "scenes": args.scenes, "scene_size_px": size, "model": "U-Net depth 3, 16 filters, 3 bands, 4 classes",
        "tile_size": args.tile_size, "cpu_cores": os.cpu_count(),
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": {k: round(v, 2) for k, v in seconds.items()}, "scenes_per_minute": per_minute,
        "beam_2_over_beam_1": round(seconds["beam_1"] / seconds["beam_2"], 3),
        "beam_1_over_loop": round(seconds["loop"] / seconds["beam_1"], 3),
        "cpu_cores_used": {k: round(v, 2) for k, v in cores.items()},
        # 2 workers get at most all the cores: beam_1's speed times cores / the cores beam_1 already keeps busy
        "beam_2_over_beam_1_bound": round(os.cpu_count() / cores["beam_1"], 3),
        "targets": {"beam_2_over_beam_1": 1.6, "beam_1_over_loop": 0.9},
    }
    from rskeras.io import atomic_write_text

    atomic_write_text(args.out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
