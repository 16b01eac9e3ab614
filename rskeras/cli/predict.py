"""``rskeras predict``: apply a saved model to a raster, writing a GeoTIFF."""

from __future__ import annotations

import argparse

from rskeras.cli.arguments import band_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="apply a saved model to a whole raster, writing a georeferenced GeoTIFF",
        description="Apply MODEL to every pixel (pixel models) or tile (patch and dense models) of RASTER and write "
        "OUT with the same CRS, transform and size. A second raster feeds the second input of two-input models "
        "(M3Net). The output is written under a temporary name and renamed when complete.",
    )
    p.add_argument("model", help="a saved .keras model")
    p.add_argument("rasters", nargs="+", metavar="RASTER [RASTER2] OUT.tif",
                   help="the input raster(s) and, last, the output GeoTIFF")
    p.add_argument("--bands", nargs="+", type=band_argument, metavar="BAND",
                   help="bands to feed the model, as 1-based indexes or names (default: the model's band names, "
                   "or all bands)")
    p.add_argument("--probabilities", nargs="?", const=True, default=None, metavar="PATH",
                   help="also write class probabilities (float32, one band per class); PATH defaults to "
                   "OUT_probabilities.tif")
    p.add_argument("--window-size", type=int, default=512, help="pixels per side of each window read (default 512)")
    p.add_argument("--batch-size", type=int, default=None, help="pixels or tiles per model call")
    p.add_argument("--tile-size", type=int, default=None, help="tile side for patch and dense models")
    p.add_argument("--overlap", type=int, default=None, help="overlap in pixels between tiles of dense models")
    p.add_argument("--output", dest="model_output", metavar="NAME",
                   help="which output of a multi-output model to write (e.g. M3Net's height)")
    p.add_argument("--kind", default="auto", choices=["auto", "pixel", "patch", "dense"],
                   help="how the model is applied (default: from its input shape)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras.inference import predict_raster

    if len(args.rasters) < 2:
        raise SystemExit("give at least one input raster and the output path: rskeras predict MODEL RASTER OUT.tif")
    *sources, dst = args.rasters
    options = {k: v for k, v in (("batch_size", args.batch_size), ("tile_size", args.tile_size),
                                 ("overlap", args.overlap)) if v is not None}
    result = predict_raster(
        args.model, sources[0] if len(sources) == 1 else sources, dst, bands=args.bands, kind=args.kind,
        probabilities=args.probabilities, window_size=args.window_size, progress=not args.no_progress,
        output=args.model_output, **options,
    )
    print(f"wrote {result.dst}" + (f" and {result.probabilities}" if result.probabilities else ""))
    return 0
