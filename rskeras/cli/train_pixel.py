"""``rskeras train-pixel``: train a pixel-wise ANN from a raster and field data."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from rskeras.cli.arguments import band_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-pixel",
        help="train a pixel-wise ANN on band vectors sampled at field points",
        description="Sample RASTER at the field points of POINTS, train a pixel-wise ANN on the band vectors, "
        "evaluate it on held-out points and save it as a .keras model that takes raw pixel values.",
    )
    p.add_argument("raster", help="the image to sample (GeoTIFF or any raster rasterio opens)")
    p.add_argument("points", help="field data: CSV (x/y or lon/lat columns), GeoJSON or GeoPackage")
    p.add_argument("--label", required=True, help="the column holding the class or the value to estimate")
    p.add_argument("--task", default="multiclass", choices=["multiclass", "binary", "regression"],
                   help="problem type: one class out of many, two classes, or a real value (default multiclass)")
    p.add_argument("--out", required=True, help="where to save the trained model (.keras)")
    p.add_argument("--metrics", help="where to write the held-out metrics as JSON (default: beside --out)")
    p.add_argument("--bands", nargs="+", type=band_argument, metavar="BAND",
                   help="bands to use, as 1-based indexes or band names (default: all bands)")
    p.add_argument("--sensor", help="sensor whose band names apply to a raster without band descriptions "
                   "(e.g. hls_l30, sentinel2_l2a); see rskeras.data.SENSORS")
    p.add_argument("--x", help="CSV column with x or longitude (default: detected)")
    p.add_argument("--y", help="CSV column with y or latitude (default: detected)")
    p.add_argument("--crs", help="CRS of CSV coordinates, e.g. EPSG:32614 (lon/lat columns default to EPSG:4326)")
    p.add_argument("--layer", help="layer of a GeoPackage")
    p.add_argument("--hidden", nargs="+", type=int, default=[64, 64], metavar="UNITS",
                   help="units of each hidden layer (default 64 64)")
    p.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout after each hidden layer (default 0.1)")
    p.add_argument("--epochs", type=int, default=100, help="training epochs (default 100)")
    p.add_argument("--batch-size", type=int, default=64, help="vectors per batch (default 64)")
    p.add_argument("--learning-rate", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    p.add_argument("--test-fraction", type=float, default=0.3,
                   help="share of points held out for evaluation, stratified by class (default 0.3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras.data import read_points
    from rskeras.io import atomic_paths, check_outputs
    from rskeras.workflows import train_pixel_model
    from rskeras.workflows.pixel import check_training_arguments

    check_training_arguments(args.task, args.hidden, args.dropout, args.epochs, args.batch_size, args.learning_rate,
                             args.test_fraction)
    out = Path(args.out)
    metrics_path = Path(args.metrics) if args.metrics else out.with_suffix(".metrics.json")
    check_outputs([(out, (".keras",), "--out"), (metrics_path, (".json",), "--metrics")],
                  inputs=[args.raster, args.points])
    points = read_points(args.points, x=args.x, y=args.y, crs=args.crs, layer=args.layer)
    result = train_pixel_model(
        args.raster, points, args.label, task=args.task, bands=args.bands, sensor=args.sensor,
        hidden=args.hidden, activation=args.activation, dropout=args.dropout, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, test_fraction=args.test_fraction,
        seed=args.seed,
    )
    report = dict(result.metrics, bands=result.bands, band_names=result.samples.band_names)
    with atomic_paths(metrics_path, out) as (tmp_metrics, tmp_model):  # both appear, or neither
        tmp_metrics.write_text(json.dumps(report, indent=2))
        result.model.save(tmp_model)
    print(result.samples.summary())
    headline = (f"held-out accuracy {result.metrics['overall_accuracy']:.3f}" if "overall_accuracy" in result.metrics
                else f"held-out MAE {result.metrics['mae']:.4g}, RMSE {result.metrics['rmse']:.4g}, R² {result.metrics['r2']:.3f}")
    print(f"{headline} on {result.metrics['n_test']} points; model saved to {out}, metrics to {metrics_path}")
    print(f"predict with: {_predict_hint(out, args.raster, args.sensor)}")
    return 0


def _predict_hint(model: Path, raster: str, sensor: str | None) -> str:
    """The ``rskeras predict`` command for the saved model: its band names select the raster's bands,
    through the raster's band descriptions or, on a raster without them, the same ``--sensor``."""
    from rskeras.data.rasters import is_described, open_raster

    command = f"rskeras predict {shlex.quote(str(model))} {shlex.quote(raster)} OUT.tif"
    with open_raster(raster) as ds:
        described = is_described(ds)
    return command if sensor is None or described else f"{command} --sensor {shlex.quote(sensor)}"
