"""``rskeras.export``: one model written for TF Serving, onnxruntime or LiteRT, with what a user needs inside.

==============  ==========  =================================================================
format          written     runs with
==============  ==========  =================================================================
``saved_model`` a folder    TF Serving, Vertex AI, Earth Engine (:func:`export_saved_model`)
``onnx``        ``.onnx``   onnxruntime (Python, C, C++, C#, Java, JavaScript), no TensorFlow
``litert``      ``.tflite`` the LiteRT interpreter (phones, edge boards, microcontrollers)
==============  ==========  =================================================================

ONNX and LiteRT files are converted by Keras' own ``model.export(format="onnx" | "litert")`` (tf2onnx;
the TFLite converter restricted to LiteRT's built-in operators, so the plain interpreter of
``ai-edge-litert`` runs the file) under a temporary name, opened once by their runtime, and renamed only
then. A model the format cannot hold (a layer whose operations the converter rejects) is an
:class:`ExportError` naming the layer; nothing is written.

Metadata: the model's description (:func:`rskeras.inference.runner.describe_model`: input names, shapes,
band names and normalisation statistics; outputs with task and class names; the tile probe) as JSON under
the key ``"rskeras"``: ONNX ``metadata_props``, a LiteRT ``metadata`` entry of the flatbuffer. The
normalisation is inside the model (raw band values in); the statistics are recorded so the file says what it
does. ``predict_raster`` reads it (:mod:`rskeras.inference.exported`).

:func:`parity` runs an exported file with its own runtime on patches of a real raster and reports the largest
difference from Keras.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from rasterio.windows import Window

from rskeras import __version__
from rskeras.inference.exported import METADATA_FORMAT, METADATA_KEY, ExportedRunner, LiteRTRunner, OnnxRunner
from rskeras.inference.model_spec import ModelSpec, open_runner
from rskeras.inference.predict import input_rasters
from rskeras.inference.runner import describe_model, load_model, output_names
from rskeras.inference.sources import Source, open_sources
from rskeras.inference.tiling import round_up
from rskeras.io import atomic_path, check_output
from rskeras.models.metadata import all_layers
from rskeras.serving.export import export_saved_model
from rskeras.tasks import get_task
from rskeras.training.precision import with_dtype_policy

#: format -> the suffix of its file (None: a folder).
FORMATS = {"saved_model": None, "onnx": ".onnx", "litert": ".tflite"}
_RUNNERS: dict[str, type[ExportedRunner]] = {"onnx": OnnxRunner, "litert": LiteRTRunner}
#: Lines of Keras' error wrapping around the converter's own message.
_KERAS_WRAPPING = ("Exception encountered when calling", "Arguments received by", "•", "in user code", "File ")


class ExportError(ValueError):
    """A format that cannot hold the model; the message names the layer at fault."""


def export(model: keras.Model | str | os.PathLike, path: str | os.PathLike, format: str = "saved_model",  # noqa: A002
           precision: str | None = "float32", **options) -> Path:
    """Write ``model`` in ``format`` to ``path``, with its band names, class names, task and normalisation.

    Args:
        model: a Keras model or a ``.keras`` file.
        path: ``saved_model``: the model's folder (``saved_models/NAME``; the next numbered version is written);
            ``onnx``: a ``.onnx`` file; ``litert``: a ``.tflite`` file (replaced if it exists).
        format: ``"saved_model"``, ``"onnx"`` or ``"litert"``.
        precision: the dtype policy the exported model computes in: ``"float32"`` writes a float32 copy
            of a model trained in mixed precision (the same weights,
            :func:`rskeras.training.precision.with_dtype_policy`); None writes the model as it is.
        **options: ``saved_model``: the options of :func:`export_saved_model`; ``onnx``: ``opset_version``.

    Returns:
        The version folder (``saved_model``) or the file written.

    Raises:
        ExportError: the format cannot hold the model (the layer is named); nothing is written.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")
    model = load_model(model)
    if precision is not None:
        model = with_dtype_policy(model, precision)
    if format == "saved_model":
        return export_saved_model(model, path, **options)
    allowed = {"onnx": {"opset_version"}, "litert": set()}[format]
    if set(options) - allowed:
        raise TypeError(f"export(format={format!r}) takes no option {sorted(set(options) - allowed)}; "
                        f"its options: {sorted(allowed) or 'none'}")
    check_output(path, suffixes=(FORMATS[format],), what="path")
    metadata = export_metadata(model)
    with atomic_path(path) as tmp:
        _convert(model, Path(tmp), format, options)
        metadata = _with_runtime_names(metadata, _open_converted(model, format, tmp), model.name)
        _embed(Path(tmp), format, metadata)
        _RUNNERS[format](tmp)  # the runtime opens the file it will be given
    return Path(path)


def _open_converted(model: keras.Model, format: str, path: str | os.PathLike):  # noqa: A002
    """The runtime's runner of a converted file. A converter may write an operation its runtime lacks (tf2onnx
    writes an ``Svd`` node onnxruntime cannot load): that is an :class:`ExportError` naming the layer too."""
    try:
        return _RUNNERS[format](path)
    except ValueError as err:
        raise ExportError(_conversion_message(model, format, str(err))) from err


def export_metadata(model: keras.Model) -> dict:
    """What an exported file carries: the model's description, its kind, how inputs are normalised and the
    versions that wrote it. Dropout is off in an exported file, so no dropout layers are listed."""
    description = describe_model(model)
    return {
        "format": METADATA_FORMAT,
        **description,
        "kind": ModelSpec.from_description(description, description["outputs"][0]["name"]).kind,
        "normalization": "inside the model: raw band values in, (value - mean) / std per band (inputs' mean, std)",
        "dropout": [],
        "exported_by": {"rskeras": __version__, "keras": keras.__version__, "tensorflow": tf.__version__},
    }


def _input_signature(model: keras.Model) -> list:
    """Float32 specs named after the model's inputs, batch axis free, in the model's input structure."""
    def spec(tensor):
        return tf.TensorSpec((None, *tensor.shape[1:]), tf.float32, name=tensor.name)

    if isinstance(model.input, dict):
        return [{key: tf.TensorSpec((None, *t.shape[1:]), tf.float32, name=key) for key, t in model.input.items()}]
    return [keras.tree.map_structure(spec, model.input)]


def inference_model(model: keras.Model) -> keras.Model:
    """``model`` called with ``training=False`` explicitly, as a model with the same inputs and outputs.

    Keras' ONNX export calls the model without ``training``; a ``keras.layers.Resizing`` in the graph (the
    image pooling of DeepLabV3's ASPP) then leaks ``training=True`` through the call context into the batch
    normalisation after it, which normalises by the batch's statistics in the exported file (batch-dependent
    outputs, 0.05 from Keras on a small DeepLabV3). keras-team/keras#23166 (fixed after Keras 3.15), found
    in keras-team/keras-hub#2495. An explicit ``training=False`` on the call is kept by the functional graph.
    """
    inputs = keras.tree.map_structure(lambda t: keras.Input(t.shape[1:], dtype="float32", name=t.name), model.input)
    return keras.Model(inputs, model(inputs, training=False), name=model.name)


def _convert(model: keras.Model, path: Path, format: str, options: dict) -> None:  # noqa: A002
    """Keras' own export into ``path``; a converter failure becomes an :class:`ExportError` naming the layer."""
    wrapped = inference_model(model)
    kwargs = {"input_signature": _input_signature(wrapped), "verbose": False}
    if format == "litert":
        kwargs["target_spec"] = {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]}
    try:
        with _quiet_converters():
            wrapped.export(str(path), format=format, **kwargs, **options)
    except Exception as err:  # tf2onnx and the TFLite converter raise many types
        raise ExportError(_conversion_message(model, format, str(err))) from err


@contextlib.contextmanager
def _quiet_converters():
    """tf2onnx logs every graph rewrite at INFO, and Keras' NumPy 2 patch of tf2onnx warns about ``np.object``:
    keep errors only while converting."""
    logger = logging.getLogger("tf2onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def _conversion_message(model: keras.Model, format: str, text: str) -> str:  # noqa: A002
    """``format cannot hold model M: layer L (Class) ...`` with the converter's first line of error."""
    layer = layer_at_fault(model, text)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in text.splitlines()]
    reason = next((line for line in lines if line and not line.startswith(_KERAS_WRAPPING)), "no message")
    where = f"layer {layer}" if layer else "a layer the converter does not name"
    return (f"format {format!r} cannot hold model {model.name!r}: {where} does not convert "
            f"({reason[:400]}); nothing was written. Export another format (rskeras.export FORMATS: "
            f"{', '.join(FORMATS)}) or replace the layer")


def layer_at_fault(model: keras.Model, text: str) -> str | None:
    """The layer a converter's error ``text`` points at, as ``'name' (Class)``, or None.

    Converters name operations by their scope, ``model/layer/op`` (``pspnet_1/ppm_pool1_1/avg_pool``; Keras
    adds ``_<n>`` to scopes): the deepest scope that is a layer's name wins. Keras' own errors say
    ``when calling Class.call()``.
    """
    layers = {layer.name: type(layer).__name__ for layer in all_layers(model)}
    for scope_path in re.findall(r"[\w.-]+(?:/[\w.-]+)+", text):
        for scope in reversed(scope_path.split("/")):
            for name in (scope, re.sub(r"_\d+$", "", scope)):
                if name in layers and name != model.name:
                    return f"{name!r} ({layers[name]})"
    called = re.search(r"when calling (\w+)\.call\(\)", text)
    if called:
        names = [name for name, cls in layers.items() if cls == called.group(1)]
        return f"{names[0]!r} ({called.group(1)})" if len(names) == 1 else f"of class {called.group(1)} ({names})"
    return None


def _with_runtime_names(metadata: dict, runner: ExportedRunner, model_name: str) -> dict:
    """``metadata`` with each output's ``runtime_name``: the runtime's output of the same name, else the one at
    the same position (tf2onnx calls a single output ``Identity:0``, LiteRT ``output_0``)."""
    inputs_io, outputs_io = runner.runtime_io()
    runtime_inputs, runtime_outputs = [name for name, _ in inputs_io], [name for name, _ in outputs_io]
    inputs = [i["name"] for i in metadata["inputs"]]
    if sorted(runtime_inputs) != sorted(inputs):
        raise ExportError(f"the exported {model_name!r} takes inputs {runtime_inputs}, not the model's {inputs}")
    names = [o["name"] for o in metadata["outputs"]]
    if len(runtime_outputs) != len(names):
        raise ExportError(f"the exported {model_name!r} has outputs {runtime_outputs}, the model {names}")
    by_name = set(names) == set(runtime_outputs)
    outputs = [dict(o, runtime_name=o["name"] if by_name else runtime) for o, runtime in zip(metadata["outputs"],
                                                                                             runtime_outputs)]
    return dict(metadata, outputs=outputs)


def _embed(path: Path, format: str, metadata: dict) -> None:  # noqa: A002
    """Write ``metadata`` (JSON) into the file under :data:`METADATA_KEY`."""
    import json

    text = json.dumps(metadata)
    if format == "onnx":
        import onnx

        proto = onnx.load(str(path))
        del proto.metadata_props[:]
        proto.metadata_props.add(key=METADATA_KEY, value=text)
        onnx.save(proto, str(path))
        return
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(path.read_bytes()), 0)
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(text.encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = METADATA_KEY, len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_KEY.encode()] + [entry]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())


@dataclass
class ParityReport:
    """How closely an exported file reproduces Keras on real patches.

    Attributes:
        format: ``"onnx"`` or ``"litert"``.
        path: the exported file.
        items: what was compared, e.g. ``"8 patches of 32x32 px"`` or ``"8192 pixels"``.
        max_abs_diff: the largest ``|exported - keras|`` over every value of every output.
        per_output: that largest difference per output.
        scale: the largest ``|keras|`` value (probabilities: at most 1; values: the target's units).
        class_agreement: per classification output, the share of items (pixels for dense outputs) whose
            decoded class (:meth:`rskeras.tasks.Task.decode`) is the same.
        seconds: wall time of the exported runtime and of Keras on the same inputs.
    """

    format: str
    path: Path
    items: str
    max_abs_diff: float
    per_output: dict[str, float]
    scale: float
    class_agreement: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        agree = "".join(f"; classes of {k} agree on {v:.2%}" for k, v in self.class_agreement.items())
        return (f"{self.format} {self.path.name}: largest difference from Keras {self.max_abs_diff:.3g} on {self.items} "
                f"(outputs up to {self.scale:.3g}){agree}")


def parity(
    model: keras.Model | str | os.PathLike,
    exported: str | os.PathLike,
    raster,
    *,
    bands=None,
    sensor=None,
    n_patches: int = 8,
    patch_size: int = 64,
    seed: int = 0,
) -> ParityReport:
    """Run ``exported`` with its own runtime and ``model`` with Keras on the same patches of ``raster``.

    Args:
        model: the Keras model (or ``.keras`` file) that was exported.
        exported: the ``.onnx`` or ``.tflite`` file.
        raster: the raster to cut patches from; for several model inputs a list or dict of aligned rasters
            as for :func:`rskeras.predict_raster`, with ``bands`` and ``sensor`` as there.
        n_patches: patches drawn at random (``seed``) inside the raster; pixel models get their pixels.
        patch_size: the side of the patches for models that take any size (rounded up to the model's tile
            multiple); models with a fixed input size get that size.

    Returns:
        The :class:`ParityReport`.
    """
    model = load_model(model)
    runner = open_runner(exported)
    if not isinstance(runner, ExportedRunner):
        raise ValueError(f"{exported} is not an exported file ({', '.join(_RUNNERS)}: "
                         f"{', '.join(str(FORMATS[f]) for f in _RUNNERS)})")
    spec = ModelSpec.from_description(runner.description, runner.description["outputs"][0]["name"], runner.path)
    inputs, items = raster_patches(raster, spec, bands, sensor, n_patches, patch_size, seed)
    start = time.perf_counter()
    theirs = runner.run(inputs)
    middle = time.perf_counter()
    ours = _keras_outputs(model, inputs)
    end = time.perf_counter()
    diffs = {name: float(np.max(np.abs(theirs[name] - value))) for name, value in ours.items()}
    tasks = {o["name"]: o.get("task") for o in runner.description["outputs"]}
    agreement = {name: float(np.mean(get_task(tasks[name]).decode(ours[name]) == get_task(tasks[name]).decode(
        theirs[name]))) for name in ours if tasks.get(name) not in (None, "regression")}
    return ParityReport(runner.format, runner.path, items, max(diffs.values()), diffs,
                        float(max(np.max(np.abs(v)) for v in ours.values())), agreement,
                        {runner.format: middle - start, "keras": end - middle})


def raster_patches(raster, spec: ModelSpec, bands, sensor, n: int, size: int, seed: int) -> tuple[list, str]:
    """``n`` random patches of ``raster`` for the model ``spec`` describes, nodata filled as in prediction.

    Returns:
        ``(inputs, description)``: one float32 array per input, ``(n, size, size, bands)`` for image models or
        ``(n * size * size, bands)`` pixel vectors for pixel models.
    """
    paths, bands, sensors = input_rasters(raster, bands, sensor, spec.input_names)
    rng = np.random.default_rng(seed)
    with contextlib.ExitStack() as stack:
        sources = open_sources(stack, paths, spec.band_names, [s[-1] for s in spec.input_shapes], bands, sensors)
        ds = sources[0].dataset
        side = min(size, ds.height, ds.width)
        if spec.kind != "pixel":
            side = spec.input_shapes[0][0] or round_up(size, spec.probe.multiple)
        if side > min(ds.height, ds.width):
            raise ValueError(f"patches of {side} px do not fit in raster {paths[0]} ({ds.width}x{ds.height} px)")
        corners = [(int(rng.integers(0, ds.height - side + 1)), int(rng.integers(0, ds.width - side + 1)))
                   for _ in range(n)]
        patches = [np.stack([_filled(source, fill, row, col, side) for row, col in corners])
                   for source, fill in zip(sources, spec.fills)]
    if spec.kind == "pixel":
        return [p.reshape(-1, p.shape[-1]) for p in patches], f"{n * side * side} pixels"
    return patches, f"{n} patches of {side}x{side} px"


def _filled(source: Source, fill: np.ndarray, row: int, col: int, side: int) -> np.ndarray:
    """One ``(side, side, bands)`` window with nodata replaced by ``fill``."""
    values, invalid = source.read(Window(col, row, side, side))
    np.copyto(values, fill[:, None, None], where=invalid[None])
    return np.moveaxis(values, 0, -1)


def _keras_outputs(model: keras.Model, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Every output of ``model`` by name (as :func:`describe_model` names them), inference mode."""
    result = model(keras.tree.pack_sequence_as(model.input, inputs), training=False)
    if isinstance(result, dict):
        return {name: np.asarray(value, np.float32) for name, value in result.items()}
    values = result if isinstance(result, (list, tuple)) else [result]
    return {name: np.asarray(value, np.float32) for name, value in zip(output_names(model), values)}
