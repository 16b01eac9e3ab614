"""Benchmark: test-time augmentation on EuroSAT's validation split (not part of the test suite).

Evaluates the committed ``saved_models/eurosat_compact_resnet/eurosat_compact_resnet.keras`` on the whole
validation split (5,400 RGB patches of 64 x 64 px in ``../shared/data/eurosat_rgb``) twice with
:func:`rskeras.evaluation.evaluate_model`: once as it is, once with ``tta=True`` (the mean prediction of each
patch's 8 flips and rotations), and writes both reports' headline figures to ``benchmarks/results/tta.json``.
The validation split is the one the model's epochs were chosen on, not a held-out test split.

    python benchmarks/tta.py                 # the whole validation split (a few minutes on 2 CPU cores)
    python benchmarks/tta.py --limit 512     # a quick look
    python benchmarks/tta.py --model other.keras --out /tmp/tta.json   # another EuroSAT RGB model
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import rskeras  # noqa: E402  (before TensorFlow: turns oneDNN on)
from rskeras.data import find_data  # noqa: E402
from rskeras.data.eurosat_dataset import eurosat  # noqa: E402
from rskeras.evaluation import evaluate_model  # noqa: E402
from rskeras.training.precision import describe_machine  # noqa: E402
from rskeras.io import atomic_write_text  # noqa: E402

MODEL = REPO / "saved_models" / "eurosat_compact_resnet" / "eurosat_compact_resnet.keras"


def headline(report: dict, seconds: float) -> dict:
    """The figures to compare: accuracy, kappa, macro F1, per-class F1 and the time taken."""
    return {
        "overall_accuracy": report["overall_accuracy"],
        "kappa": report["kappa"],
        "macro_f1": report["macro"]["f1"],
        "per_class_f1": {name: values["f1"] for name, values in report["per_class"].items()},
        "n_images": report["n_images"],
        "seconds": round(seconds, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="the EuroSAT RGB folder (default: shared data)")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first N validation patches")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "tta.json")
    parser.add_argument("--model", type=Path, default=MODEL, help="the .keras model (default: the committed one)")
    args = parser.parse_args(argv)
    root = args.data or find_data() / "eurosat_rgb"
    model = rskeras.load_model(args.model)
    results = {}
    for name, tta in (("without_tta", False), ("with_tta", True)):
        data = eurosat(root, split="validation", batch_size=args.batch_size, limit=args.limit, shuffle=False)
        start = time.perf_counter()
        results[name] = headline(evaluate_model(model, data, tta=tta, progress=False), time.perf_counter() - start)
        print(f"{name}: overall accuracy {results[name]['overall_accuracy']:.4f}, kappa {results[name]['kappa']:.4f},"
              f" macro F1 {results[name]['macro_f1']:.4f} on {results[name]['n_images']} images in "
              f"{results[name]['seconds']:.0f} s", flush=True)
    gain = results["with_tta"]["overall_accuracy"] - results["without_tta"]["overall_accuracy"]
    path = args.model.resolve()
    payload = {"model": str(path.relative_to(REPO) if path.is_relative_to(REPO) else path), "split": "validation",
               "limit": args.limit,
               "machine": describe_machine(), **results,
               "accuracy_gain": gain}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, json.dumps(payload, indent=2) + "\n")
    print(f"TTA changes overall accuracy by {gain * 100:+.2f} points; wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
