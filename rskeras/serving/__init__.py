"""Deployment: SavedModel export for TF Serving / Vertex AI / Earth Engine, ONNX and LiteRT, and a REST client.

``export_saved_model`` writes ``saved_models/NAME/<version>/`` with a ``serving_default``
signature on float tensors and one signature per payload format Earth Engine sends a hosted
model (``ee_payload_format=`` makes one of them the default and writes the ``ee.Model.fromVertexAi``
call and the gcloud commands beside it), and lists the model in ``saved_models/models.config``.
``check_ee_hosting`` replays Earth Engine's requests against an export and compares the answers
with ``predict_raster``.
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
        "rskeras.serving.ee_check": ["EeHostingReport", "HostingCheck", "check_ee_hosting"],
        "rskeras.serving.ee_hosting": ["EeHosting", "plan_ee_hosting"],
        "rskeras.serving.ee_payloads": ["EE_PAYLOAD_FORMATS"],
        "rskeras.serving.export": ["existing_versions", "export_saved_model", "read_export_metadata"],
        "rskeras.serving.formats": ["FORMATS", "ExportError", "ParityReport", "parity"],
        "rskeras.serving.signatures": ["DEFAULT_SIGNATURE", "EE_EXAMPLES_SIGNATURE", "float_examples",
                                       "parse_float_examples"],
    },
)
