"""CPU cost of the EuroSAT search's candidates relative to rskeras' compact_resnet (TensorFlow, this machine).

    TF_ENABLE_ONEDNN_OPTS=1 KERAS_BACKEND=tensorflow PYTHONPATH=$PWD \\
        .venv/bin/python benchmarks/eurosat_search/cpu_cost.py --rounds 3 --steps 4

Times the compiled train step (forward, backward, AdamW update; augmentation left out: in rskeras it runs
in the tf.data pipeline) of each candidate on random batches held in memory, the candidates interleaved
round by round so that load from other processes falls on all of them alike, and reports the median
images per second of each and its cost per image relative to the first (``compact`` at 64x64, batch 64);
also the multiply-accumulates per image. The costs feed ``search.py``'s ``CPU_COST`` table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks.eurosat_search.models import ARCHITECTURES, compact_resnet, multiply_accumulates  # noqa: E402

# (label, architecture, input size, batch, extra options of compact_resnet, EMA)
CANDIDATES = [
    ("compact@64", "compact", 64, 64, {}, False),
    ("compact@48", "compact", 48, 64, {}, False),
    ("compact@32", "compact", 32, 64, {}, False),
    ("compact@64 ema", "compact", 64, 64, {}, True),
    ("compact@64 b128", "compact", 64, 128, {}, False),
    ("compact@64 drop_path", "compact", 64, 64, {"drop_path": 0.1}, False),
    ("compact_s2@64", "compact_s2", 64, 64, {}, False),
    ("compact_1221@64", "compact_1221", 64, 64, {}, False),
    ("compact_w48_s2@64", "compact_w48_s2", 64, 64, {}, False),
]


def train_step_timer(arch: str, size: int, batch: int, options: dict, ema: bool):
    model = compact_resnet([90.0] * 3, [40.0] * 3, **ARCHITECTURES[arch], dihedral=False, **options)
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
    p.add_argument("--out", default=None, help="write the results as JSON here")
    args = p.parse_args(argv)
    timers = {}
    for label, arch, size, batch, options, ema in CANDIDATES:
        model, timer = train_step_timer(arch, size, batch, options, ema)
        timers[label] = (timer, model.count_params(), multiply_accumulates(model, size))
    speeds = {label: [] for label in timers}
    for r in range(args.rounds):
        for label, (timer, _, _) in timers.items():
            speeds[label].append(timer(args.steps))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in speeds.items()), flush=True)
    reference = statistics.median(next(iter(speeds.values())))
    rows = []
    for label, (_, params, macs) in timers.items():
        median = statistics.median(speeds[label])
        rows.append({"candidate": label, "parameters": params, "mmac_per_image": round(macs / 1e6, 2),
                     "images_per_second": round(median, 1), "samples": [round(s, 1) for s in speeds[label]],
                     "relative_cost": round(reference / median, 3)})
        print(f"{label:24s} {params:>9,} params {macs / 1e6:7.1f} MMAC {median:7.1f} img/s "
              f"cost x{reference / median:.2f} (MAC x{macs / rows[0]['mmac_per_image'] / 1e6:.2f})")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"device": "2 CPU cores (shared), TensorFlow " + __import__("tensorflow").__version__,
                       "rounds": args.rounds, "steps": args.steps, "candidates": rows}, f, indent=1)


if __name__ == "__main__":
    main()
