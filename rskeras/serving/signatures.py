"""Serving signatures of an exported model: float tensors, and Earth Engine's tf.Example patches.

Two signatures are built for every model (see :func:`build_signatures`):

``serving_default``
    Float32 tensors in, named after what they are: ``"pixels"`` ``(batch, bands)``,
    ``"image"`` ``(batch, H, W, bands)`` (one named input per model input for
    multi-input models). Outputs ``"probabilities"`` and ``"classes"`` (int64) for
    classification, ``"values"`` for regression, the model's own output names for
    multi-output models.

``serving_ee_examples``
    Earth Engine's ``GRPC_SERIALIZED_TF_EXAMPLES`` exchange: one DT_STRING input named
    ``"input"``, ``(batch,)`` serialized ``tf.train.Example`` records in Earth Engine's
    patch layout (one ``float_list`` feature per band, named after the band, ``H*W``
    values in row-major order), and one DT_STRING output ``"output_bytes"``, the
    predictions as serialized Examples in the same layout (one float feature per output
    band, listed in the export's metadata). The ``_bytes`` suffix makes TF Serving's REST API
    return the records as ``{"b64": ...}``.

Only core TensorFlow ops are used (ParseExampleV2, SerializeTensor, Substr, string
joins, Gather), so the signatures should run in the stock ``tensorflow/serving`` image.
The float bytes are written in the host's byte order, little-endian on x86-64 and
ARM64 as protobuf requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

import keras
import tensorflow as tf

from rskeras.data.ee_records.example_codec import (  # noqa: F401  (float_examples, parse_float_examples: public here too)
    float_examples,
    parse_float_examples,
    patch_feature_spec,
    serialize_float_examples,
)
from rskeras.heads import get_task

DEFAULT_SIGNATURE = "serving_default"
EE_EXAMPLES_SIGNATURE = "serving_ee_examples"
EE_INPUT_NAME = "input"
EE_OUTPUT_NAME = "output_bytes"

# input name by rank of a single-input model, batch axis included
_INPUT_NAME_BY_RANK = {2: "pixels", 3: "series", 4: "image", 5: "image_series"}


def sanitize_name(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9_]`` replaced by ``_``.

    Signature keys, TensorFlow op names and Earth Engine band names all accept these.
    """
    clean = re.sub(r"[^A-Za-z0-9_]", "_", str(name)).strip("_") or "x"
    return clean if not clean[0].isdigit() else f"_{clean}"


@dataclass
class InputInfo:
    """One model input as the signatures see it.

    Attributes:
        name: the signature input name (``"image"``, ``"pixels"``, or the Keras input's name).
        shape: the shape with the batch axis, ``None`` for unknown sizes.
        band_names: the names of the last axis' bands, used as Earth Engine feature names.
        dtype: the Keras input's dtype (the float32 signature input is cast to it).
        keras_name: the Keras input's name (the key when the model takes a dict).
    """

    name: str
    shape: tuple
    band_names: list[str]
    dtype: str
    keras_name: str

    @property
    def spatial(self) -> bool:
        return len(self.shape) == 4


@dataclass
class OutputInfo:
    """One signature output.

    Attributes:
        name: the signature output name.
        shape: the shape with the batch axis.
        dtype: ``"float32"`` or ``"int64"``.
        band_names: its Earth Engine output bands, one per entry of the last axis
            (a single band when the output has no channel axis).
        channel_axis: whether the last axis holds channels (classes, values).
        source: for multi-output models, the model's own name of the output.
    """

    name: str
    shape: tuple
    dtype: str
    band_names: list[str]
    channel_axis: bool
    source: str | None = None


@dataclass
class SignatureSpec:
    """What :func:`build_signatures` exposes, also written to the export's metadata."""

    task: str | None
    class_names: list[str] | None
    inputs: list[InputInfo]
    outputs: list[OutputInfo]
    ee_tile_size: tuple[int, int] | None = None

    @property
    def multi_output(self) -> bool:
        return any(o.source is not None for o in self.outputs)

    def to_json(self) -> dict:
        return {
            "task": self.task,
            "class_names": self.class_names,
            "signatures": {
                DEFAULT_SIGNATURE: {
                    "inputs": {
                        i.name: {"shape": _json_shape(i.shape), "dtype": "float32", "band_names": i.band_names}
                        for i in self.inputs
                    },
                    "outputs": {
                        o.name: {"shape": _json_shape(o.shape), "dtype": o.dtype} for o in self.outputs
                    },
                },
                EE_EXAMPLES_SIGNATURE: {
                    "inputs": {EE_INPUT_NAME: {"shape": [None], "dtype": "string"}},
                    "outputs": {EE_OUTPUT_NAME: {"shape": [None], "dtype": "string"}},
                    "payload_format": "GRPC_SERIALIZED_TF_EXAMPLES",
                    "input_bands": [b for i in self.inputs for b in i.band_names],
                    "output_bands": [b for o in self.outputs for b in o.band_names],
                    "tile_size": list(self.ee_tile_size) if self.ee_tile_size else None,
                },
            },
        }


def _json_shape(shape: tuple) -> list:
    return [None if d is None else int(d) for d in shape]


def describe_inputs(
    model: keras.Model,
    band_names: Sequence[Sequence[str] | None],
    input_names: Sequence[str] | None = None,
) -> list[InputInfo]:
    """One :class:`InputInfo` per model input (``band_names`` per input; None -> ``b1..bn``)."""
    tensors = list(model.inputs)
    if input_names is None:
        if len(tensors) == 1:
            input_names = [_INPUT_NAME_BY_RANK.get(len(tensors[0].shape), tensors[0].name)]
        else:
            input_names = [t.name for t in tensors]
    if len(input_names) != len(tensors):
        raise ValueError(f"{len(input_names)} input names {list(input_names)} for a model with {len(tensors)} inputs")
    names = [sanitize_name(n) for n in input_names]
    if len(set(names)) != len(names):
        raise ValueError(f"input names must be distinct, got {names}")
    infos = []
    for tensor, name, bands in zip(tensors, names, band_names):
        shape = tuple(tensor.shape)
        n_bands = shape[-1]
        if n_bands is None:
            raise ValueError(f"model input {name!r} has an unknown number of bands (shape {shape})")
        if bands is None:
            bands = [f"b{i + 1}" if len(tensors) == 1 else f"{name}_b{i + 1}" for i in range(n_bands)]
        bands = [str(b) for b in bands]
        if len(bands) != n_bands:
            raise ValueError(f"input {name!r} has {n_bands} bands but {len(bands)} band names were given: {bands}")
        infos.append(InputInfo(name, shape, bands, str(tensor.dtype), tensor.name))
    all_bands = [b for i in infos for b in i.band_names]
    if len(set(all_bands)) != len(all_bands):
        raise ValueError(f"band names must be distinct across inputs for Earth Engine features, got {all_bands}")
    return infos


def _band_names(name: str, stem: str, n: int | None, class_names: list[str] | None, channel_axis: bool) -> list[str]:
    if not channel_axis or n == 1:
        return [stem]
    if n is None:
        raise ValueError(f"output {name!r} has an unknown number of channels")
    if class_names is not None and len(class_names) == n:
        return [f"{stem}_{sanitize_name(c)}" for c in class_names]
    return [f"{stem}_{i}" for i in range(n)]


def describe_outputs(model: keras.Model, task: str | None, class_names: list[str] | None) -> list[OutputInfo]:
    """The signature outputs of ``model`` (see the module docstring for the names)."""
    tensors = list(model.outputs)
    if len(tensors) > 1:
        names = [sanitize_name(n) for n in model.output_names]
        if len(set(names)) != len(names):
            raise ValueError(f"output names must be distinct, got {names}")
        return [
            OutputInfo(n, tuple(t.shape), "float32", _band_names(n, n, t.shape[-1], None, True), True, source)
            for n, source, t in zip(names, model.output_names, tensors)
        ]
    shape = tuple(tensors[0].shape)
    n = shape[-1]
    if task is None or not get_task(task).is_classification:
        return [OutputInfo("values", shape, "float32", _band_names("values", "value", n, None, True), True)]
    probabilities = OutputInfo(
        "probabilities", shape, "float32", _band_names("probabilities", "probability", n, class_names, True), True
    )
    if task == "multilabel":
        classes = OutputInfo("classes", shape, "int64", _band_names("classes", "class", n, class_names, True), True)
    else:
        classes = OutputInfo("classes", shape[:-1], "int64", ["class"], False)
    return [probabilities, classes]


def _named_outputs(y, spec: SignatureSpec) -> dict[str, tf.Tensor]:
    """Model output(s) -> the signature's named outputs."""
    if spec.multi_output:
        ys = [y[o.source] for o in spec.outputs] if isinstance(y, dict) else list(y)
        return {o.name: tf.cast(t, tf.float32) for o, t in zip(spec.outputs, ys)}
    y = tf.cast(y, tf.float32)
    if spec.outputs[0].name == "values":
        return {"values": y}
    return {"probabilities": y, "classes": get_task(spec.task).decode(y)}


def _call_model(model: keras.Model, spec: SignatureSpec, tensors: list[tf.Tensor]):
    xs = [tf.cast(t, i.dtype) for t, i in zip(tensors, spec.inputs)]
    if isinstance(model.input, dict):
        return model({i.keras_name: x for i, x in zip(spec.inputs, xs)}, training=False)
    return model(xs[0] if len(xs) == 1 else xs, training=False)


def default_signature(model: keras.Model, spec: SignatureSpec) -> tuple[Callable, list]:
    """``serving_default``: ``fn(inputs: dict[name, float32]) -> dict[name, tensor]`` and its input signature."""
    input_signature = [{i.name: tf.TensorSpec(i.shape, tf.float32, name=i.name) for i in spec.inputs}]

    def serve(inputs):
        return _named_outputs(_call_model(model, spec, [inputs[i.name] for i in spec.inputs]), spec)

    return serve, input_signature


def ee_examples_signature(model: keras.Model, spec: SignatureSpec) -> tuple[Callable, list]:
    """``serving_ee_examples``: serialized Examples in -> serialized Examples out.

    Pixel models (``(batch, bands)`` inputs) take patches of any size, every pixel
    predicted on its own. Image models take ``spec.ee_tile_size`` patches when it is
    set, else square patches whose side is read from the number of values.
    """
    for info in spec.inputs:
        if len(info.shape) not in (2, 4):
            raise ValueError(
                f"the Earth Engine signature takes pixel (batch, bands) or image (batch, H, W, bands) inputs; "
                f"input {info.name!r} has shape {info.shape}; export with ee_signature=False"
            )
    tile = spec.ee_tile_size
    all_bands = [band for info in spec.inputs for band in info.band_names]
    feature_spec = patch_feature_spec(all_bands, tile) if tile else {b: tf.io.RaggedFeature(tf.float32) for b in all_bands}

    def serve(input):  # noqa: A002  (the name Earth Engine sends)
        parsed = tf.io.parse_example(input, feature_spec)
        parsed = {k: v.to_tensor() if isinstance(v, tf.RaggedTensor) else v for k, v in parsed.items()}
        batch = tf.shape(input)[0]
        tensors = []
        for info in spec.inputs:
            x = tf.stack([parsed[b] for b in info.band_names], axis=-1)  # (batch, L, bands)
            n_bands = len(info.band_names)
            if info.spatial:
                if tile:
                    height, width = tile
                else:
                    length = tf.shape(x)[1]
                    side = tf.cast(tf.round(tf.sqrt(tf.cast(length, tf.float32))), tf.int32)
                    check = tf.debugging.assert_equal(
                        side * side, length,
                        message="Earth Engine patches are not square; export with ee_tile_size=(H, W)",
                    )
                    with tf.control_dependencies([check]):
                        height = width = tf.identity(side)
                tensors.append(tf.reshape(x, tf.stack([batch, height, width, n_bands])))
            else:
                tensors.append(tf.reshape(x, [-1, n_bands]))
        outputs = _named_outputs(_call_model(model, spec, tensors), spec)
        bands = {}
        for info in spec.outputs:
            y = tf.cast(outputs[info.name], tf.float32)
            if not info.channel_axis:
                y = y[..., None]
            y = tf.reshape(y, tf.stack([batch, -1, len(info.band_names)]))  # (batch, L_out, bands)
            for k, band in enumerate(info.band_names):
                bands[band] = y[:, :, k]
        return {EE_OUTPUT_NAME: serialize_float_examples(bands)}

    return serve, [tf.TensorSpec((None,), tf.string, name=EE_INPUT_NAME)]
