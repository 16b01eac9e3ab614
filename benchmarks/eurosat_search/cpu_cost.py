"""CPU cost of the EuroSAT search's candidates relative to rskeras' compact_resnet (TensorFlow, this machine).

    TF_ENABLE_ONEDNN_OPTS=1 KERAS_BACKEND=tensorflow PYTHONPATH=$PWD \\
        .venv/bin/python benchmarks/eurosat_search/cpu_cost.py --rounds 3 --steps 4

Times the compiled train step (forward, backward, AdamW update; augmentation left out: in rskeras it runs
in the tf.data pipeline) of each candidate on random batches held in memory. In every round each
candidate is timed between two timings of the reference (``compact`` at 64x64, batch 64, float32), so
that load from other processes falls on both alike; the cost per image relative to the reference is the
median over rounds of reference speed / candidate speed. Also the multiply-accumulates per image.
``search.py``'s ``CPU_COST`` table uses the MAC ratios, which these timings bear out within their noise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras
import numpy as np

from benchmarks.eurosat_search.models import (
    ARCHITECTURES,
    compact_resnet,
    multiply_accumulates,
)

# (label, architecture, input size, batch, extra options of compact_resnet, EMA, dtype policy)
CANDIDATES = [
    ("compact@64", "compact", 64, 64, {}, False, "float32"),
    ("compact@48", "compact", 48, 64, {}, False, "float32"),
    ("compact@32", "compact", 32, 64, {}, False, "float32"),
    ("compact@64 ema", "compact", 64, 64, {}, True, "float32"),
    ("compact@64 drop_path", "compact", 64, 64, {"drop_path": 0.1}, False, "float32"),
    ("compact@64 bf16", "compact", 64, 64, {}, False, "mixed_bfloat16"),
    ("compact@64 b128", "compact", 64, 128, {}, False, "float32"),
    ("compact_s2@64", "compact_s2", 64, 64, {}, False, "float32"),
    ("compact_s2@48", "compact_s2", 48, 64, {}, False, "float32"),
    ("compact_s2@32", "compact_s2", 32, 64, {}, False, "float32"),
    ("compact_1221@64", "compact_1221", 64, 64, {}, False, "float32"),
    ("compact_w48_s2@64", "compact_w48_s2", 64, 64, {}, False, "float32"),
]


def train_step_timer(arch: str, size: int, batch: int, options: dict, ema: bool, policy: str = "float32"):
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = compact_resnet([90.0] * 3, [40.0] * 3, **ARCHITECTURES[arch], dihedral=False, **options)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    optimizer = keras.optimizers.AdamW(1e-3, weight_decay=0.05, use_ema=ema, ema_momentum=0.999)
    model.compile(optimizer, keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, batch), 10)
    model.train_on_batch(x, y)  # trace and build

    def images_per_second(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        return steps * batch / (time.perf_counter() - start)

    return model, images_per_second


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=4, help="train steps per candidate and round")
    p.add_argument("--only", default=None, help="comma-separated labels to time (the reference always)")
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    timers = {}
    for i, (label, arch, size, batch, options, ema, policy) in enumerate(CANDIDATES):
        if i and only is not None and label not in only:
            continue
        model, timer = train_step_timer(arch, size, batch, options, ema, policy)
        timers[label] = (timer, model.count_params(), multiply_accumulates(model, size))
    speeds = {label: [] for label in timers}
    reference = next(iter(timers))
    for r in range(args.rounds):  # the reference is timed before and after each candidate in every round
        ref_before = timers[reference][0](args.steps)
        for label, (timer, _, _) in timers.items():
            speed = ref_before if label == reference else timer(args.steps)
            ref_after = timers[reference][0](args.steps) if label != reference else ref_before
            speeds[label].append((speed, (ref_before + ref_after) / 2))
            ref_before = ref_after
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1][0]:.0f}" for k, v in speeds.items()), flush=True)
    rows = []
    for label, (_, params, macs) in timers.items():
        ratio = statistics.median(ref / speed for speed, ref in speeds[label])
        median = statistics.median(speed for speed, _ in speeds[label])
        rows.append({"candidate": label, "parameters": params, "mmac_per_image": round(macs / 1e6, 2),
                     "images_per_second": round(median, 1), "samples": [round(s, 1) for s, _ in speeds[label]],
                     "relative_cost": round(ratio, 3),
                     "relative_cost_per_round": [round(ref / s, 3) for s, ref in speeds[label]]})
        print(f"{label:24s} {params:>9,} params {macs / 1e6:7.1f} MMAC {median:7.1f} img/s "
              f"cost x{ratio:.2f} (MAC x{macs / rows[0]['mmac_per_image'] / 1e6:.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": "2 CPU cores (shared), TensorFlow " + __import__("tensorflow").__version__,
                       "rounds": args.rounds, "steps": args.steps, "candidates": rows}, f, indent=1)


if __name__ == "__main__":
    main()
