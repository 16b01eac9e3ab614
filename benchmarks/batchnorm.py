"""Benchmark: rskeras' FusedBatchNormalization against Keras' BatchNormalization, side by side in one process.

The same model is built twice: as rskeras' builders make it (:class:`rskeras.layers.FusedBatchNormalization`,
TensorFlow's fused kernel) and with ``keras.layers.BatchNormalization`` in its place
(:func:`with_keras_batch_normalization`). For each model and dtype policy, the compiled forward pass
(``tf.function``, ``training=False``) and Keras' compiled train step (``train_function``, AdamW, the batch in
memory) of both are timed in turn, ``--rounds`` times, so machine load weighs on both; the speed-up is the
median Keras time over the median fused time. Models:

- ``compact_resnet``: the EuroSAT recipe's network, batch 64 of 64 x 64 x 3 px, 10 classes;
- ``unet_sen12tp``: the U-Net with batch normalisation (depth 4, 16 filters), batch 8 of 256 x 256 x 4 px,
  5 classes.

Writes ``benchmarks/results/batchnorm.json``. Run from the repository root::

    python benchmarks/batchnorm.py                 # about 4 minutes on 2 cores
    python benchmarks/batchnorm.py --rounds 2 --out /tmp/batchnorm.json   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POLICIES = ("float32", "mixed_bfloat16")


def with_keras_batch_normalization(model):
    """A copy of ``model`` (fresh weights) with ``keras.layers.BatchNormalization`` where it has rskeras'
    :class:`~rskeras.layers.FusedBatchNormalization` (the same configuration)."""
    import keras

    from rskeras.layers import FusedBatchNormalization

    def clone(layer):
        cls = keras.layers.BatchNormalization if isinstance(layer, FusedBatchNormalization) else type(layer)
        return cls.from_config(layer.get_config())

    return keras.models.clone_model(model, clone_function=clone)


def cases():
    """name -> (builder of the fused model, batch shape, label shape, classes)."""
    from rskeras.models import compact_resnet, unet

    return {
        "compact_resnet": (lambda: compact_resnet((None, None, 3), n_outputs=10), (64, 64, 64, 3), (64,), 10),
        "unet_sen12tp": (lambda: unet((None, None, 4), n_outputs=5, variant="sen12tp", depth=4, filters=16),
                         (8, 256, 256, 4), (8, 256, 256), 5),
    }


def compiled_calls(model, x, y) -> dict:
    """``{"forward": f, "train_step": f}``: zero-argument calls of the compiled forward pass and train step,
    each traced and run once."""
    import keras
    import tensorflow as tf

    model.compile(optimizer=keras.optimizers.AdamW(1e-3, weight_decay=0.05), loss="sparse_categorical_crossentropy")
    model.make_train_function()
    forward = tf.function(lambda t: model(t, training=False))
    calls = {"forward": lambda: forward(x), "train_step": lambda: model.train_function(iter([(x, y)]))["loss"]}
    for call in calls.values():
        float(tf.reduce_sum(call()))
    return calls


def measure(name: str, policy: str, rounds: int, repeats: int = 5) -> dict:
    """Seconds per call of both models' forward pass and train step, ``rounds`` rounds in turn."""
    import keras
    import numpy as np
    import tensorflow as tf

    build, shape, label_shape, classes = cases()[name]
    keras.mixed_precision.set_dtype_policy(policy)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 255, shape).astype("float32"))
    y = tf.constant(rng.integers(0, classes, label_shape))
    fused = build()
    models = {"fused": compiled_calls(fused, x, y),
              "keras": compiled_calls(with_keras_batch_normalization(fused), x, y)}
    keras.mixed_precision.set_dtype_policy("float32")
    seconds = {f"{kind}_{bn}": [] for kind in ("forward", "train_step") for bn in models}
    for _ in range(rounds):
        for bn, calls in models.items():
            for kind, call in calls.items():
                start = time.perf_counter()
                for _ in range(repeats):
                    out = call()
                float(tf.reduce_sum(out))
                seconds[f"{kind}_{bn}"].append((time.perf_counter() - start) / repeats)
    medians = {key: statistics.median(values) for key, values in seconds.items()}
    return {"batch_shape": list(shape), "seconds": seconds, "seconds_median": medians,
            "fused_speedup": {kind: medians[f"{kind}_keras"] / medians[f"{kind}_fused"]
                              for kind in ("forward", "train_step")}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="rounds of the side-by-side timing")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "batchnorm.json")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    import rskeras  # noqa: F401  (before TensorFlow: oneDNN on)
    from rskeras.training.precision import describe_machine
    from rskeras.io import atomic_write_text

    payload = {"command": " ".join(["python", "benchmarks/batchnorm.py", *(argv or sys.argv[1:])]),
               "machine": describe_machine(), "load_average_before": os.getloadavg(),
               "results": {}}
    for name in cases():
        for policy in POLICIES:
            result = payload["results"][f"{name}_{policy}"] = measure(name, policy, args.rounds)
            speedup = result["fused_speedup"]
            print(f"{name} {policy}: fused forward pass {speedup['forward']:.2f}x, train step "
                  f"{speedup['train_step']:.2f}x the speed of Keras' layer", flush=True)
    payload["load_average_after"] = os.getloadavg()
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
