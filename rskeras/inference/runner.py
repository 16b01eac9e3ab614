"""Calling a Keras model on numpy batches, fast: one compiled ``tf.function``.

``model.predict`` builds a ``tf.data`` pipeline and a callback loop on every call,
which costs milliseconds per window; ``predict_raster`` instead calls the model
through a ``tf.function`` traced once for a batch axis of any length
(``training=False``), on numpy chunks of at most ``batch_size`` items.
"""

from __future__ import annotations

import os

import keras
import numpy as np
import tensorflow as tf

from rskeras._compat import producing_layer


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
            the error lists the outputs.
    """
    names = output_names(model)
    if output is not None and output not in names:
        raise ValueError(f"model {model.name!r} has no output {output!r}; its outputs are {', '.join(names)}")
    if len(names) == 1:
        return model
    if output is None:
        raise ValueError(
            f"model {model.name!r} has {len(names)} outputs ({', '.join(names)}); choose the one to write with output="
        )
    tensors = model.output if isinstance(model.output, dict) else dict(zip(names, model.outputs))
    return keras.Model(model.input, tensors[output], name=f"{model.name}_{output}")


class ModelRunner:
    """A model called on float32 numpy inputs, in batches.

    Args:
        model: a Keras model with one output tensor and one or more inputs
            (a tensor, a list or a dict of inputs); numpy inputs are given in the
            order of ``model.inputs`` (dict inputs: sorted by name).
    """

    def __init__(self, model: keras.Model):
        if len(model.outputs) != 1:
            raise ValueError(
                f"predict_raster needs a model with one output, {model.name!r} has {len(model.outputs)}: "
                f"{output_names(model)}; pick one with select_output"
            )
        self.model = model
        self.n_inputs = len(model.inputs)
        self.input_names = [t.name for t in model.inputs]
        specs = [tf.TensorSpec((None, *t.shape[1:]), tf.float32) for t in model.inputs]

        def call(*inputs):
            return model(keras.tree.pack_sequence_as(model.input, list(inputs)), training=False)

        self._call = tf.function(call, input_signature=specs, reduce_retracing=True)

    @property
    def output_shape(self) -> tuple:
        """The output shape without the batch axis (None for free spatial axes)."""
        return tuple(self.model.outputs[0].shape[1:])

    def __call__(self, inputs: list[np.ndarray], batch_size: int) -> np.ndarray:
        """Predict ``inputs`` (one float32 array per model input, same first axis).

        Returns the model's float32 output for every item, concatenated.
        """
        n = len(inputs[0])
        parts = [
            np.asarray(self._call(*[x[start:start + batch_size] for x in inputs]), dtype=np.float32)
            for start in range(0, n, batch_size)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)
