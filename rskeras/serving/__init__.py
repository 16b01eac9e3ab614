"""Deployment: SavedModel export for TF Serving / Vertex AI / Earth Engine, and a REST client.

``export_saved_model`` writes ``saved_models/NAME/<version>/`` with a ``serving_default``
signature on float tensors and a ``serving_ee_examples`` signature on Earth Engine's
serialized tf.Example patches, and lists the model in ``saved_models/models.config``.
``Client`` talks to a running TF Serving over its REST API (standard library only).
Names are imported on first use, so ``from rskeras.serving import Client`` does not
load TensorFlow.
"""

from __future__ import annotations

import importlib

# public name -> module that defines it
_EXPORTS = {
    "Client": "rskeras.serving.client",
    "ServingError": "rskeras.serving.client",
    "ServingTimeoutError": "rskeras.serving.client",
    "model_names": "rskeras.serving.config",
    "update_models_config": "rskeras.serving.config",
    "existing_versions": "rskeras.serving.export",
    "export_saved_model": "rskeras.serving.export",
    "read_export_metadata": "rskeras.serving.export",
    "DEFAULT_SIGNATURE": "rskeras.serving.signatures",
    "EE_EXAMPLES_SIGNATURE": "rskeras.serving.signatures",
    "float_examples": "rskeras.serving.signatures",
    "parse_float_examples": "rskeras.serving.signatures",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'rskeras.serving' has no attribute {name!r}")


def __dir__():
    return __all__
