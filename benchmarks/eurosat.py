"""EuroSAT RGB from scratch: rskeras' best recipe, its validation accuracy, per-class F1, time and speed.

    .venv/bin/python benchmarks/eurosat.py --minutes 60          # the full run (2 CPU cores: compact_resnet)
    .venv/bin/python benchmarks/eurosat.py --quick               # a 3-minute smoke run on a subset
    .venv/bin/python benchmarks/eurosat.py --model resnet50 --epochs 30   # on a GPU, mixed precision
    .venv/bin/python benchmarks/eurosat.py --minutes 60 --precision mixed_bfloat16 --progressive 32:0.2,48:0.2 \
        --validation-freq 5          # bfloat16 on a CPU that has it, the first 40 % of the epochs on smaller
                                     # patches, validation after every fifth epoch (the committed model's run)

The recipe (rskeras.training.recipes): a compact residual CNN with its normalisation inside,
random flips and 90-degree rotations, label smoothing 0.1, AdamW with a one-cycle schedule; the
epochs are chosen from the measured throughput to fill the time budget. No pretrained weights.
The trained model is written to ``saved_models/eurosat_<model>/`` (``.keras`` and SavedModel
version 1, computing in float32 whatever the training precision): raw RGB 64x64x3 values 0-255
as float32 in, the 10 class probabilities in ``label_map.json`` order out. ``--quick`` writes under
``--out`` instead, never over the committed model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import rskeras  # noqa: F401  (before TensorFlow: oneDNN on)
from rskeras.training.precision import PRECISIONS

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None,
                   help="EuroSAT RGB folder (class folders, train.csv, validation.csv, label_map.json), or a data "
                   "folder holding eurosat_rgb/ (default: $RSKERAS_DATA, then ../shared/data; 'tfds' for "
                   "tensorflow-datasets)")
    p.add_argument("--model", default="auto", help="compact_resnet (CPU default), compact_resnet_small, resnet50 "
                   "(GPU default) or googlenet")
    p.add_argument("--minutes", type=float, default=None, help="time budget of the whole run (default 60)")
    p.add_argument("--epochs", type=int, default=None, help="fixed epochs instead of a time budget")
    p.add_argument("--limit", type=int, default=None, help="train on the first N images only")
    p.add_argument("--validation-limit", type=int, default=None, help="validate on the first N images only")
    p.add_argument("--quick", action="store_true", help="smoke run: 3 minutes, 4096 training and 1024 validation "
                   "images, model written under --out")
    p.add_argument("--out", default=str(REPO / "outputs" / "benchmarks" / "eurosat"), help="output folder")
    p.add_argument("--export-dir", default=str(REPO / "saved_models"), help="where eurosat_<model>/ is written")
    p.add_argument("--resume", action="store_true", help="continue the run in OUT/run instead of starting afresh")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--precision", default="auto", choices=PRECISIONS,
                   help="auto: mixed precision on a GPU, float32 elsewhere")
    p.add_argument("--progressive", default=None, metavar="SIZE:SHARE,...",
                   help="progressive resizing, e.g. 32:0.2,48:0.2: the first 20 %% of the epochs on 32x32 patches, "
                   "the next 20 %% at 48x48, the rest at 64x64")
    p.add_argument("--augment", default="flip", metavar="STEP,...",
                   help="training.augment steps, e.g. flip,shift (default: flip, the eight flips and rotations)")
    p.add_argument("--validation-freq", type=int, default=1, metavar="N",
                   help="validate after every Nth epoch only (the final model is evaluated on the whole split)")
    p.add_argument("--verbose", type=int, default=2, choices=(1, 2),
                   help="1: Keras' per-batch progress bar; 2 (default): one line per epoch (about 3 %% faster)")
    args = p.parse_args(argv)

    from rskeras.demo import find_eurosat
    from rskeras.training.recipes import train_eurosat

    minutes, export_dir = args.minutes, args.export_dir
    limit, validation_limit = args.limit, args.validation_limit
    if args.quick:
        minutes = minutes or 3.0
        limit, validation_limit = limit or 4096, validation_limit or 1024
        export_dir = str(Path(args.out) / "saved_models")
    if args.epochs is None and minutes is None:
        minutes = 60.0
    root = None if args.data == "tfds" else find_eurosat(args.data)
    if root is None and args.data != "tfds":
        raise SystemExit(f"no EuroSAT folder found (--data {args.data}, $RSKERAS_DATA, ../shared/data); "
                         "pass --data DIR, or --data tfds to download it")
    report = train_eurosat(
        root, args.out, model=args.model,
        minutes=None if args.epochs else minutes, epochs=args.epochs, export_dir=export_dir, limit=limit,
        validation_limit=validation_limit, resume=args.resume, seed=args.seed, precision=args.precision,
        progressive_resizing=_stages(p, args.progressive), augment=args.augment.split(","), verbose=args.verbose,
        validation_freq=args.validation_freq,
    )
    s = report["summary"]
    print(json.dumps(s, indent=2))
    print(f"\n| {s['model']} | {s['parameters']:,} | {s['precision']} | {s['epochs']} | "
          f"{100 * s['validation_accuracy']:.2f} % | {100 * report['macro']['f1']:.2f} % | "
          f"{s['wall_seconds'] / 60:.1f} min | {s['train_images_per_second']:.0f} |")
    print(f"report: {Path(args.out) / 'evaluation' / 'metrics.json'}")
    return 0


def _stages(parser: argparse.ArgumentParser, text: str | None) -> list | None:
    """``"32:0.2,48:0.2"`` -> ``[[32, 0.2], [48, 0.2]]`` (None for None)."""
    if not text:
        return None
    try:
        return [[int(size), float(share)] for size, share in (item.split(":") for item in text.split(","))]
    except ValueError:
        parser.error(f"--progressive takes SIZE:SHARE pairs separated by commas, e.g. 32:0.2,48:0.2; got {text!r}")


if __name__ == "__main__":
    sys.exit(main())
