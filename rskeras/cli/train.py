"""``rskeras train``: train from a YAML configuration (data, model, task, training, output)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML configuration (resumable)",
        description="Train as CONFIG says (sections data, model, task, training, output; see "
        "rskeras.training.config). The configuration is validated before any data is read. Checkpoints, the best "
        "model, a CSV log and TensorBoard logs go to output.run_dir; run the same command again to resume a "
        "killed run after its last finished epoch (with the same configuration; a higher training.epochs extends "
        "a run, and a finished run is neither trained nor exported again).",
    )
    p.add_argument("config", help="the YAML configuration file")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", dest="overrides",
                   help="override one value (YAML syntax), e.g. --set training.epochs=5; repeatable")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras.training import load_config, train

    result = train(load_config(args.config, overrides=args.overrides))
    if result.evaluation is not None:
        print(f"validation overall accuracy {result.evaluation.get('overall_accuracy', float('nan')):.4f}"
              if "overall_accuracy" in result.evaluation else f"validation MAE {result.evaluation['mae']:.4g}")
    for name, file in result.files.items():
        print(f"{name}: {file}")
    return 0
