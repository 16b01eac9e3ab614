"""Serving signatures for every payload format Earth Engine sends to a hosted TensorFlow model.

``ee.Model.fromVertexAi(..., payloadFormat=...)`` cuts an image into tiles (``inputTileSize``; neighbouring
tiles share ``inputOverlapSize`` pixels) and sends one *instance* per tile. What the SavedModel receives, per
format (Earth Engine's "Hosted Model Payload Formats" guide, its Vertex AI notebooks, and TF Serving's REST
and gRPC predict APIs; masked pixels arrive as 0):

=============================  ==========================  =====================================================
payload format                 signature                   one instance (a tile of ``H x W`` pixels)
=============================  ==========================  =====================================================
``SERIALIZED_TF_TENSORS``      ``serving_ee_serialized``   ``{band: web-safe base64 of a serialized float32
(HTTP, the default)                                        TensorProto of shape (H, W)}``; answers the same, per
                                                           output band
``GRPC_SERIALIZED_TF_TENSORS`` ``serving_ee_serialized``   the same strings in a gRPC ``PredictRequest``: the
                                                           same signature (the guide: a model made for the HTTP
                                                           format serves it unchanged)
``RAW_JSON`` (HTTP)            ``serving_ee_raw_json``     ``{band: (H, W) nested lists of numbers written as
                                                           JSON strings}``; answers are numbers
``ND_ARRAYS`` (HTTP)           ``serving_ee_nd_arrays``    one nameless ``(bands, H, W)`` nested list, bands in
                                                           the model's order (channels first, as the guide's
                                                           PyTorch example takes it); one answer
``GRPC_TF_TENSORS``            ``serving_ee_tensors``      ``{band: float32 tensor}``, a batch of ``(H, W)``
``GRPC_SERIALIZED_TF_EXAMPLES`` ``serving_ee_examples``    ``input``: serialized ``tf.train.Example`` per tile,
                                                           each band a ``float_list`` of ``H * W`` values,
                                                           row-major (Earth Engine's TFRecord layout)
=============================  ==========================  =====================================================

Every signature applies the model by its kind: a pixel model to each pixel of the tile, a dense model to the
whole tile (``H x W``, a multiple of its downsampling), a patch classifier to the tile (its fixed input size;
the answer is one ``1 x 1`` pixel per tile, for ``outputTileSize: [1, 1]``). The model's normalisation is
inside it, so raw band values go in. Answers are float32 tensors named after the output bands of
:func:`ee_output_bands` (``probabilities`` per class, ``classes`` and ``values``): ``(batch, H, W)`` for a
one-value band, ``(batch, H, W, k)`` for an array band (``dimensions: 1``). A tile of the wrong size or band
count fails with a message naming the expected and the received shapes.

Only core TensorFlow ops are used (DecodeBase64, ParseTensor, SerializeTensor, StringToNumber, ParseExampleV2,
reshapes), so the signatures run in the stock TensorFlow Serving image behind Vertex AI's pre-built containers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import tensorflow as tf

from rskeras.inference.model_probe import probe_model
from rskeras.inference.runner import output_names
from rskeras.models.metadata import all_layers
from rskeras.serving.signatures import (
    EE_EXAMPLES_SIGNATURE,
    SignatureSpec,
    call_model,
    named_outputs,
    sanitize_name,
)

#: Earth Engine payload format -> the signature that answers it.
EE_PAYLOAD_FORMATS = {
    "SERIALIZED_TF_TENSORS": "serving_ee_serialized",
    "GRPC_SERIALIZED_TF_TENSORS": "serving_ee_serialized",
    "RAW_JSON": "serving_ee_raw_json",
    "ND_ARRAYS": "serving_ee_nd_arrays",
    "GRPC_TF_TENSORS": "serving_ee_tensors",
    "GRPC_SERIALIZED_TF_EXAMPLES": EE_EXAMPLES_SIGNATURE,
}
#: The formats Earth Engine sends over HTTP (TF Serving's REST API), the others over gRPC.
HTTP_FORMATS = ("SERIALIZED_TF_TENSORS", "RAW_JSON", "ND_ARRAYS")
EXAMPLES_INPUT = "input"  # the name Earth Engine gives the serialized Examples
ND_ARRAYS_INPUT = "array"


@dataclass(frozen=True)
class EeBand:
    """One output band of a hosted model as ``outputBands`` of ``ee.Model.fromVertexAi`` declares it.

    Attributes:
        name: the band (and signature output) name.
        length: values per pixel: 1, or the length of an array pixel (``dimensions: 1``).
        dimensions: 0 for one value per pixel, 1 for an array pixel.
        pixel_type: its ``ee.PixelType`` expression: float for probabilities and values, ``uint8`` for the class
            indexes of up to 256 classes (``int32`` beyond).
    """

    name: str
    length: int
    dimensions: int
    pixel_type: str


def ee_output_bands(spec: SignatureSpec) -> list[EeBand]:
    """The Earth Engine output bands of a model: one per signature output (:mod:`rskeras.serving.signatures`)."""
    bands = []
    for out in spec.outputs:
        n = len(out.band_names) if out.channel_axis else 1
        classes = len(spec.class_names or out.band_names)
        kind = "float()" if out.dtype != "int64" else "uint8()" if classes <= 256 else "int32()"
        bands.append(EeBand(out.name, n, int(n > 1), f"ee.PixelType.{kind}"))
    return bands


def model_kind(spec: SignatureSpec) -> str:
    """``"pixel"`` for ``(batch, bands)`` inputs, ``"patch"`` for image inputs with per-item outputs, else ``"dense"``."""
    if not spec.inputs[0].spatial:
        return "pixel"
    out = spec.outputs[0]
    return "dense" if len(out.shape) - (1 if out.channel_axis else 0) == 3 else "patch"


def check_ee_model(model: keras.Model, spec: SignatureSpec) -> None:
    """Refuse a model Earth Engine cannot send tiles to or take answers from, naming the layer at fault."""
    for info in spec.inputs:
        if len(info.shape) not in (2, 4):
            raise ValueError(f"Earth Engine sends pixels (batch, bands) or tiles (batch, H, W, bands); input layer "
                             f"{info.keras_name!r} ({info.name}) has shape {info.shape}; export with ee_signature=False")
        bad = [b for b in info.band_names if sanitize_name(b) != b]
        if bad:
            raise ValueError(f"band names {bad} of input {info.keras_name!r} cannot name signature inputs; Earth Engine "
                             "band names are letters, digits and _ (give band_names=)")
    if spec.inputs[0].spatial:
        _check_answer_size(model)


def _check_answer_size(model: keras.Model) -> None:
    """A dense output must be the size of the tile, a patch output one value per tile; else the layer is named."""
    fixed = tuple(model.inputs[0].shape[1:3])
    probe = 64 * probe_model(model).multiple  # a tile size the model takes when its size is free
    size = fixed if None not in fixed else (probe, probe)
    shapes = model.compute_output_shape(tuple((1, *size, t.shape[-1]) for t in model.inputs) if len(model.inputs) > 1
                                        else (1, *size, model.inputs[0].shape[-1]))
    shapes = list(shapes.values()) if isinstance(shapes, dict) else shapes if isinstance(shapes, list) else [shapes]
    for shape, name in zip(shapes, output_names(model)):
        if len(shape) == 2 or (len(shape) == 4 and tuple(shape[1:3]) == size):
            continue
        strided = [layer.name for layer in all_layers(model)
                   if max(_as_tuple(layer.get_config().get("strides") or layer.get_config().get("pool_size") or 1)) > 1
                   and "Transpose" not in type(layer).__name__]
        raise ValueError(f"Earth Engine takes back a tile of the input's size or one value per tile; output layer "
                         f"{name!r} of model {model.name!r} answers a {size[0]} x {size[1]} tile with shape "
                         f"{tuple(shape)} (downsampling layers: {strided}); export with ee_signature=False to serve it "
                         "to TF Serving only")


def _as_tuple(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


# ----- decoding what Earth Engine sends into (batch, H, W) float32 per band -----------------------------------

def _as_tiles(values: tf.Tensor) -> tf.Tensor:
    """A batch of tiles of any rank >= 3 (``(b, H, W)`` or ``(b, H, W, 1)``) -> ``(b, H, W)`` float32."""
    values = tf.cast(values, tf.float32)
    shape = tf.shape(values)
    tf.debugging.assert_greater_equal(tf.rank(values), 3, message="a band must be a batch of (H, W) tiles")
    tiles = tf.reshape(values, tf.concat([shape[:3], [-1]], 0))[..., 0]
    tiles.set_shape([None, None, None])
    return tiles


def _deserialize(strings: tf.Tensor) -> tf.Tensor:
    """Web-safe base64 strings of serialized float32 TensorProtos -> their tensors, stacked."""
    raw = tf.io.decode_base64(strings)
    return tf.map_fn(lambda s: tf.io.parse_tensor(s, tf.float32), raw,
                     fn_output_signature=tf.TensorSpec(None, tf.float32))


def _serialize(values: tf.Tensor) -> tf.Tensor:
    """``(b, ...)`` float32 -> ``(b,)`` web-safe base64 strings of each item's serialized TensorProto."""
    return tf.map_fn(lambda v: tf.io.encode_base64(tf.io.serialize_tensor(v)), values,
                     fn_output_signature=tf.TensorSpec((), tf.string))


def _assert(condition: tf.Tensor, *data) -> tf.Operation:
    return tf.debugging.Assert(condition, list(data), summarize=8)


# ----- the model applied to a batch of tiles -------------------------------------------------------------------

def tile_function(model: keras.Model, spec: SignatureSpec) -> Callable[[dict], dict]:
    """``fn({band: (b, H, W) float32}) -> {output band: (b, H, W[, k]) float32}`` (patch models: ``H = W = 1``).

    A dense model's tiles must be multiples of its downsampling (:mod:`rskeras.inference.model_probe`).
    """
    kind = model_kind(spec)
    multiple = probe_model(model).multiple if kind == "dense" else 1
    bands = [b for info in spec.inputs for b in info.band_names]
    first = bands[0]
    fixed = tuple(spec.inputs[0].shape[1:3]) if spec.inputs[0].spatial else (None, None)
    outputs = ee_output_bands(spec)

    def tiles(values: dict) -> dict:
        size = tf.shape(values[first])
        checks = [_assert(tf.reduce_all(tf.equal(tf.shape(values[b]), size)), f"band {b} must be tiles of the size of "
                          f"band {first}: expected [batch, H, W] =", size, "received", tf.shape(values[b]))
                  for b in bands[1:]]
        if kind != "pixel" and None not in fixed:
            checks.append(_assert(tf.reduce_all(tf.equal(size[1:3], fixed)), f"the model takes {fixed[0]} x {fixed[1]} "
                                  "tiles (inputTileSize): expected H, W =", tf.constant(fixed), "received", size[1:3]))
        elif kind == "dense" and multiple > 1:
            checks.append(_assert(tf.reduce_all(tf.equal(size[1:3] % multiple, 0)), f"tiles must be a multiple of "
                                  f"{multiple} (the downsampling of the model): received H, W =", size[1:3]))
        with tf.control_dependencies(checks):
            batch, height, width = size[0], size[1], size[2]
            xs = []
            for info in spec.inputs:
                x = tf.stack([tf.identity(values[b]) for b in info.band_names], axis=-1)  # (b, H, W, bands)
                x = tf.ensure_shape(x, [None, fixed[0], fixed[1], len(info.band_names)])
                xs.append(x if kind != "pixel" else tf.reshape(x, [-1, len(info.band_names)]))
        named = named_outputs(call_model(model, spec, xs), spec)
        out_h, out_w = (1, 1) if kind == "patch" else (height, width)
        result = {}
        for band in outputs:
            y = tf.cast(named[band.name], tf.float32)
            result[band.name] = tf.reshape(y, tf.stack([batch, out_h, out_w] + ([band.length] if band.dimensions else [])))
        return result

    return tiles


def ee_signatures(model: keras.Model, spec: SignatureSpec) -> dict[str, tuple[Callable, list]]:
    """Every Earth Engine payload signature of ``model``: ``{name: (function, input signature)}``."""
    check_ee_model(model, spec)
    tiles = tile_function(model, spec)
    bands = [b for info in spec.inputs for b in info.band_names]
    outputs = ee_output_bands(spec)

    def serialized(inputs):
        answers = tiles({b: _as_tiles(_deserialize(inputs[b])) for b in bands})
        return {name: _serialize(y) for name, y in answers.items()}

    def raw_json(inputs):
        return tiles({b: _as_tiles(tf.strings.to_number(inputs[b], tf.float32)) for b in bands})

    def tensors(inputs):
        return tiles({b: _as_tiles(inputs[b]) for b in bands})

    def nd_arrays(array):
        array = tf.cast(array, tf.float32)
        shape = tf.shape(array)
        check = _assert(tf.logical_and(tf.equal(tf.rank(array), 4), tf.equal(shape[1], len(bands))),
                        f"ND_ARRAYS instances are (bands, H, W) with the {len(bands)} bands {', '.join(bands)} in this "
                        "order: expected [batch, bands, H, W] with bands =", len(bands), "received", shape)
        with tf.control_dependencies([check]):
            answers = tiles({b: array[:, i] for i, b in enumerate(bands)})
        return {"output": answers[outputs[0].name]}

    tile = spec.ee_tile_size
    features = {b: tf.io.RaggedFeature(tf.float32) for b in bands}

    def examples(input):
        parsed = tf.io.parse_example(input, features)
        flat = {b: parsed[b].to_tensor() for b in bands}  # (b, L)
        length = tf.shape(flat[bands[0]])[1]
        if tile:
            height, width = tile
        else:
            side = tf.cast(tf.round(tf.sqrt(tf.cast(length, tf.float32))), tf.int32)
            height = width = side
        check = _assert(tf.equal(length, height * width), "Examples hold H x W values per band, row-major (square tiles "
                        "unless the export fixes ee_tile_size): expected H, W =", height, width, "received values:", length)
        with tf.control_dependencies([check]):
            return tiles({b: tf.reshape(flat[b], tf.stack([-1, height, width])) for b in bands})

    def by_band(dtype: tf.DType, shape) -> list:
        return [{b: tf.TensorSpec(shape, dtype, name=b) for b in bands}]

    return {
        EE_PAYLOAD_FORMATS["SERIALIZED_TF_TENSORS"]: (serialized, by_band(tf.string, (None,))),
        EE_PAYLOAD_FORMATS["RAW_JSON"]: (raw_json, by_band(tf.string, None)),
        EE_PAYLOAD_FORMATS["GRPC_TF_TENSORS"]: (tensors, by_band(tf.float32, None)),
        EE_PAYLOAD_FORMATS["ND_ARRAYS"]: (nd_arrays, [tf.TensorSpec((None, None, None, None), tf.float32,
                                                                     name=ND_ARRAYS_INPUT)]),
        EE_PAYLOAD_FORMATS["GRPC_SERIALIZED_TF_EXAMPLES"]: (examples, [tf.TensorSpec((None,), tf.string,
                                                                                      name=EXAMPLES_INPUT)]),
    }


def ee_signatures_json(spec: SignatureSpec) -> dict:
    """What each Earth Engine signature takes and answers (export metadata)."""
    bands = [b for info in spec.inputs for b in info.band_names]
    outputs = {b.name: {"dimensions": b.dimensions, "length": b.length, "dtype": "float32", "ee_type": b.pixel_type}
               for b in ee_output_bands(spec)}
    by_band = {"inputs": {b: "one tile per instance" for b in bands}, "outputs": outputs}
    described = {
        EE_PAYLOAD_FORMATS["SERIALIZED_TF_TENSORS"]: dict(by_band),
        EE_PAYLOAD_FORMATS["RAW_JSON"]: dict(by_band),
        EE_PAYLOAD_FORMATS["GRPC_TF_TENSORS"]: dict(by_band),
        EE_PAYLOAD_FORMATS["ND_ARRAYS"]: {"inputs": {ND_ARRAYS_INPUT: f"(bands, H, W), bands {bands}"},
                                          "outputs": {"output": outputs[spec.outputs[0].name]}},
        EE_PAYLOAD_FORMATS["GRPC_SERIALIZED_TF_EXAMPLES"]: {
            "inputs": {EXAMPLES_INPUT: f"serialized tf.train.Example per tile, features {bands}"},
            "outputs": outputs, "tile_size": list(spec.ee_tile_size) if spec.ee_tile_size else None},
    }
    for name, info in described.items():
        info["payload_formats"] = [f for f, s in EE_PAYLOAD_FORMATS.items() if s == name]
    return described
