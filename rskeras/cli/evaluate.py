"""``rskeras evaluate``: evaluate a saved model on a dataset: metrics JSON and confusion matrix PNG."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="evaluate a saved model: metrics JSON and the confusion matrix figure",
        description="Evaluate MODEL on the validation data of a configuration (--config) or on a EuroSAT folder "
        "(--data) and write metrics.json (overall accuracy, kappa, per-class precision/recall/F1, macro and weighted "
        "averages, confusion matrix; IoU for segmentation; MAE/RMSE/R² for regression) and confusion_matrix.png.",
    )
    p.add_argument("model", help="a saved .keras model")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="a training configuration whose validation data to use")
    source.add_argument("--data", help="a EuroSAT folder (class folders, optional split CSVs)")
    p.add_argument("--split", default="validation", help="EuroSAT split with --data (default validation)")
    p.add_argument("--bands", default="rgb", help="EuroSAT bands with --data: rgb or all (default rgb)")
    p.add_argument("--batch-size", type=int, default=128, help="patches per batch (default 128)")
    p.add_argument("--limit", type=int, default=None, help="evaluate only the first N patches")
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: the mean prediction of each patch's 8 flips and rotations (8x slower)")
    p.add_argument("--out", required=True, help="output folder for metrics.json and confusion_matrix.png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras._checks import check_integer
    from rskeras.evaluation import evaluate_model, write_report
    from rskeras.io import check_output
    from rskeras.saving import load_model

    if not Path(args.model).is_file():
        raise FileNotFoundError(f"model file {args.model} does not exist")
    check_integer("batch_size", args.batch_size)
    check_integer("limit", args.limit, allow_none=True)
    check_output(args.out, what="--out", folder=True, inputs=[args.model, *([args.data] if args.data else [])])
    if args.config:
        from rskeras.training import load_config, load_data

        config = load_config(args.config)
        if args.limit is not None:
            config.data.validation_limit = args.limit
        if not config.data.has_validation:
            raise ValueError(f"{args.config} has no validation data (data.validation_split or "
                             "data.validation_files)")
        config.data.stats_samples = 1
        dataset = load_data(config).validation
    else:
        from rskeras.data.eurosat_dataset import eurosat

        dataset = eurosat(args.data, split=args.split, bands=args.bands, batch_size=args.batch_size,
                          limit=args.limit, shuffle=False)
    model = load_model(args.model)
    report = evaluate_model(model, dataset, tta=args.tta)
    report["model"] = str(args.model)
    files = write_report(report, args.out)
    headline = (f"overall accuracy {report['overall_accuracy']:.4f}, kappa {report['kappa']:.4f}"
                if "overall_accuracy" in report else f"MAE {report['mae']:.4g}, RMSE {report['rmse']:.4g}")
    print(f"{headline} on {report.get('n_images', report.get('n'))} samples; wrote "
          + ", ".join(str(f) for f in files.values()))
    return 0
