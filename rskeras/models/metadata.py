"""What a built or loaded rskeras model says about itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np

from rskeras._compat import producing_layer
from rskeras.heads import TaskOutput
from rskeras.layers.input_contract import BandRanges, InputContract, check_inputs
from rskeras.layers.normalization import BandNormalization


@dataclass
class ModelMetadata:
    """Task, classes, input bands and their training ranges of a model, read from its layers.

    Attributes:
        task: the task of the :class:`~rskeras.heads.TaskOutput` behind the model's
            first output (Keras orders dict outputs by name), or None.
        class_names: its class names, or None.
        n_outputs: the size of the last axis of that output.
        band_names: per model input, the band names its normalisation holds (or None).
        input_shapes: per model input, the shape without the batch axis.
        normalized: per model input, whether its normalisation holds statistics.
        value_ranges: per model input, the range of each band's training values (raw units; see
            :class:`~rskeras.layers.input_contract.BandRanges`), or None (a model saved without them).
        outputs: output name -> task, for every output that ends in a TaskOutput
            (several for multi-output models such as M3Net).
    """

    task: str | None = None
    class_names: list[str] | None = None
    n_outputs: int | None = None
    band_names: list[list[str] | None] = field(default_factory=list)
    input_shapes: list[tuple] = field(default_factory=list)
    normalized: list[bool] = field(default_factory=list)
    value_ranges: list[BandRanges | None] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


def all_layers(model: keras.Model):
    """Every layer of ``model``, nested models' layers included (a nested model before its layers)."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def model_metadata(model: keras.Model) -> ModelMetadata:
    """Read task, class names, band names and input shapes from ``model``."""
    meta = ModelMetadata()
    named = model.output.items() if isinstance(model.output, dict) else ((None, t) for t in model.outputs)
    heads = []
    for name, tensor in named:
        layer = producing_layer(tensor)
        if isinstance(layer, TaskOutput):
            heads.append(layer)
            meta.outputs[name or layer.name] = layer.task
    heads += [layer for layer in all_layers(model) if isinstance(layer, TaskOutput) and layer not in heads]
    if heads:
        meta.task = heads[0].task
        meta.class_names = heads[0].class_names
        meta.n_outputs = heads[0].output.shape[-1] if hasattr(heads[0], "output") else None
    for tensor, norm in zip(model.inputs, input_normalizations(model)):
        meta.input_shapes.append(tuple(tensor.shape[1:]))
        meta.band_names.append(norm.band_names if norm is not None else None)
        meta.normalized.append(bool(norm is not None and norm.adapted))
        meta.value_ranges.append(norm.value_ranges if norm is not None else None)
    return meta


def input_contracts(model: keras.Model) -> list[InputContract]:
    """Per model input (in ``model.inputs`` order), the band names and value ranges it was trained on."""
    meta = model_metadata(model)
    return [InputContract(tensor.name, tuple(names) if names is not None else None, ranges)
            for tensor, names, ranges in zip(model.inputs, meta.band_names, meta.value_ranges)]


def check_input_contract(
    model: keras.Model,
    samples: Sequence[np.ndarray | None],
    bands: Sequence[Sequence[str] | None] | None = None,
    sources: Sequence[str] | None = None,
) -> None:
    """Check what is about to be fed to ``model`` against its input contract, before predicting.

    :func:`rskeras.layers.input_contract.check_inputs` with :func:`input_contracts` of ``model``:
    bands named otherwise than in training are refused (``BandError`` naming both lists), values far
    outside the training ranges warned about (``InputRangeWarning`` naming the band; "far" is defined
    in :mod:`rskeras.layers.input_contract`). ``samples``, ``bands`` and ``sources`` are per model input.
    """
    check_inputs(input_contracts(model), samples, bands, sources)


def input_normalizations(model: keras.Model) -> list[BandNormalization | None]:
    """Per model input (in ``model.inputs`` order), its ``BandNormalization`` layer or None.

    A layer applied directly to a model input belongs to that input; the others are
    paired with the remaining inputs in layer order.
    """
    norms, stack = [], list(model.layers)
    while stack:
        layer = stack.pop(0)
        if isinstance(layer, BandNormalization):
            norms.append(layer)
        elif isinstance(layer, keras.Model):
            stack = list(layer.layers) + stack
    names = [t.name for t in model.inputs]
    paired: list[BandNormalization | None] = [None] * len(names)
    rest = []
    for norm in norms:
        try:
            source = getattr(producing_layer(norm.input), "name", None)
        except (AttributeError, ValueError):  # shared or nested layers have no single input
            source = None
        if source in names and paired[names.index(source)] is None:
            paired[names.index(source)] = norm
        else:
            rest.append(norm)
    for i in range(len(paired)):
        if paired[i] is None and rest:
            paired[i] = rest.pop(0)
    return paired
