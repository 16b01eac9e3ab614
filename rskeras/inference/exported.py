"""Runners for exported model files: ONNX through onnxruntime, LiteRT through its interpreter.

Each is a :class:`~rskeras.inference.model_spec.Runner`, so ``predict_raster("model.onnx", ...)`` maps a
scene with the same loops as a Keras model, on a machine without TensorFlow. The model's description
(inputs with band names and normalisation, outputs with task and class names, kind, tile probe) is the JSON
:func:`rskeras.export` wrote into the file under the key :data:`METADATA_KEY`: ONNX ``metadata_props``,
LiteRT a ``metadata`` entry of the flatbuffer. A file without it (exported by other tools) is described
from its inputs and outputs alone: no band names, no task (values are written as they come), no tile
multiple.

onnxruntime and ai-edge-litert are the ``export`` extra of rskeras (``pip install rskeras[export]``).
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

import numpy as np

from rskeras.inference.model_spec import ModelSpec, choose_output

METADATA_KEY = "rskeras"
METADATA_FORMAT = "rskeras-export/1"


def _require(module: str, package: str):
    """Import an optional runtime, or say which package to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"running this file needs {package}: pip install {package} "
                          "(or rskeras[export])") from err


class ExportedRunner:
    """A model file run by its own runtime: ``run`` computes every output, ``__call__`` the chosen one.

    Args:
        path: the file.
        output: the output to compute of a multi-output model.

    Attributes:
        path: the file.
        description: the model's description (:meth:`ModelSpec.from_description`).
        spec: what ``predict_raster`` needs to know of the chosen output (an error listing the outputs when a
            multi-output model's output was not chosen).
    """

    format = ""

    def __init__(self, path: str | os.PathLike, output: str | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"model file {self.path} does not exist")
        self._open()
        self.description = self._metadata() or self._describe_from_runtime()
        self.output = output
        if output is not None:  # an unknown output is an error now, naming the outputs
            choose_output(self.description["name"], [o["name"] for o in self.description["outputs"]], output)

    @functools.cached_property
    def spec(self) -> ModelSpec:
        return ModelSpec.from_description(self.description, self.output, source=self.path)

    def _open(self) -> None:
        raise NotImplementedError

    def _metadata(self) -> dict | None:
        """The rskeras metadata the file holds, or None."""
        raise NotImplementedError

    def runtime_io(self) -> tuple[list[tuple[str, list]], list[tuple[str, list]]]:
        """``(inputs, outputs)`` as the runtime lists them: ``(name, shape with the batch axis)``, None for free."""
        raise NotImplementedError

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One call of the runtime: input name -> array in, runtime output name -> array out."""
        raise NotImplementedError

    def _describe_from_runtime(self) -> dict:
        """A description from the file's inputs and outputs alone (no band names, task or probe)."""
        inputs, outputs = self.runtime_io()
        return {"name": self.path.name,
                "inputs": [{"name": name, "shape": shape[1:], "band_names": None, "mean": None, "std": None}
                           for name, shape in inputs],
                "outputs": [{"name": name, "runtime_name": name, "shape": shape[1:], "task": None,
                             "class_names": None} for name, shape in outputs]}

    def run(self, inputs: list[np.ndarray]) -> dict[str, np.ndarray]:
        """Every output for ``inputs`` (one float32 array per input, in ``spec.input_names`` order), by name."""
        names = [i["name"] for i in self.description["inputs"]]
        feeds = {name: np.ascontiguousarray(x, np.float32) for name, x in zip(names, inputs)}
        raw = self._run(feeds)
        return {o["name"]: np.asarray(raw[o.get("runtime_name", o["name"])], np.float32)
                for o in self.description["outputs"]}

    def __call__(self, inputs: list[np.ndarray], batch_size: int, stochastic: bool = False) -> np.ndarray:
        """The chosen output for ``inputs``, ``batch_size`` items per call (the runner interface)."""
        if stochastic:
            raise ValueError(f"{self.path} runs in inference mode only: its dropout cannot be switched on")
        n = len(inputs[0])
        output = self.spec.output_name
        parts = [self.run([x[start:start + batch_size] for x in inputs])[output]
                 for start in range(0, n, batch_size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def decoding(self) -> None:
        """None: the file runs the graph it was exported with, so ``predict_raster`` decodes its probabilities."""
        return None


class OnnxRunner(ExportedRunner):
    """An ``.onnx`` file run by onnxruntime (CPU)."""

    format = "onnx"

    def _open(self) -> None:
        ort = _require("onnxruntime", "onnxruntime")
        try:
            self.session = ort.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own exception types
            raise ValueError(f"onnxruntime cannot load {self.path}: {err}") from err

    def _metadata(self) -> dict | None:
        text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        return json.loads(text) if text else None

    def runtime_io(self):
        def listing(items):
            return [(item.name, [d if isinstance(d, int) else None for d in item.shape]) for item in items]

        return listing(self.session.get_inputs()), listing(self.session.get_outputs())

    def _run(self, feeds):
        names = [o.name for o in self.session.get_outputs()]
        return dict(zip(names, self.session.run(names, feeds)))


class LiteRTRunner(ExportedRunner):
    """A ``.tflite`` file run by the LiteRT interpreter (``ai_edge_litert``), through its serving signature."""

    format = "litert"

    def _open(self) -> None:
        interpreter = _require("ai_edge_litert.interpreter", "ai-edge-litert")
        try:
            self.interpreter = interpreter.Interpreter(model_path=str(self.path))
            self.signature = self.interpreter.get_signature_runner()
        except Exception as err:  # the interpreter raises RuntimeError / ValueError
            raise ValueError(f"LiteRT cannot load {self.path}: {err}") from err

    def _metadata(self) -> dict | None:
        return litert_metadata(self.path.read_bytes())

    def runtime_io(self):
        def listing(details):
            return [(name, [None if d < 0 else int(d) for d in item["shape_signature"]])
                    for name, item in details.items()]

        return listing(self.signature.get_input_details()), listing(self.signature.get_output_details())

    def _run(self, feeds):
        return self.signature(**feeds)


def litert_metadata(model: bytes) -> dict | None:
    """The rskeras metadata of a LiteRT flatbuffer (its ``metadata`` entry :data:`METADATA_KEY`), or None."""
    schema = _require("ai_edge_litert.schema_py_generated", "ai-edge-litert")
    root = schema.Model.GetRootAs(model, 0)
    for i in range(root.MetadataLength()):
        entry = root.Metadata(i)
        if entry.Name() == METADATA_KEY.encode():
            return json.loads(root.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None
