"""Deployment: SavedModel export for TF Serving / Vertex AI / Earth Engine, ONNX and LiteRT, and a REST client.

``export_saved_model`` writes ``saved_models/NAME/<version>/`` with a ``serving_default``
signature on float tensors and a ``serving_ee_examples`` signature on Earth Engine's
serialized tf.Example patches, and lists the model in ``saved_models/models.config``.
``rskeras.export(model, path, format=...)`` (:mod:`rskeras.serving.formats`) writes any of the three formats
and :func:`parity` checks an ONNX or LiteRT file against Keras on a real raster.
``Client`` talks to a running TF Serving over its REST API (standard library only).
Names are imported on first use, so ``from rskeras.serving import Client`` does not
load TensorFlow.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.serving.client": ["Client", "ServingError", "ServingTimeoutError"],
        "rskeras.serving.config": ["model_names", "update_models_config"],
        "rskeras.serving.export": ["existing_versions", "export_saved_model", "read_export_metadata"],
        "rskeras.serving.formats": ["FORMATS", "ExportError", "ParityReport", "parity"],
        "rskeras.serving.signatures": ["DEFAULT_SIGNATURE", "EE_EXAMPLES_SIGNATURE", "float_examples",
                                       "parse_float_examples"],
    },
)
