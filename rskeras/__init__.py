"""rskeras: deep learning on satellite imagery with Keras and TensorFlow.

Importing rskeras first sets TensorFlow's environment defaults (oneDNN on, quiet
C++ logs; see :mod:`rskeras._env`). Sub-packages are imported on first use, so
``import rskeras`` stays cheap and pure-geo helpers never load TensorFlow.
"""

from __future__ import annotations

import importlib

from rskeras._env import configure_tensorflow_env

configure_tensorflow_env()

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "predict_raster": "rskeras.inference",
    "export_saved_model": "rskeras.serving",
    "load_model": "rskeras.saving",
    "model_metadata": "rskeras.models.metadata",
    "TASKS": "rskeras.tasks",
    "get_task": "rskeras.tasks",
}
_SUBPACKAGES = {
    "activations", "data", "evaluation", "heads", "inference", "layers", "models", "serving", "tasks", "training",
    "workflows",
}

__all__ = sorted(_EXPORTS) + sorted(_SUBPACKAGES)


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"rskeras.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rskeras' has no attribute {name!r}")


def __dir__():
    return __all__
