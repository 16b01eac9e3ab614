"""``rskeras predict-ee``: predict an Earth Engine image export, writing the TFRecord Earth Engine uploads."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict-ee",
        help="predict an Earth Engine image export and write the TFRecord Earth Engine uploads",
        description="Read an Earth Engine image export (TFRecord patches with their kernel buffer and mixer.json), "
        "apply MODEL to every patch in order and write OUT (.tfrecord or .tfrecord.gz) plus OUT-mixer.json with the "
        "buffer cropped, ready for pipelines/upload_predictions.py.",
    )
    p.add_argument("model", help="a saved .keras model of any kind: pixel (ANN), patch classifier or dense (U-Net, ...)")
    p.add_argument("files", help="the export's TFRecord files: a glob pattern (quote it) or a path; gs:// works")
    p.add_argument("out", help="the prediction TFRecord to write: .tfrecord, or .tfrecord.gz for GZIP; never one of "
                   "the export's files (its mixer goes beside it as OUT-mixer.json)")
    p.add_argument("--bands", nargs="+", metavar="BAND",
                   help="the export's bands the model reads, in the model's channel order; INPUT=B1,B2 per input "
                   "for a model with several inputs (default: the band names the model holds)")
    p.add_argument("--kernel-size", type=int, default=0,
                   help="the export's kernelSize (the buffer around each patch; default 0)")
    p.add_argument("--mixer", help="the export's mixer.json (default: found beside the files)")
    p.add_argument("--output", default="auto", choices=["auto", "classes", "probabilities", "values"],
                   help="what to write: class index, one probability band per class, or values "
                   "(default: classes for classifiers, else values)")
    p.add_argument("--model-output", help="which output of a multi-output model to write (e.g. height)")
    p.add_argument("--overlap", type=int, default=0,
                   help="patch classifiers: cells of (patch side - overlap) pixels, each predicted from the window "
                   "centred on it (patch side - 1: every pixel; default 0: one prediction per patch-sized cell)")
    p.add_argument("--batch-size", type=int, default=8, help="patches per model call (default 8)")
    p.set_defaults(func=run)


def band_groups(values: list[str] | None) -> list[str] | dict[str, list[str]] | None:
    """``--bands``: band names, or ``INPUT=B1,B2`` items -> ``{input: [bands]}``."""
    if not values or not any("=" in v for v in values):
        return values
    groups = {}
    for item in values:
        name, sep, bands = item.partition("=")
        if not sep or not name or not bands:
            raise ValueError(f"--bands: give every input as INPUT=B1,B2 when one is given so, got {item!r}")
        groups[name] = bands.split(",")
    return groups


def run(args: argparse.Namespace) -> int:
    from rskeras.workflows.ee_round_trip import predict_ee_export, upload_settings

    tfrecord, mixer = predict_ee_export(
        args.model, args.files, args.out, band_groups(args.bands), kernel_size=args.kernel_size, mixer=args.mixer,
        output=args.output, model_output=args.model_output, overlap=args.overlap, batch_size=args.batch_size,
    )
    upload = upload_settings(args.model, args.output, args.model_output)
    print(f"wrote {tfrecord} and {mixer}; upload them with pipelines/upload_predictions.py "
          f"(bands: {upload['bands']}, pyramiding_policy: {upload['pyramiding_policy']})")
    return 0
