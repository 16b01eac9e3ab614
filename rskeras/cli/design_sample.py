"""``rskeras design-sample``: draw a stratified (or random, systematic) sample of a class map to label."""

from __future__ import annotations

import argparse
from collections.abc import Sequence


def _expected_accuracy(items: Sequence[str]) -> float | dict:
    """``--expected-accuracy``: one value, or CLASS=VALUE pairs."""
    try:
        if len(items) == 1 and "=" not in items[0]:
            return float(items[0])
        pairs = [item.split("=", 1) for item in items]
        return {int(k) if k.strip().isdigit() else k.strip(): float(v) for k, v in pairs}
    except ValueError:
        raise ValueError(f"--expected-accuracy takes one value (0.9) or CLASS=VALUE pairs (1=0.7 2=0.9), "
                         f"got {' '.join(items)}") from None


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "design-sample",
        help="draw a probability sample of a class map's pixels to label (stratified, random or systematic)",
        description="Draw the reference points of an accuracy assessment from MAP: stratified by map class (or by "
        "--strata), sized by --n or by the standard error wanted (--target-se, Olofsson et al. 2014 eq. 13), "
        "allocated proportionally, equally or with a minimum per class. Writes OUT as GeoPackage and CSV (same "
        "stem) with lon/lat, map class, stratum, inclusion probability and an empty `reference` column to fill.",
    )
    p.add_argument("map", help="the class map (GeoTIFF, band 1 integer classes; nodata is skipped)")
    p.add_argument("--out", required=True, help="the sample to write: .gpkg or .csv (both are written)")
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--n", type=int, help="total number of points")
    size.add_argument("--target-se", type=float, help="standard error wanted for overall accuracy (or for the "
                      "area share of --target), e.g. 0.01")
    p.add_argument("--target", default="overall", help="'overall' (default) or the class whose area --target-se is for")
    p.add_argument("--expected-accuracy", nargs="+", default=["0.9"], metavar="U",
                   help="expected user's accuracy for --target-se: one value or CLASS=VALUE pairs (default 0.9)")
    p.add_argument("--method", default="stratified", choices=["stratified", "random", "systematic"],
                   help="sample design (default stratified)")
    p.add_argument("--allocation", choices=["proportional", "equal", "min_proportional"],
                   help="points per stratum (default: min_proportional with --min-per-class, else proportional)")
    p.add_argument("--min-per-class", type=int, help="at least this many points per stratum, the rest proportional")
    p.add_argument("--strata", help="a strata raster on the map's grid, when the strata are not the map classes")
    p.add_argument("--nodata", type=float, help="a class value to skip besides the map's nodata")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras.evaluation import design_sample

    target = int(args.target) if args.target.isdigit() else args.target
    sample = design_sample(
        args.map, args.out, method=args.method, n=args.n, target_se=args.target_se, target=target,
        expected_accuracy=_expected_accuracy(args.expected_accuracy), allocation=args.allocation,
        min_per_class=args.min_per_class, strata=args.strata, nodata=args.nodata, seed=args.seed,
    )
    design = sample.design
    per_stratum = ", ".join(f"{s}: {n} / {N:,}" for s, n, N in zip(design.strata, design.stratum_points,
                                                                   design.stratum_pixels))
    print(f"{design.n} points, {design.method} (per stratum, points / pixels: {per_stratum}); wrote "
          + " and ".join(str(f) for f in sample.files))
    print(f"fill the `reference` column, then: rskeras assess {args.map} {sample.files[-1]} --reference reference "
          "--out assessment")
    return 0
