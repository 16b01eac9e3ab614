"""``rskeras beam chip`` / ``rskeras beam predict``: the Apache Beam pipelines over many scenes.

Options this command does not know are Beam's (``--runner DirectRunner --direct_num_workers 2``, Dataflow's
``--project --region --temp_location``); give them after the scenes. A flag Beam does not know either is an error
with Beam's message (:func:`rskeras.beam.options.pipeline_options`). Exit status 1 when some scenes failed (they are
listed; the others were processed), 2 for an error before any work.
"""

from __future__ import annotations

import argparse
import sys

from rskeras.cli import PASS_THROUGH
from rskeras.cli.arguments import band_argument

#: Library argument names in messages -> this command's options.
ARGUMENT_NAMES = {"out_dir": "--out", "pipeline_options": "runner options"}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "beam",
        help="chip many scenes into training patches, or map many scenes, with Apache Beam (local or Dataflow)",
        description="Run rskeras's Apache Beam pipelines (pip install 'rskeras[beam]'). Beam's own options follow "
        "the scenes: --runner DirectRunner --direct_num_workers 2 --direct_running_mode multi_processing (this "
        "machine), or --runner DataflowRunner --project P --region R --temp_location gs://... (Dataflow).",
    )
    pipelines = p.add_subparsers(dest="pipeline", required=True, metavar="PIPELINE")
    _chip_parser(pipelines)
    _predict_parser(pipelines)
    for command in pipelines.choices.values():  # --debug also after the pipeline's name
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error")
    p.set_defaults(**{PASS_THROUGH: []})


def _chip_parser(pipelines: argparse._SubParsersAction) -> None:
    c = pipelines.add_parser(
        "chip", help="scenes and labels -> TFRecord patches in Earth Engine's layout and band_stats.json",
        description="Cut the scenes into patches with raster_dataset's sampling and nodata rules and write them as "
        "GZIP TFRecord shards in Earth Engine's layout, band_stats.json and PREFIX.json (written last).")
    c.add_argument("scenes", nargs="+", metavar="SCENE",
                   help="rasters, glob patterns, or a CSV with a scene (and a label) column")
    c.add_argument("--out", required=True, dest="out_dir", help="the output folder")
    c.add_argument("--labels", nargs="+", help="a label raster, one per scene, or a vector file (with --label-column)")
    c.add_argument("--label-column", help="the class or value column of vector labels")
    c.add_argument("--bands", nargs="+", type=band_argument, metavar="BAND", help="bands to write (default all)")
    c.add_argument("--sensor", help="sensor whose band names apply to rasters without band descriptions")
    c.add_argument("--patch-size", type=int, default=64, help="patch side in pixels (default 64)")
    c.add_argument("--sampler", choices=["grid", "random"], default="grid", help="window sampler (default grid)")
    c.add_argument("--target", choices=["dense", "majority", "centre"], default="dense",
                   help="the label of a patch: per pixel (dense, a band), or one class (a scalar property)")
    c.add_argument("--values", action="store_true", help="the labels are values (regression), not classes")
    c.add_argument("--max-nodata", type=float, default=0.5,
                   help="skip windows whose image is nodata in more than this fraction (default 0.5)")
    c.add_argument("--prefix", default="patches", help="shard name start (default patches)")
    c.add_argument("--seed", type=int, default=0, help="seed of a random sampler")
    c.add_argument("--overwrite", action="store_true", help="replace an earlier set of this prefix")
    c.set_defaults(func=run_chip)


def _predict_parser(pipelines: argparse._SubParsersAction) -> None:
    q = pipelines.add_parser(
        "predict", help="a saved model over many scenes -> one map per scene and summary.csv",
        description="Map every scene with MODEL (as rskeras predict does) into OUT/<scene stem>.tif, skipping maps "
        "already there, and write OUT/summary.csv (status, class areas, nodata share, seconds per scene).")
    q.add_argument("model", help="a saved .keras model, or an .onnx / .tflite file written by rskeras export")
    q.add_argument("scenes", nargs="+", metavar="SCENE", help="rasters, glob patterns, or a CSV with a scene column")
    q.add_argument("--out", required=True, dest="out_dir", help="the output folder")
    q.add_argument("--bands", nargs="+", type=band_argument, metavar="BAND",
                   help="bands to feed the model (default: the model's band names)")
    q.add_argument("--sensor", help="sensor whose band names apply to rasters without band descriptions")
    q.add_argument("--tile-size", type=int, help="tile side for patch and dense models (default 256)")
    q.add_argument("--batch-size", type=int, help="pixels or tiles per model call")
    q.add_argument("--max-memory", metavar="SIZE", help="memory one prediction may use, e.g. 4GiB")
    q.add_argument("--probabilities", action="store_true", help="also write OUT/<stem>_probabilities.tif")
    q.add_argument("--cog", action="store_true", help="write Cloud-Optimised GeoTIFFs")
    q.add_argument("--uncertainty", choices=["tta", "mc_dropout"], help="also write OUT/<stem>_uncertainty.tif")
    q.add_argument("--overwrite", action="store_true",
                   help="predict every scene again (also into a folder of another model's maps)")
    q.set_defaults(func=run_predict)


def run_chip(args: argparse.Namespace) -> int:
    from rskeras.beam import chip_scenes

    labels = args.labels[0] if args.labels and len(args.labels) == 1 else args.labels
    result = chip_scenes(
        args.scenes, args.out_dir, labels, patch_size=args.patch_size, sampler=args.sampler, target=args.target,
        prefix=args.prefix, overwrite=args.overwrite, pipeline_options=args.pipeline_args, bands=args.bands,
        label_column=args.label_column, values=args.values, sensor=args.sensor, max_nodata=args.max_nodata,
        seed=args.seed)
    print(f"wrote {result.written} patches ({result.skipped} windows skipped) to {len(result.files)} shard(s), "
          f"{result.stats} and {result.metadata}")
    return _failures("chip", result.failed)


def run_predict(args: argparse.Namespace) -> int:
    from rskeras.beam import predict_scenes

    options = {"bands": args.bands, "sensor": args.sensor, "tile_size": args.tile_size,
               "batch_size": args.batch_size, "max_memory": args.max_memory, "cog": args.cog,
               "uncertainty": args.uncertainty, "probabilities": args.probabilities or None}
    result = predict_scenes(args.model, args.scenes, args.out_dir, overwrite=args.overwrite,
                            pipeline_options=args.pipeline_args,
                            **{k: v for k, v in options.items() if v is not None and v is not False})
    print(f"wrote {result.written} map(s), skipped {result.skipped} already there; summary: {result.summary}")
    return _failures("predict", result.failed)


def _failures(pipeline: str, failed: dict[str, str]) -> int:
    """Print the scenes that failed; exit status 1 when there are any."""
    for scene, why in failed.items():
        print(f"rskeras beam {pipeline}: failed: {scene}: {why}", file=sys.stderr)
    if failed:
        print(f"rskeras beam {pipeline}: error: {len(failed)} scene(s) failed (listed above); the others were "
              "processed", file=sys.stderr)
    return 1 if failed else 0
