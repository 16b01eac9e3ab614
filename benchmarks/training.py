"""Training benchmark: ``rskeras train`` on EuroSAT and on Earth Engine patches against the compiled train step on
one batch in memory.

``--source eurosat`` (the default): the EuroSAT recipe's configuration
(:func:`rskeras.training.recipes.eurosat_recipe`: compact ResNet, batch 64, flips and rotations, label
smoothing, AdamW one-cycle) on the first ``--limit`` training images of ``../shared/data/eurosat_rgb`` (JPEGs
decoded, cached after the first epoch, as ``rskeras train`` does), without validation. ``--source
earthengine``: a U-Net (depth 3, 16 filters, batch 16, flips and rotations) on ``--limit`` 64 px patches of
the real 8-band Landsat 7 stack (``../shared/data/labels``; 7 bands, a label band of 3 NDVI classes) written in
Earth Engine's TFRecord layout (GZIP shards of 128 records, as an export writes them) and read by
``source: earthengine``, without validation. Each variant runs in its own process (oneDNN and thread
settings take effect only before TensorFlow starts):

- ``default``: what ``rskeras train`` does now;
- ``jit_compile``: ``training.jit_compile: true`` (XLA);
- ``onednn_off``: ``TF_ENABLE_ONEDNN_OPTS=0`` (rskeras sets 1 unless the user set a value);
- ``inter1_intra2``, ``inter2_intra1``: TensorFlow's inter- and intra-op thread pools
  (``tf.config.threading``; TensorFlow's default is one thread per core for both);
- ``mixed_bfloat16``: ``training.precision: mixed_bfloat16``.

In each process :func:`rskeras.training.train` runs ``--epochs`` epochs; after every epoch but the first
(tracing, cache filling) a callback times the same model's compiled train step (Keras' own
``train_function``, the one ``fit`` runs) on one batch of the same pipeline already in memory, for as many
steps as the epoch had. The ratio is the step time of the ceiling over the step time of ``rskeras train``
(from the first to the last batch of the epoch), the median over epochs (target >= 0.9); each variant's
ceiling against the default's tells what the setting does, though processes run at different times see
different load; ``--paired`` therefore also times the float32, XLA and mixed_bfloat16 train steps side by side
in one process, in turn, ``--rounds`` times (:data:`PAIRED`), with rskeras' fused batch normalisation and, for
float32 and mixed_bfloat16, with Keras' own layer in its place. The load average is recorded around each
process. Writes ``benchmarks/results/training.json``. Run from the repository root::

    python benchmarks/training.py                       # all variants, about 6 minutes on 2 cores
    python benchmarks/training.py --source earthengine --variants default --out benchmarks/results/training_ee.json
    python benchmarks/training.py --variants --paired --out benchmarks/results/training_paired.json
    python benchmarks/training.py --variants default --paired --out benchmarks/results/training_batchnorm.json
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

REPO = Path(__file__).resolve().parents[1]

#: Models timed side by side in one process (``paired``): name -> (dtype policy, jit_compile, batch normalisation
#: by rskeras' FusedBatchNormalization, as the builders make it, or by Keras' own layer in its place).
PAIRED = {"float32": ("float32", False, "fused"), "jit_compile": ("float32", True, "fused"),
          "mixed_bfloat16": ("mixed_bfloat16", False, "fused"),
          "float32_keras_bn": ("float32", False, "keras"),
          "mixed_bfloat16_keras_bn": ("mixed_bfloat16", False, "keras")}
#: Variant -> (environment, (inter, intra) threads or None, configuration overrides).
VARIANTS = {
    "default": ({}, None, {}),
    "jit_compile": ({}, None, {"jit_compile": True}),
    "onednn_off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, None, {}),
    "inter1_intra2": ({}, (1, 2), {}),
    "inter2_intra1": ({}, (2, 1), {}),
    "mixed_bfloat16": ({}, None, {"precision": "mixed_bfloat16"}),
}


def worker(variant: str, args) -> dict:
    """Train ``variant`` in this process; per measured epoch the step seconds of ``train`` and the ceiling."""
    import rskeras  # noqa: F401  (before TensorFlow)
    import tensorflow as tf

    _, threads, overrides = VARIANTS[variant]
    if threads:
        tf.config.threading.set_inter_op_parallelism_threads(threads[0])
        tf.config.threading.set_intra_op_parallelism_threads(threads[1])
    import keras

    from rskeras.training import train

    with tempfile.TemporaryDirectory(prefix="rskeras_train_bench_") as folder:
        cfg, data, batch = recipe(args, Path(folder) / "run", overrides)

        class StepClock(keras.callbacks.Callback):
            """Times the epoch's batches, then the compiled train step on ``batch`` as many times."""

            def __init__(self):
                super().__init__()
                self.stamps, self.epochs = [], []

            def on_epoch_begin(self, epoch, logs=None):
                self.stamps = []

            def on_train_batch_end(self, batch_index, logs=None):
                self.stamps.append(time.perf_counter())

            def on_epoch_end(self, epoch, logs=None):
                if epoch == 0:
                    return
                steps = len(self.stamps) - 1
                step = self.model.train_function  # the one fit compiled
                float(step(iter([batch]))["loss"])  # traced once outside fit's loop: not timed
                start = time.perf_counter()
                for _ in range(steps):
                    out = step(iter([batch]))
                float(out["loss"])
                self.epochs.append({"train_step_seconds": (self.stamps[-1] - self.stamps[0]) / steps,
                                    "ceiling_step_seconds": (time.perf_counter() - start) / steps})

        clock = StepClock()
        train(cfg, callbacks=[clock])
    ratios = [e["ceiling_step_seconds"] / e["train_step_seconds"] for e in clock.epochs]
    return {"epochs": clock.epochs, "ratio_median": statistics.median(ratios),
            "train_step_seconds": statistics.median(e["train_step_seconds"] for e in clock.epochs),
            "ceiling_step_seconds": statistics.median(e["ceiling_step_seconds"] for e in clock.epochs)}


def recipe(args, run_dir: Path, overrides: dict):
    """The benchmark's configuration (``args.source``, no validation), its data
    (:func:`rskeras.training.trainer.load_data`) and one batch of its training pipeline in memory."""
    from rskeras.training.config import load_config
    from rskeras.training.trainer import load_data, n_outputs, prepare_dataset

    config = eurosat_config(args, run_dir) if args.source == "eurosat" else earthengine_config(args, run_dir)
    config["training"].update(overrides)
    cfg = load_config(config)
    data = load_data(cfg)
    batch = next(iter(prepare_dataset(data.train, cfg.task.type, n_outputs(cfg.task, data.class_names), True,
                                      cfg.training.augment, cfg.training.label_smoothing, 0)))
    return cfg, data, batch


def eurosat_config(args, run_dir: Path) -> dict:
    """The EuroSAT recipe on ``args.limit`` images, without validation."""
    from rskeras.data import find_data
    from rskeras.training.recipes import eurosat_recipe

    config = eurosat_recipe(find_data() / "eurosat_rgb", epochs=args.epochs, run_dir=run_dir, limit=args.limit,
                            verbose=0)
    config["data"]["validation_split"] = None
    config["output"]["evaluate"] = False
    return config


def earthengine_config(args, run_dir: Path) -> dict:
    """A U-Net on ``args.limit`` real Landsat 7 patches in Earth Engine's layout (written under ``run_dir``)."""
    import numpy as np
    import rasterio

    from rskeras.data import find_data, write_ee_patches

    with rasterio.open(find_data() / "labels" / "landsat7_1999_stack.tif") as src:
        scene = np.tile(src.read(list(range(1, 8))).astype(np.float32), (1, 4, 4))  # 1000 x 1000 px
    red, nir = scene[2], scene[3]
    label = (np.digitize((nir - red) / np.maximum(nir + red, 1), [0.2, 0.5])).astype(np.float32)
    stack = np.concatenate([scene, label[None]]).transpose(1, 2, 0)
    rng = np.random.default_rng(0)
    tops = rng.integers(0, stack.shape[0] - 64, (args.limit, 2))
    patches = np.stack([stack[r:r + 64, c:c + 64] for r, c in tops])
    folder = run_dir.parent / "patches"
    folder.mkdir(parents=True, exist_ok=True)
    bands = [f"band_{i}" for i in range(1, 8)]
    for start in range(0, len(patches), 128):
        write_ee_patches(folder / f"train-{start // 128:05d}.tfrecord.gz", patches[start:start + 128],
                         [*bands, "label"])
    return {"data": {"source": "earthengine", "train_files": str(folder / "train-*.tfrecord.gz"), "bands": bands,
                     "label": "label", "patch_size": 64, "batch_size": 16},
            "model": {"name": "unet", "options": {"depth": 3, "filters": 16}},
            "task": {"type": "multiclass", "class_names": ["low NDVI", "mid NDVI", "high NDVI"]},
            "training": {"epochs": args.epochs, "verbose": 0},
            "output": {"run_dir": str(run_dir), "tensorboard": False, "evaluate": False}}


def paired(args) -> dict:
    """In one process: the recipe model's compiled train step as :data:`PAIRED` builds it, each on the same
    batch in memory, timed in turn ``args.rounds`` times (12 steps each); seconds per step, per round."""
    import rskeras  # noqa: F401  (before TensorFlow)
    import keras

    from benchmarks.batchnorm import with_keras_batch_normalization
    from rskeras.training.trainer import build_model, compile_model, make_optimizer

    with tempfile.TemporaryDirectory(prefix="rskeras_train_bench_") as folder:
        cfg, data, batch = recipe(args, Path(folder) / "run", {})
    steps = {}
    for name, (policy, jit, batch_norm) in PAIRED.items():
        keras.mixed_precision.set_dtype_policy(policy)
        model = build_model(cfg, data)
        if batch_norm == "keras":
            model = with_keras_batch_normalization(model)
        compile_model(model, "multiclass", make_optimizer(cfg.training, 12), cfg.training.label_smoothing, policy,
                      jit_compile=jit, augment=cfg.training.augment)
        model.make_train_function()
        steps[name] = model.train_function
        float(steps[name](iter([batch]))["loss"])  # traced, not timed
    keras.mixed_precision.set_dtype_policy("float32")
    seconds = {name: [] for name in PAIRED}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(12):
                out = step(iter([batch]))
            float(out["loss"])
            seconds[name].append((time.perf_counter() - start) / 12)
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    return {"step_seconds": seconds, "step_seconds_median": medians,
            "speed_relative_to_float32": {name: medians["float32"] / m for name, m in medians.items()}}


def run_variant(variant: str, args) -> dict:
    """``variant`` (or ``"paired"``) in a fresh process, with the load average before and after; an error is
    recorded as such."""
    env_vars, threads, overrides = VARIANTS.get(variant, ({}, None, {}))
    command = [sys.executable, __file__, "--worker", variant, "--epochs", str(args.epochs), "--limit", str(args.limit),
               "--rounds", str(args.rounds), "--source", args.source]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", **env_vars)
    before = os.getloadavg()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    result = {"environment": env_vars, "threads_inter_intra": threads, "training_overrides": overrides,
              "load_average_before": before, "load_average_after": os.getloadavg()}
    if done.returncode != 0:
        return {**result, "exit_code": done.returncode, "error": done.stderr[-2000:]}
    return {**result, **json.loads(done.stdout.strip().splitlines()[-1])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--paired", action="store_true", help="also time float32, XLA and mixed_bfloat16 train "
                        "steps side by side in one process")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per variant (the first is not measured)")
    parser.add_argument("--source", choices=["eurosat", "earthengine"], default="eurosat")
    parser.add_argument("--limit", type=int, default=768, help="training images or patches (EuroSAT: 12 steps of 64)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "training.json")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the paired comparison")
    parser.add_argument("--worker", choices=[*VARIANTS, "paired"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(paired(args) if args.worker == "paired" else worker(args.worker, args)))
        return 0
    sys.path.insert(0, str(REPO))
    from rskeras.training.precision import describe_machine
    from rskeras.io import atomic_write_text

    payload = {"command": " ".join(["python", "benchmarks/training.py", *(argv or sys.argv[1:])]),
               "machine": describe_machine(), "source": args.source,
               "limit": args.limit, "epochs": args.epochs, "variants": {}}
    if args.paired:
        payload["paired"] = run_variant("paired", args)
        print(f"paired in one process, speed relative to float32: {payload['paired'].get('speed_relative_to_float32')}")
    for variant in args.variants:
        result = payload["variants"][variant] = run_variant(variant, args)
        if "error" in result:
            print(f"{variant}: exit code {result['exit_code']}", flush=True)
            continue
        default = payload["variants"].get("default", result)
        print(f"{variant}: rskeras train {result['train_step_seconds'] * 1000:.0f} ms/step, ceiling "
              f"{result['ceiling_step_seconds'] * 1000:.0f} ms/step, ratio {result['ratio_median']:.2f}; "
              f"ceiling {default.get('ceiling_step_seconds', 0) / result['ceiling_step_seconds']:.2f}x the default's "
              f"speed (load {result['load_average_before'][0]:.1f})", flush=True)
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
