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
``rskeras beam``         chip or map many scenes with Apache Beam (this machine, or Dataflow, Flink, Spark)
``rskeras models``       list the model families: kind, paper, options with defaults
``rskeras demo``         the main job on real data

One module per sub-command (``rskeras/cli/<command>.py`` with ``add_parser`` and ``run``; a command that sets the
default :data:`PASS_THROUGH` receives the options it does not know, for another tool); heavy imports
happen inside ``run``, so ``--help`` answers at once.

Errors speak CLI: one line on stderr, ``rskeras COMMAND: error: ...``, exit status 2, no traceback
unless ``--debug``. Library messages name arguments as Python keywords (``crs=``, ``bands=[2, 3]``)
or start with the argument's name (``dst out.png must end in .tif``); :func:`cli_message` rewrites them
as the sub-command's options (``--crs``, ``--bands 2 3``), so each message is written once, in the library. A module may add names its parser does not use as
``ARGUMENT_NAMES = {"library name": "--option"}``.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
import traceback
from collections.abc import Sequence

__all__ = ["COMMANDS", "build_parser", "cli_message", "main"]

#: The sub-command modules, in the order ``rskeras --help`` lists them.
COMMANDS = ("train_pixel", "predict", "predict_ee", "train", "evaluate", "export", "design_sample", "assess",
            "vectorize", "beam", "models", "demo")
#: Exceptions that report a fault of the input; anything else is unexpected (both: one line, exit 2).
USER_ERRORS = (ValueError, KeyError, OSError, FloatingPointError)
#: The namespace attribute of a command that passes the options it does not know on (``rskeras beam``).
PASS_THROUGH = "pipeline_args"
#: A Python keyword argument in a message: ``name=`` and, when given, its value.
_KEYWORD = re.compile(r"(?<![\w.\-])(?P<name>[a-z_][a-z0-9_]*)=(?P<value>'[^']*'|\"[^\"]*\"|\[[^\]]*\]|\([^)]*\)|"
                      r"[^\s,;)\]]+)?")


class Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line (exit status 2)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rskeras",
        description="Deep learning on satellite imagery with Keras: from imagery and field data to trained models "
        "and result rasters.",
    )
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"rskeras.cli.{name}").add_parser(sub)
    for command in sub.choices.values():  # --debug also after the sub-command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="show the traceback of an error")
    return parser


def _chosen_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub-)sub-command parser that parsed ``args``: ``rskeras beam predict``'s, not ``beam``'s."""
    while subs := [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]:
        parser = subs[0].choices[getattr(args, subs[0].dest)]
    return parser


def _option_names(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """Library argument name -> the option of the command ``args`` ran that sets it."""
    chosen = _chosen_parser(parser, args)
    names = {a.dest: max(a.option_strings, key=len) for a in chosen._actions if a.option_strings and a.dest != "help"}
    module = importlib.import_module(f"rskeras.cli.{args.command.replace('-', '_')}")
    return {**names, **getattr(module, "ARGUMENT_NAMES", {})}


def _cli_value(value: str) -> str:
    """A Python literal in a message as it is typed on the command line: ``[2, 'red']`` -> ``2 red``."""
    if value[:1] in "[(":
        value = " ".join(v.strip() for v in value[1:-1].split(",") if v.strip())
    return re.sub(r"['\"]", "", value)


def cli_message(message: str, options: dict[str, str]) -> str:
    """``message`` with every ``name=value`` of a library argument written as its option ``--name value``,
    and a message that starts with an argument's name (``"probabilities out.png must end in .tif"``, the
    form of :func:`rskeras.io.check_output`) starting with the option instead."""

    def option(match: re.Match) -> str:
        name, value = match["name"], match["value"]
        if name not in options:
            return match[0]
        return options[name] + (f" {_cli_value(value)}" if value else "")

    subject = re.match(r"([a-z_]+) ", message)
    if subject and subject[1] in options:
        message = options[subject[1]] + message[len(subject[1]):]
    return _KEYWORD.sub(option, message)


def _one_line(err: BaseException) -> str:
    """The message of ``err`` on one line (a KeyError's text without its quotes; TensorFlow's op noise cut)."""
    text = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[\[\{\{node [^}]*\}\}\]\]|\s*\[Op:\w+\].*", "", str(text))
    text = re.sub(r"^Error in user-defined function passed to .*? transformation with iterator: \S+: ", "", text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines) if len(lines) <= 3 else lines[0]


def _is_user_error(err: BaseException) -> bool:
    """A fault of the input: :data:`USER_ERRORS`, or TensorFlow's error from reading data (a corrupt file)."""
    return isinstance(err, USER_ERRORS) or type(err).__module__ == "tensorflow.python.framework.errors_impl"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rskeras`` console script; returns the exit status (0, 2 for an error)."""
    import rskeras  # noqa: F401  (environment defaults before TensorFlow loads)
    from rskeras.io import exit_on_sigterm, termination_status

    exit_on_sigterm()  # a terminated command removes its temporary files, as on Ctrl-C
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not hasattr(args, PASS_THROUGH):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if hasattr(args, PASS_THROUGH):  # a command whose unknown options belong to another tool (Beam's flags)
        setattr(args, PASS_THROUGH, extra)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(f"rskeras {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001  (every error ends as one line; --debug shows the traceback)
        if termination_status() is not None:  # SIGTERM inside a TensorFlow callback arrives as another error
            print(f"rskeras {args.command}: terminated", file=sys.stderr)
            return termination_status()
        if args.debug:
            traceback.print_exc()
        message = cli_message(_one_line(err), _option_names(parser, args))
        if not _is_user_error(err):
            message = f"unexpected {type(err).__name__}: {message} (rerun with --debug for the traceback)"
        print(f"rskeras {args.command}: error: {message}", file=sys.stderr)
        return 2
