"""``rskeras export``: write a saved model as a SavedModel (TF Serving), an ONNX file or a LiteRT file."""

from __future__ import annotations

import argparse

from rskeras.cli.arguments import band_argument


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a saved model for TF Serving (saved_model), onnxruntime (onnx) or LiteRT (litert)",
        description="Write MODEL to OUT in --format: saved_model (OUT is the model's folder, e.g. saved_models/NAME; "
        "the next numbered version is written), onnx (OUT.onnx) or litert (OUT.tflite). Band names, class names, task "
        "and normalisation go into the file's metadata. A format that cannot hold the model is an error naming the "
        "layer, and nothing is written. --parity RASTER then runs the file with its own runtime on patches of RASTER "
        "and prints the largest difference from Keras.",
    )
    p.add_argument("model", help="a saved .keras model")
    p.add_argument("out", help="the folder (saved_model) or file (.onnx, .tflite) to write")
    p.add_argument("--format", default="saved_model", choices=["saved_model", "onnx", "litert"],
                   help="the format to write (default saved_model)")
    p.add_argument("--precision", default="float32", choices=["float32", "saved"],
                   help="float32 (default): a model trained in mixed precision is written as a float32 copy with "
                   "the same weights; saved: as the .keras file computes")
    p.add_argument("--parity", metavar="RASTER",
                   help="after an onnx or litert export, compare it with Keras on patches of RASTER")
    p.add_argument("--bands", nargs="+", type=band_argument, metavar="BAND",
                   help="with --parity: the raster's bands for the model (default: the model's band names)")
    p.add_argument("--sensor", help="with --parity: the sensor naming the raster's bands (e.g. hls_l30)")
    p.add_argument("--patches", type=int, default=8, help="with --parity: random patches compared (default 8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys
    import warnings

    from rskeras.inference.runner import load_model
    from rskeras.serving.formats import export, parity
    from rskeras.training.precision import with_dtype_policy

    if args.parity and args.format == "saved_model":
        raise ValueError("--parity compares an exported onnx or litert file with Keras; give --format onnx or litert")
    model = load_model(args.model)
    if args.precision != "saved":  # --parity compares with the model that was exported
        model = with_dtype_policy(model, args.precision)
    written = export(model, args.out, format=args.format, precision=None)
    print(f"wrote {written}")
    if args.parity:
        with warnings.catch_warnings(record=True) as notes:
            warnings.simplefilter("always", UserWarning)
            report = parity(model, written, args.parity, bands=args.bands, sensor=args.sensor,
                            n_patches=args.patches)
        for note in notes:
            print(f"rskeras export: note: {note.message}", file=sys.stderr)
        print(report)
    return 0
