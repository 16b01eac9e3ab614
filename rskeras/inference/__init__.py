"""Whole-scene inference: a model applied to rasters window by window, written as GeoTIFF; maps back to vectors.

``predict_raster`` takes a Keras model or an exported ONNX / LiteRT file (:mod:`rskeras.inference.model_spec`);
``validate_cog`` checks a Cloud-Optimised GeoTIFF. Names are imported on first use, so the
pure-geo helpers (:mod:`rskeras.inference.tiling`, ``windows``, ``sources``,
``outputs``, ``writer``, and ``vectorize`` / ``class_areas`` of :mod:`rskeras.inference.vectors`)
can be used without loading TensorFlow.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {"rskeras.inference.predict": ["PredictionResult", "predict_raster"],
     "rskeras.inference.cog": ["validate_cog"],
     "rskeras.inference.vectors": ["VectorizeResult", "class_areas", "vectorize"]},
)
