"""Whole-scene inference: a model applied to rasters window by window, written as GeoTIFF.

``predict_raster`` and ``PredictionResult`` are imported on first use, so the
pure-geo helpers (:mod:`rskeras.inference.tiling`, ``windows``, ``sources``,
``outputs``, ``writer``) can be used without loading TensorFlow.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {"rskeras.inference.predict": ["PredictionResult", "predict_raster"]},
)
