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
    p.add_argument("model", help="a saved .keras dense model (U-Net, PSPNet, DeepLabV3, ...)")
    p.add_argument("files", help="the export's TFRecord files: a glob pattern (quote it) or a path; gs:// works")
    p.add_argument("out", help="the prediction TFRecord to write: .tfrecord, or .tfrecord.gz for GZIP; never one of "
                   "the export's files (its mixer goes beside it as OUT-mixer.json)")
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rskeras.workflows import predict_ee_export

    tfrecord, mixer = predict_ee_export(
        args.model, args.files, args.out, args.bands, kernel_size=args.kernel_size, mixer=args.mixer,
        output=args.output, model_output=args.model_output, batch_size=args.batch_size,
    )
    print(f"wrote {tfrecord} and {mixer}; upload them with pipelines/upload_predictions.py")
    return 0
