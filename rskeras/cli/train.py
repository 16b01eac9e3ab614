"""``rskeras train``: train from a YAML configuration (data, model, task, training, output)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a model from a YAML configuration (resumable)",
        description="Train as CONFIG says (sections data, model, task, training, output; see "
        "rskeras.training.config). The configuration is validated before any data is read. Checkpoints, the best "
        "model, a CSV log and TensorBoard logs go to output.run_dir; run the same command again to resume a "
        "killed run after its last finished epoch.",
    )
    p.add_argument("config", help="the YAML configuration file")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", dest="overrides",
                   help="override one value (YAML syntax), e.g. --set training.epochs=5; repeatable")
    p.set_defaults(func=run)


def _apply_overrides(config: dict, overrides: Sequence[str]) -> dict:
    import yaml

    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.partition(".")
        if not sep or not dot or not name:
            raise ValueError(f"--set expects SECTION.KEY=VALUE, got {item!r}")
        if section == "task" and isinstance(config.get("task"), str):
            config["task"] = {"type": config["task"]}
        config.setdefault(section, {})
        if not isinstance(config[section], dict):
            raise ValueError(f"--set {item!r}: section {section!r} is not a mapping in the configuration")  # noqa: TRY004
        config[section][name] = yaml.safe_load(value)
    return config


def run(args: argparse.Namespace) -> int:
    import yaml

    from rskeras.training import load_config, train

    path = Path(args.config)
    if not path.exists():
        raise FileNotFoundError(f"configuration file {path} does not exist")
    raw = yaml.safe_load(path.read_text()) or {}
    config = load_config(_apply_overrides(raw, args.overrides) if args.overrides else raw)
    config.source = str(path)
    result = train(config)
    if result.evaluation is not None:
        print(f"validation overall accuracy {result.evaluation.get('overall_accuracy', float('nan')):.4f}"
              if "overall_accuracy" in result.evaluation else f"validation MAE {result.evaluation['mae']:.4g}")
    for name, file in result.files.items():
        print(f"{name}: {file}")
    return 0
