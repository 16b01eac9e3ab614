"""The ``rskeras`` command line.

``rskeras train-pixel``  train a pixel-wise ANN from a raster and field data
``rskeras predict``      apply a saved model to a raster, writing a GeoTIFF
``rskeras predict-ee``   predict an Earth Engine image export, writing the TFRecord Earth Engine uploads
``rskeras train``        train from a YAML configuration (data, model, task, training, output)
``rskeras evaluate``     evaluate a saved model on a dataset: metrics JSON and confusion matrix PNG
``rskeras design-sample`` draw a stratified (or random, systematic) sample of a class map to label
``rskeras assess``       accuracy and class areas with confidence intervals from the labelled sample
``rskeras demo``         the main job on real data

Heavy imports happen inside each command, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path


def _band(value: str) -> int | str:
    """A band given on the command line: a 1-based index or a band name."""
    return int(value) if value.isdigit() else value


def _add_train_pixel(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--bands", nargs="+", type=_band, metavar="BAND",
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
    p.set_defaults(func=_run_train_pixel)


def _run_train_pixel(args: argparse.Namespace) -> int:
    from rskeras.data import read_points
    from rskeras.io import atomic_path, atomic_write_text
    from rskeras.workflows import train_pixel_model

    out = Path(args.out)
    if out.suffix != ".keras":
        raise SystemExit(f"--out must end in .keras, got {out}")
    points = read_points(args.points, x=args.x, y=args.y, crs=args.crs, layer=args.layer)
    result = train_pixel_model(
        args.raster, points, args.label, task=args.task, bands=args.bands, sensor=args.sensor,
        hidden=args.hidden, activation=args.activation, dropout=args.dropout, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, test_fraction=args.test_fraction,
        seed=args.seed,
    )
    with atomic_path(out) as tmp:
        result.model.save(tmp)
    metrics_path = Path(args.metrics) if args.metrics else out.with_suffix(".metrics.json")
    report = dict(result.metrics, bands=result.bands, band_names=result.samples.band_names)
    atomic_write_text(metrics_path, json.dumps(report, indent=2))
    print(result.samples.summary())
    headline = (f"held-out accuracy {result.metrics['overall_accuracy']:.3f}" if "overall_accuracy" in result.metrics
                else f"held-out MAE {result.metrics['mae']:.4g}, RMSE {result.metrics['rmse']:.4g}, R² {result.metrics['r2']:.3f}")
    print(f"{headline} on {result.metrics['n_test']} points; model saved to {out}, metrics to {metrics_path}")
    print(f"predict with: rskeras predict {out} {args.raster} OUT.tif --bands {' '.join(map(str, result.bands))}")
    return 0


def _add_predict(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--bands", nargs="+", type=_band, metavar="BAND",
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
    p.set_defaults(func=_run_predict)


def _run_predict(args: argparse.Namespace) -> int:
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


def _add_predict_ee(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict-ee",
        help="predict an Earth Engine image export and write the TFRecord Earth Engine uploads",
        description="Read an Earth Engine image export (TFRecord patches with their kernel buffer and mixer.json), "
        "apply MODEL to every patch in order and write OUT (.tfrecord or .tfrecord.gz) plus OUT-mixer.json with the "
        "buffer cropped, ready for pipelines/upload_predictions.py.",
    )
    p.add_argument("model", help="a saved .keras dense model (U-Net, PSPNet, DeepLabV3, ...)")
    p.add_argument("files", help="the export's TFRecord files: a glob pattern (quote it) or a path; gs:// works")
    p.add_argument("out", help="the prediction TFRecord to write (.tfrecord or .tfrecord.gz)")
    p.add_argument("--bands", nargs="+", required=True, metavar="BAND",
                   help="the export's bands the model reads, in the model's channel order")
    p.add_argument("--kernel-size", type=int, default=0,
                   help="the export's kernelSize (the buffer around each patch; default 0)")
    p.add_argument("--mixer", help="the export's mixer.json (default: found beside the files)")
    p.add_argument("--output", default="auto", choices=["auto", "classes", "probabilities", "values"],
                   help="what to write: class index, one probability band per class, or values "
                   "(default: classes for classifiers, else values)")
    p.add_argument("--model-output", help="which output of a multi-output model to write (e.g. height)")
    p.add_argument("--batch-size", type=int, default=8, help="patches per model call (default 8)")
    p.set_defaults(func=_run_predict_ee)


def _run_predict_ee(args: argparse.Namespace) -> int:
    from rskeras.workflows import predict_ee_export

    compression = "GZIP" if str(args.out).endswith(".gz") else None
    tfrecord, mixer = predict_ee_export(
        args.model, args.files, args.out, args.bands, kernel_size=args.kernel_size, mixer=args.mixer,
        output=args.output, model_output=args.model_output, batch_size=args.batch_size, compression=compression,
    )
    print(f"wrote {tfrecord} and {mixer}; upload them with pipelines/upload_predictions.py")
    return 0


def _add_train(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_run_train)


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


def _run_train(args: argparse.Namespace) -> int:
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


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
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
    p.add_argument("--out", required=True, help="output folder for metrics.json and confusion_matrix.png")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from rskeras.evaluation import evaluate_model, write_report
    from rskeras.saving import load_model

    if not Path(args.model).exists():
        raise FileNotFoundError(f"model file {args.model} does not exist")
    if args.config:
        from rskeras.training import load_config, load_data

        config = load_config(args.config)
        config.data.validation_limit = args.limit or config.data.validation_limit
        config.data.stats_samples = 1
        dataset = load_data(config).validation
        if dataset is None:
            raise ValueError(f"{args.config} has no validation data (data.validation_split or "
                             "data.validation_files)")
    else:
        from rskeras.data.eurosat import eurosat

        dataset = eurosat(args.data, split=args.split, bands=args.bands, batch_size=args.batch_size,
                          limit=args.limit, shuffle=False)
    model = load_model(args.model)
    report = evaluate_model(model, dataset)
    report["model"] = str(args.model)
    files = write_report(report, args.out)
    headline = (f"overall accuracy {report['overall_accuracy']:.4f}, kappa {report['kappa']:.4f}"
                if "overall_accuracy" in report else f"MAE {report['mae']:.4g}, RMSE {report['rmse']:.4g}")
    print(f"{headline} on {report.get('n_images', report.get('n'))} samples; wrote "
          + ", ".join(str(f) for f in files.values()))
    return 0


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


def _add_design_sample(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_run_design_sample)


def _run_design_sample(args: argparse.Namespace) -> int:
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


def _add_assess(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_run_assess)


def _run_assess(args: argparse.Namespace) -> int:
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


def _add_demo(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from rskeras.demo import run_demo

    run_demo(data=args.data, out=args.out, quick=args.quick or os.environ.get("RSKERAS_FAST") == "1", seed=args.seed,
             eurosat_minutes=args.eurosat_minutes, export_dir=args.export_dir, model=args.model)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rskeras",
        description="Deep learning on satellite imagery with Keras: from imagery and field data to trained models "
        "and result rasters.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train_pixel(sub)
    _add_predict(sub)
    _add_predict_ee(sub)
    _add_train(sub)
    _add_evaluate(sub)
    _add_design_sample(sub)
    _add_assess(sub)
    _add_demo(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rskeras`` console script."""
    import rskeras  # noqa: F401  (environment defaults before TensorFlow loads)

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, OSError, FloatingPointError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"rskeras {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
