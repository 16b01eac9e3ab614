"""``rskeras predict``: apply a saved model to a raster, writing a GeoTIFF."""

from __future__ import annotations

import argparse
import sys

from rskeras.cli.arguments import band_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="apply a saved model to a whole raster, writing a georeferenced GeoTIFF",
        description="Apply MODEL to every pixel (pixel models) or tile (patch and dense models) of RASTER and write "
        "OUT with the same CRS, transform and size. A second raster feeds the second input of two-input models "
        "(M3Net). The output is written under a temporary name and renamed when complete.",
    )
    p.add_argument("model", help="a saved .keras model, or an .onnx / .tflite file written by rskeras export")
    p.add_argument("rasters", nargs="+", metavar="RASTER [RASTER2] OUT.tif",
                   help="the input raster(s) and, last, the output GeoTIFF")
    p.add_argument("--bands", nargs="+", type=band_argument, metavar="BAND",
                   help="bands to feed the model, as 1-based indexes or names (default: the model's band names "
                   "looked up in the raster's band descriptions or the --sensor's band names, else all bands)")
    p.add_argument("--sensor", help="sensor whose band names apply to a raster without band descriptions "
                   "(e.g. hls_l30, sentinel2_l2a); see rskeras.data.SENSORS")
    p.add_argument("--probabilities", nargs="?", const=True, default=None, metavar="PATH",
                   help="also write class probabilities (float32, one band per class); PATH defaults to "
                   "OUT_probabilities.tif")
    p.add_argument("--window-size", type=int, default=None,
                   help="pixels per side of each window a pixel model reads (default 512)")
    p.add_argument("--batch-size", type=int, default=None,
                   help="pixels or tiles per model call (default: 262,144 pixels, or 2**19 pixels' worth of tiles, "
                   "lowered to fit in memory)")
    p.add_argument("--tile-size", type=int, default=None,
                   help="tile side for patch and dense models (default 256; rounded up to the model's "
                   "downsampling multiple, clamped to the scene)")
    p.add_argument("--overlap", type=int, default=None,
                   help="overlap in pixels between tiles (default: a quarter of the tile for dense models, 0 for "
                   "patch models)")
    p.add_argument("--max-memory", metavar="SIZE",
                   help="memory the prediction may use, e.g. 4GiB or 512MiB (default: most of the free memory); "
                   "tile and batch sizes that need more are refused before any work")
    p.add_argument("--output", dest="model_output", metavar="NAME",
                   help="which output of a multi-output model to write (e.g. M3Net's height)")
    p.add_argument("--kind", default="auto", choices=["auto", "pixel", "patch", "dense"],
                   help="how the model is applied (default: from its input shape)")
    p.add_argument("--cog", action="store_true",
                   help="write Cloud-Optimised GeoTIFFs (internal tiles and overviews: mode for class maps, average "
                   "for probabilities, values and uncertainty)")
    p.add_argument("--uncertainty", choices=["tta", "mc_dropout"],
                   help="also write OUT_uncertainty.tif, and the map from the mean prediction: tta averages the 8 "
                   "flips and rotations of each tile (patch and dense models), mc_dropout --passes predictions with "
                   "dropout on (models with Dropout layers); entropy in nats for classes, standard deviation in the "
                   "target's units for values")
    p.add_argument("--passes", type=int, default=20, help="stochastic passes of --uncertainty mc_dropout (default 20)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import warnings

    from rskeras.inference import predict_raster

    if len(args.rasters) < 2:
        raise SystemExit("give at least one input raster and the output path: rskeras predict MODEL RASTER OUT.tif")
    *sources, dst = args.rasters
    with warnings.catch_warnings(record=True) as notes:
        warnings.simplefilter("always", UserWarning)
        result = predict_raster(
            args.model, sources[0] if len(sources) == 1 else sources, dst, bands=args.bands, sensor=args.sensor,
            kind=args.kind, probabilities=args.probabilities, batch_size=args.batch_size,
            window_size=args.window_size, tile_size=args.tile_size, overlap=args.overlap,
            max_memory=args.max_memory, output=args.model_output, cog=args.cog, uncertainty=args.uncertainty,
            passes=args.passes, progress=not args.no_progress,
        )
    for note in notes:
        if issubclass(note.category, UserWarning):
            print(f"rskeras predict: note: {note.message}", file=sys.stderr)
    bands = "; ".join(", ".join(names) for names in result.bands)
    tiles = f", tiles of {result.tile_size} px overlapping by {result.overlap}" if result.tile_size else ""
    print(f"{result.kind} model on bands {bands}{tiles}")
    written = [result.dst, result.probabilities, result.uncertainty]
    print("wrote " + " and ".join(str(path) for path in written if path))
    return 0
