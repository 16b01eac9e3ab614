"""``rskeras assess``: accuracy and class areas with confidence intervals from the labelled sample."""

from __future__ import annotations

import argparse
import warnings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "assess",
        help="accuracy and error-adjusted class areas with confidence intervals from a labelled sample",
        description="Estimate the error matrix, overall, user's and producer's accuracy and the area of each class "
        "(pixels, ha, share) with standard errors and confidence intervals from the labelled points of SAMPLE "
        "(Olofsson et al. 2014; Stehman 2014 with --strata-column). Map classes are read from MAP at the points "
        "unless --map-column names them; stratum sizes are counted on MAP (or --strata). Writes assessment.json, "
        "assessment.csv and assessment.png to --out.",
    )
    p.add_argument("map", help="the class map that was assessed")
    p.add_argument("sample", help="the labelled points: CSV, GeoJSON or GeoPackage")
    p.add_argument("--reference", required=True, metavar="COLUMN", help="the column with the reference classes")
    p.add_argument("--map-column", metavar="COLUMN", help="the column with the map classes (default: read from MAP)")
    p.add_argument("--strata-column", metavar="COLUMN", help="the column with the strata, when they are not the "
                   "map classes (needs --strata)")
    p.add_argument("--strata", metavar="RASTER", help="the strata raster whose pixels per stratum are counted")
    p.add_argument("--area-unit", default="auto", choices=["auto", "ha", "km2", "m2", "pixels"],
                   help="unit of the areas besides pixels and shares (default auto: ha when the map allows)")
    p.add_argument("--confidence", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--x", help="CSV column with x or longitude (default: detected)")
    p.add_argument("--y", help="CSV column with y or latitude (default: detected)")
    p.add_argument("--crs", help="CRS of CSV coordinates, e.g. EPSG:32614 (lon/lat columns default to EPSG:4326)")
    p.add_argument("--layer", help="layer of a GeoPackage")
    p.add_argument("--out", required=True, help="output folder for assessment.json, .csv and .png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras.data import read_points
    from rskeras.evaluation import assess_map, write_assessment

    points = read_points(args.sample, x=args.x, y=args.y, crs=args.crs, layer=args.layer)
    for option, column in (("--reference", args.reference), ("--map-column", args.map_column),
                           ("--strata-column", args.strata_column)):
        if column is not None and column not in points.attributes:
            raise ValueError(f"{option} {column!r}: {args.sample} has no such column; columns: "
                             f"{', '.join(points.columns)}")
    if (args.strata_column is None) != (args.strata is None):
        raise ValueError("--strata-column and --strata go together (the strata of the points and the raster that "
                         "gives their sizes)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the notes are printed with the summary
        result = assess_map(points, args.reference, args.map_column, class_map=args.map,
                            strata_column=args.strata_column, strata_areas=args.strata, area_unit=args.area_unit,
                            confidence=args.confidence)
    files = write_assessment(result, args.out)
    print(result.summary())
    print("wrote " + ", ".join(str(f) for f in files.values()))
    return 0
