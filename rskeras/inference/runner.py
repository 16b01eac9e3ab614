"""Calling a Keras model on numpy batches, fast: one compiled ``tf.function`` (the Keras :class:`Runner`).

``model.predict`` builds a ``tf.data`` pipeline and a callback loop on every call,
which costs milliseconds per window; ``predict_raster`` instead calls the model
through a ``tf.function`` traced once for a batch axis of any length
(``training=False``), on numpy chunks of at most ``batch_size`` items.

- The compiled function is kept with the model (for as long as the model lives), so predicting scene
  after scene with one model traces it once: a U-Net's trace costs about 0.3 s a call. ``predict_raster``
  over the 72 scenes of 263 x 239 px of ``benchmarks/beam.py``, one model: 7.0 s, against 22.0-23.7 s with
  the model traced for every scene (side by side, 2 runs each).
- Pixel models (``(bands,)`` inputs) are compiled with XLA: on the benchmark's ANN, 262,144 pixels a call,
  XLA takes 0.58 s per 4.2 M pixels against 0.63 s (``benchmarks/inference.py``). XLA compiles once per
  batch shape, so every call gets exactly ``batch_size`` rows, a shorter chunk padded with zeros and its
  padding's outputs dropped. A model XLA cannot compile (an op it lacks) predicts without it, with a
  warning. Convolutional models are not compiled with XLA: oneDNN's convolutions beat XLA's on CPU (the
  benchmark's U-Net: 6.4 s against 10.3 s).
- A pixel model that writes only its class map computes :meth:`rskeras.tasks.Task.decode` in the same
  compiled call (:meth:`ModelRunner.decoding`): XLA fuses it into the model, and the writer thread no longer
  decodes five probabilities a pixel in numpy.

:func:`describe_model` is the JSON a Keras model is known by (the same JSON
:func:`rskeras.export` writes into ONNX and LiteRT files, so every runner has one
:class:`~rskeras.inference.model_spec.ModelSpec`).
"""

from __future__ import annotations

import inspect
import os
import warnings
import weakref
from dataclasses import replace

import keras
import numpy as np
import tensorflow as tf

from rskeras._compat import producing_layer
from rskeras.heads import TaskOutput
from rskeras.inference.model_probe import probe_model
from rskeras.inference.model_spec import ModelSpec, choose_output
from rskeras.inference.uncertainty import is_classification
from rskeras.models.metadata import all_layers, input_contracts, input_normalizations
from rskeras.tasks import get_task

#: Layers that Monte Carlo dropout switches on (``training=True`` on them only).
DROPOUT_LAYERS = (keras.layers.Dropout, keras.layers.SpatialDropout1D, keras.layers.SpatialDropout2D,
                  keras.layers.SpatialDropout3D, keras.layers.GaussianDropout, keras.layers.AlphaDropout)


def load_model(model: keras.Model | str | os.PathLike) -> keras.Model:
    """``model`` itself, or the ``.keras`` file it names loaded without its optimizer."""
    if isinstance(model, keras.Model):
        return model
    from rskeras.saving import load_model as load_rskeras_model

    path = os.fspath(model)
    if not os.path.exists(path):
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        return load_rskeras_model(path, compile=False)
    except Exception as err:  # keras raises ValueError, TypeError, OSError, zipfile errors...
        raise ValueError(f"cannot load the model {path}: {err}") from err


def output_names(model: keras.Model) -> list[str]:
    """Names of the model's outputs: the keys of a dict output, else the output layers' names."""
    if isinstance(model.output, dict):
        return list(model.output)
    return [producing_layer(t).name for t in model.outputs]


def select_output(model: keras.Model, output: str | None = None) -> keras.Model:
    """``model`` itself when it has one output, else the sub-model computing ``output`` only.

    Raises:
        ValueError: several outputs and ``output`` not given, or an unknown name;
            the error lists the outputs (:func:`rskeras.inference.model_spec.choose_output`).
    """
    names = output_names(model)
    output = choose_output(model.name, names, output)
    if len(names) == 1:
        return model
    tensors = model.output if isinstance(model.output, dict) else dict(zip(names, model.outputs))
    return keras.Model(model.input, tensors[output], name=f"{model.name}_{output}")


def dropout_layers(model: keras.Model) -> list[str]:
    """The names of the model's dropout layers (nested models included)."""
    return [layer.name for layer in all_layers(model) if isinstance(layer, DROPOUT_LAYERS)]


def describe_model(model: keras.Model) -> dict:
    """The JSON a model is known by: inputs (name, shape, band names, normalisation mean and std, the value ranges
    of its input contract), outputs
    (name, shape, task, class names) in ``keras.tree.flatten`` order, the probe of
    :mod:`rskeras.inference.model_probe` and the dropout layers."""
    inputs = []
    for tensor, norm, contract in zip(model.inputs, input_normalizations(model), input_contracts(model)):
        adapted = norm is not None and norm.adapted
        inputs.append({"name": tensor.name, "shape": list(tensor.shape[1:]),
                       "band_names": norm.band_names if norm is not None else None,
                       "mean": norm.mean if adapted else None, "std": norm.std if adapted else None,
                       "value_ranges": contract.ranges.to_json() if contract.ranges is not None else None})
    names = sorted(model.output) if isinstance(model.output, dict) else output_names(model)
    tensors = [model.output[n] for n in names] if isinstance(model.output, dict) else model.outputs
    outputs = []
    for name, tensor in zip(names, tensors):
        head = producing_layer(tensor)
        head = head if isinstance(head, TaskOutput) else None
        outputs.append({"name": name, "shape": list(tensor.shape[1:]), "task": head.task if head else None,
                        "class_names": head.class_names if head else None})
    return {"name": model.name, "inputs": inputs, "outputs": outputs, "probe": probe_model(model).to_json(),
            "dropout": dropout_layers(model)}


def keras_runner(model: keras.Model | str | os.PathLike, output: str | None = None) -> ModelRunner:
    """The runner of a Keras model or ``.keras`` file, computing ``output`` of a multi-output model."""
    return ModelRunner(select_output(load_model(model), output))


def _dropout_on(layer, *args, **kwargs):
    """``call_function`` of :func:`keras.models.clone_model`: every layer that takes ``training`` gets it
    explicitly, True for dropout layers only; nested models get none (their layers carry their own).

    The clone is then called without ``training``: a flag given to a functional model overrides the flags its
    nodes were built with, and none at all would let a ``Resizing`` layer leak ``training=True`` into the
    batch normalisation after it (keras-team/keras#23166); explicit flags on every layer avoid both.
    """
    kwargs.pop("training", None)
    if not isinstance(layer, keras.Model) and "training" in inspect.signature(layer.call).parameters:
        kwargs["training"] = isinstance(layer, DROPOUT_LAYERS)
    return layer(*args, **kwargs)


class ModelRunner:
    """A Keras model called on float32 numpy inputs, in batches (the :class:`~rskeras.inference.model_spec.Runner`
    of Keras models).

    Args:
        model: a Keras model with one output tensor and one or more inputs
            (a tensor, a list or a dict of inputs); numpy inputs are given in the
            order of ``model.inputs`` (dict inputs: sorted by name).
        decode: return the classes instead of the probabilities (:meth:`decoding`); classification only.
        spec: the model's spec, when known (a runner's :meth:`decoding` shares it).
    """

    def __init__(self, model: keras.Model, decode: bool = False, spec: ModelSpec | None = None):
        if len(model.outputs) != 1:
            raise ValueError(
                f"predict_raster needs a model with one output, {model.name!r} has {len(model.outputs)}: "
                f"{output_names(model)}; pick one with select_output"
            )
        self.model, self.decode = model, decode
        self.spec = spec or ModelSpec.from_description(describe_model(model))
        if decode:
            if not is_classification(self.spec.task):
                raise ValueError(f"model {model.name!r} has no classes to decode (task {self.spec.task!r})")
            self.spec = replace(self.spec, output_shape=(*self.spec.output_shape[:-1], _decoded_channels(self.spec)))
        compiled = _COMPILED.setdefault(model, {})
        if decode not in compiled:
            jit_compile = self.spec.kind == "pixel"
            task = self.spec.task if decode else None
            compiled[decode] = (self._compile(model, jit_compile=jit_compile, decode=task), jit_compile)
        self._call, self.jit_compile = compiled[decode]
        self._stochastic = None  # compiled on first use

    @property
    def n_inputs(self) -> int:
        return self.spec.n_inputs

    @property
    def input_names(self) -> list[str]:
        return self.spec.input_names

    @property
    def output_shape(self) -> tuple:
        """The output shape without the batch axis (None for free spatial axes)."""
        return self.spec.output_shape

    def decoding(self) -> ModelRunner | None:
        """This model with :meth:`rskeras.tasks.Task.decode` in its compiled call (the :class:`Runner` method),
        or None for a model without a classification task. Under XLA (pixel models) the decoding costs about
        nothing beside the model, where decoding the probabilities in numpy costs a pass over them."""
        if self.decode or not is_classification(self.spec.task):
            return None  # already decoding, or a model of values
        return ModelRunner(self.model, decode=True, spec=self.spec)

    @staticmethod
    def _compile(model: keras.Model, training: bool | None = False, jit_compile: bool = False,
                 decode: str | None = None):
        """``model``'s forward pass as a ``tf.function`` of one float32 tensor per input (any batch length);
        with ``decode`` (a task), its classes as float32 (:func:`_decoded_channels` of them per item).

        The function holds the model weakly, so keeping it in :data:`_COMPILED` does not keep the model alive.
        """
        specs = [tf.TensorSpec((None, *t.shape[1:]), tf.float32) for t in model.inputs]
        held = weakref.ref(model)

        def call(*inputs):
            model = held()
            y = model(keras.tree.pack_sequence_as(model.input, list(inputs)), training=training)
            if decode is None:
                return y
            classes = get_task(decode).decode(y)
            return tf.cast(classes if decode == "multilabel" else classes[..., None], tf.float32)

        return tf.function(call, input_signature=specs, reduce_retracing=True, jit_compile=jit_compile)

    def _stochastic_call(self):
        """The model with its dropout layers in training mode (same weights; batch normalisation stays in
        inference mode), compiled."""
        if self._stochastic is None:
            if not self.spec.dropout:
                raise ValueError(f"model {self.model.name!r} has no dropout layers to switch on")
            clone = keras.models.clone_model(self.model, clone_function=lambda layer: layer,
                                             call_function=_dropout_on, recursive=True)
            self._clone = clone  # held here: the compiled function holds it weakly
            self._stochastic = self._compile(clone, training=None)  # the layers' own flags (see _dropout_on)
        return self._stochastic

    def __call__(self, inputs: list[np.ndarray], batch_size: int, stochastic: bool = False) -> np.ndarray:
        """Predict ``inputs`` (one float32 array per model input, same first axis).

        ``stochastic`` switches the dropout layers on (Monte Carlo dropout). Returns the model's float32
        output for every item, concatenated.
        """
        if stochastic:
            if self.decode:
                raise ValueError("a runner that decodes classes has no stochastic passes: use the probabilities")
            return _call_batches(self._stochastic_call(), inputs, batch_size, fixed=False)
        try:
            return _call_batches(self._call, inputs, batch_size, fixed=self.jit_compile)
        except tf.errors.OpError as err:
            if not self.jit_compile:
                raise
            self._without_xla(err)
            return _call_batches(self._call, inputs, batch_size, fixed=False)

    def _without_xla(self, err: Exception) -> None:
        """Compile the model again without XLA (for as long as it lives), after XLA failed with ``err``."""
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        warnings.warn(f"model {self.model.name!r} does not run under XLA ({reason}); it predicts without XLA",
                      UserWarning, stacklevel=3)
        task = self.spec.task if self.decode else None
        self._call, self.jit_compile = _COMPILED[self.model][self.decode] = (
            self._compile(self.model, decode=task), False)


#: Each Keras model's compiled forward passes (:meth:`ModelRunner._compile`), for as long as the model lives:
#: ``{decode: (function, jit_compile)}``, the probabilities (False) and the classes (True).
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _decoded_channels(spec: ModelSpec) -> int:
    """Values per item of a decoded output: one class (multiclass, binary), or one 0/1 per label (multilabel)."""
    return spec.output_shape[-1] if spec.task == "multilabel" else 1


def _call_batches(call, inputs: list[np.ndarray], batch_size: int, fixed: bool) -> np.ndarray:
    """``call`` on ``inputs`` ``batch_size`` items at a time, the outputs concatenated; ``fixed``: every call gets
    exactly ``batch_size`` items (:func:`_call_rows`)."""
    n = len(inputs[0])
    parts = [_call_rows(call, [x[start:start + batch_size] for x in inputs], batch_size if fixed else None)
             for start in range(0, n, batch_size)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _call_rows(call, chunk: list[np.ndarray], rows: int | None) -> np.ndarray:
    """``call`` on ``chunk`` (one array per input, same first axis) as float32; with ``rows``, the chunk is padded
    with zeros to ``rows`` items first and the padding's outputs dropped."""
    n = len(chunk[0])
    if rows is not None and n < rows:
        padded = [np.zeros((rows, *x.shape[1:]), np.float32) for x in chunk]
        for x, pad in zip(chunk, padded):
            pad[:n] = x
        return np.asarray(call(*padded), dtype=np.float32)[:n]
    return np.asarray(call(*chunk), dtype=np.float32)
