"""The ``rskeras`` command line.

``rskeras train-pixel``  train a pixel-wise ANN from a raster and field data
``rskeras predict``      apply a saved model to a raster, writing a GeoTIFF
``rskeras predict-ee``   predict an Earth Engine image export, writing the TFRecord Earth Engine uploads
``rskeras train``        train from a YAML configuration (data, model, task, training, output)
``rskeras evaluate``     evaluate a saved model on a dataset: metrics JSON and confusion matrix PNG
``rskeras export``       write a saved model as a SavedModel, an ONNX or a LiteRT file
``rskeras design-sample`` draw a stratified (or random, systematic) sample of a class map to label
``rskeras assess``       accuracy and class areas with confidence intervals from the labelled sample
``rskeras vectorize``    polygons per class of a class map (GeoPackage, GeoJSON) and its per-class area table
``rskeras models``       list the model families: kind, paper, options with defaults
``rskeras demo``         the main job on real data

One module per sub-command (``rskeras/cli/<command>.py`` with ``add_parser`` and ``run``); heavy imports
happen inside ``run``, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "main"]

#: The sub-command modules, in the order ``rskeras --help`` lists them.
COMMANDS = ("train_pixel", "predict", "predict_ee", "train", "evaluate", "export", "design_sample", "assess",
            "vectorize", "models", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rskeras",
        description="Deep learning on satellite imagery with Keras: from imagery and field data to trained models "
        "and result rasters.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"rskeras.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rskeras`` console script."""
    import rskeras  # noqa: F401  (environment defaults before TensorFlow loads)
    from rskeras.io import exit_on_sigterm

    exit_on_sigterm()  # a terminated command removes its temporary files, as on Ctrl-C
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, KeyError, FileNotFoundError, OSError, FloatingPointError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"rskeras {args.command}: error: {message}", file=sys.stderr)
        return 2
