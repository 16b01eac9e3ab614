"""Training benchmark: ``rskeras train`` on EuroSAT against the compiled train step on one batch in memory.

The configuration is the EuroSAT recipe's (:func:`rskeras.training.recipes.eurosat_recipe`: compact ResNet,
batch 64, flips and rotations, label smoothing, AdamW one-cycle) on the first ``--limit`` training images
of ``../shared/data/eurosat_rgb`` (JPEGs decoded, cached after the first epoch, as ``rskeras train`` does),
without validation. Each variant runs in its own process (oneDNN and thread settings take effect only
before TensorFlow starts):

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
ceiling against the default's tells what the setting does. The load average is recorded around each
variant. Writes ``benchmarks/results/training.json``. Run from the repository root::

    python benchmarks/training.py                       # all variants, about 6 minutes on 2 cores
    python benchmarks/training.py --variants default jit_compile --out /tmp/training.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

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

    from rskeras.data import find_data
    from rskeras.training import train
    from rskeras.training.config import load_config
    from rskeras.training.recipes import eurosat_recipe
    from rskeras.training.trainer import load_data, n_outputs, prepare_dataset

    with tempfile.TemporaryDirectory(prefix="rskeras_train_bench_") as folder:
        config = eurosat_recipe(find_data() / "eurosat_rgb", epochs=args.epochs, run_dir=Path(folder) / "run",
                                limit=args.limit, verbose=0)
        config["data"]["validation_split"] = None
        config["output"]["evaluate"] = False
        config["training"].update(overrides)
        cfg = load_config(config)
        data = load_data(cfg)
        batch = next(iter(prepare_dataset(data.train, "multiclass", n_outputs(cfg.task, data.class_names), True,
                                          cfg.training.augment, cfg.training.label_smoothing, 0)))

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
                step = self.model.make_train_function()
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


def run_variant(variant: str, args) -> dict:
    """``variant`` in a fresh process, with the load average before and after; an error is recorded as such."""
    env_vars, threads, overrides = VARIANTS[variant]
    command = [sys.executable, __file__, "--worker", variant, "--epochs", str(args.epochs), "--limit", str(args.limit)]
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
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=3, help="epochs per variant (the first is not measured)")
    parser.add_argument("--limit", type=int, default=768, help="training images (12 steps of 64)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "training.json")
    parser.add_argument("--worker", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return 0
    sys.path.insert(0, str(REPO))
    from rskeras.io import atomic_write_text

    payload = {"command": " ".join(["python", "benchmarks/training.py", *(argv or sys.argv[1:])]),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores", "limit": args.limit,
               "epochs": args.epochs, "variants": {}}
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
