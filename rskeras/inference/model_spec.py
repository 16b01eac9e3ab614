"""What ``predict_raster`` knows of a model, whatever it is stored as, and the one runner interface.

A *runner* calls a model on float32 numpy batches (:class:`Runner`); its :class:`ModelSpec` says what the
model takes and gives: input names, shapes and band names, the values that replace nodata, the output's
task and class names, its kind, and the tile constraints of :mod:`rskeras.inference.model_probe`.
:func:`open_runner` picks the runner for what the caller gives:

==============================  ===================================================  ==============
model                           runner                                               needs
==============================  ===================================================  ==============
``keras.Model``, ``.keras``     :class:`rskeras.inference.runner.ModelRunner`        TensorFlow
``.onnx``                       :class:`rskeras.inference.exported.OnnxRunner`       onnxruntime
``.tflite``                     :class:`rskeras.inference.exported.LiteRTRunner`     ai-edge-litert
==============================  ===================================================  ==============

Both describe the model with the same JSON (:meth:`ModelSpec.from_description`): a Keras model through
:func:`rskeras.inference.runner.describe_model`, an exported file through the metadata
:func:`rskeras.export` wrote into it. No TensorFlow here, so a machine with onnxruntime alone maps a scene.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from rskeras.inference.model_probe import ModelProbe
from rskeras.layers.input_contract import InputContract

#: File suffix -> the runner class (``module:name``) that runs such a file.
FILE_RUNNERS = {".onnx": "rskeras.inference.exported:OnnxRunner", ".tflite": "rskeras.inference.exported:LiteRTRunner"}


def model_kind(input_shapes: Sequence[tuple], output_shape: tuple) -> str:
    """``"pixel"`` for ``(bands,)`` inputs, ``"patch"`` for ``(H, W, C)`` inputs with a
    vector output, ``"dense"`` for ``(H, W, C)`` inputs with an ``(H, W, n)`` output."""
    ranks = {len(shape) for shape in input_shapes}
    if ranks == {1}:
        return "pixel"
    if ranks == {3}:
        return "dense" if len(output_shape) == 3 else "patch"
    raise ValueError(
        f"cannot tell the model's kind from its input shapes {list(input_shapes)} and output shape "
        f"{output_shape}; pixel models take (bands,), patch and dense models (height, width, bands)"
    )


def choose_output(model_name: str, names: Sequence[str], output: str | None) -> str:
    """The output to write: ``output``, or the only one.

    Raises:
        ValueError: several outputs and ``output`` not given, or an unknown name; the error lists the outputs.
    """
    if output is not None and output not in names:
        raise ValueError(f"model {model_name!r} has no output {output!r}; its outputs are {', '.join(names)}")
    if output is None and len(names) > 1:
        raise ValueError(
            f"model {model_name!r} has {len(names)} outputs ({', '.join(names)}); choose the one to write with output="
        )
    return output or names[0]


@dataclass(frozen=True)
class ModelSpec:
    """What a model takes and gives, as ``predict_raster`` needs it.

    Attributes:
        name: the model's name, or the file it was read from.
        kind: ``"pixel"``, ``"patch"`` or ``"dense"`` (:func:`model_kind`).
        task: the task of the output (``rskeras.tasks``), None for an output without a task head.
        class_names: its class names (or the regression outputs' names), or None.
        input_names: the model's inputs, in the order runners take them.
        input_shapes: per input, the shape without the batch axis (None for free sizes).
        band_names: per input, the band names its normalisation holds, or None.
        fills: per input, the ``(bands,)`` float32 values that replace nodata pixels: the normalisation
            mean (0 after normalising), or zeros for an input without statistics.
        output_shape: the output's shape without the batch axis.
        output_name: the output's name.
        probe: tile multiple, receptive field and activation memory.
        contracts: per input, the band names and value ranges it was trained on
            (:mod:`rskeras.layers.input_contract`; ranges None for models saved without them).
        dropout: the names of the Dropout layers (``uncertainty="mc_dropout"`` switches them on).
        source: the file the model was read from, or None.
    """

    name: str
    kind: str
    task: str | None
    class_names: list[str] | None
    input_names: list[str]
    input_shapes: list[tuple]
    band_names: list[list[str] | None]
    fills: list[np.ndarray]
    output_shape: tuple
    output_name: str
    probe: ModelProbe
    contracts: list[InputContract] = field(default_factory=list)
    dropout: tuple[str, ...] = ()
    source: Path | None = None

    @property
    def n_inputs(self) -> int:
        return len(self.input_names)

    @classmethod
    def from_description(cls, description: dict, output: str | None = None, source: Path | None = None) -> ModelSpec:
        """The spec of one output of a model described as JSON (see :func:`rskeras.inference.runner.describe_model`).

        Args:
            description: ``{"name", "inputs": [{"name", "shape", "band_names", "mean", "value_ranges"}], "outputs": [{"name",
                "shape", "task", "class_names"}], "probe", "dropout"}``.
            output: the output's name (needed when there are several).
            source: the file the description was read from.
        """
        names = [o["name"] for o in description["outputs"]]
        chosen = description["outputs"][names.index(choose_output(description["name"], names, output))]
        inputs = description["inputs"]
        shapes = [tuple(i["shape"]) for i in inputs]
        output_shape = tuple(chosen["shape"])
        return cls(
            name=str(source) if source is not None else description["name"],
            kind=model_kind(shapes, output_shape),
            task=chosen.get("task"),
            class_names=chosen.get("class_names"),
            input_names=[i["name"] for i in inputs],
            input_shapes=shapes,
            band_names=[i.get("band_names") for i in inputs],
            fills=[np.asarray(i["mean"], np.float32) if i.get("mean") is not None else np.zeros(s[-1], np.float32)
                   for i, s in zip(inputs, shapes)],
            output_shape=output_shape,
            output_name=chosen["name"],
            probe=ModelProbe.from_json(description["probe"]) if description.get("probe") else ModelProbe(),
            contracts=[InputContract.from_json({"name": i["name"], "band_names": i.get("band_names"),
                                                "ranges": i.get("value_ranges")}) for i in inputs],
            dropout=tuple(description.get("dropout", ())),
            source=source,
        )


class Runner(Protocol):
    """A model called on float32 numpy inputs, in batches: what every ``predict_raster`` loop calls."""

    spec: ModelSpec

    def __call__(self, inputs: list[np.ndarray], batch_size: int, stochastic: bool = False) -> np.ndarray:
        """Predict ``inputs`` (one float32 array per model input, same first axis) ``batch_size`` items per call.

        ``stochastic`` switches the Dropout layers on (``training=True`` on them only; Monte Carlo dropout).
        Returns the chosen output's float32 values for every item, ``(n, *spec.output_shape)``.
        """

    def decoding(self) -> Runner | None:
        """The runner that computes the classes (:meth:`rskeras.tasks.Task.decode`) in the model's own call, for
        maps that need no probabilities, or None where it cannot (the caller decodes the probabilities).

        Its outputs are float32 class values: ``(n, ..., 1)`` for multiclass and binary, ``(n, ..., n_labels)``
        of 0/1 for multilabel; its ``spec.output_shape`` says so.
        """


def open_runner(model, output: str | None = None) -> Runner:
    """The runner for ``model``: a ``keras.Model`` or a ``.keras``, ``.onnx`` or ``.tflite`` file.

    ``output`` names the output to compute of a multi-output model. Only a Keras model imports TensorFlow.
    """
    if isinstance(model, (str, os.PathLike)) and Path(model).suffix.lower() in FILE_RUNNERS:
        import importlib

        module, _, name = FILE_RUNNERS[Path(model).suffix.lower()].partition(":")
        return getattr(importlib.import_module(module), name)(model, output)
    from rskeras.inference.runner import keras_runner

    return keras_runner(model, output)
