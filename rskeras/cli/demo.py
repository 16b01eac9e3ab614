"""``rskeras demo``: the main job on real data."""

from __future__ import annotations

import argparse
import os


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job: the whole workflow on real data",
        description="Runs rskeras' workflows on real data: field points made from a real HLS scene, a pixel-wise "
        "ANN for land cover and one for NDVI, applied to the whole scene as georeferenced GeoTIFFs, with metrics "
        "and a quick-look figure; then EuroSAT: a classifier sized to the hardware (GPU: ResNet-50 in mixed "
        "precision; CPU: a compact residual network within a time budget), evaluated on the validation split "
        "(metrics and confusion matrix) and exported under saved_models/.",
    )
    p.add_argument("--data", help="folder with the real data (default: $RSKERAS_DATA, then ../shared/data)")
    p.add_argument("--out", default="outputs/demo", help="output folder (default outputs/demo)")
    p.add_argument("--quick", action="store_true", help="fewer epochs (as in CI; also set by RSKERAS_FAST=1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--eurosat-minutes", type=float, default=None,
                   help="time budget of the EuroSAT part in minutes (default 11; 2 with --quick)")
    p.add_argument("--model", default="auto", help="EuroSAT classifier: auto (GPU: resnet50, CPU: "
                   "compact_resnet_small), compact_resnet, compact_resnet_small, resnet50 or googlenet")
    p.add_argument("--export-dir", default="saved_models", help="where the EuroSAT model is exported "
                   "(default saved_models)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras._checks import check_number
    from rskeras.demo import run_demo
    from rskeras.io import check_outputs

    if args.eurosat_minutes is not None:
        check_number("eurosat_minutes", args.eurosat_minutes, 0, low_open=True)
    check_outputs([(args.out, (), "--out"), (args.export_dir, (), "--export-dir")],
                  inputs=[args.data] if args.data else [], folder=True)
    run_demo(data=args.data, out=args.out, quick=args.quick or os.environ.get("RSKERAS_FAST") == "1", seed=args.seed,
             eurosat_minutes=args.eurosat_minutes, export_dir=args.export_dir, model=args.model)
    return 0
