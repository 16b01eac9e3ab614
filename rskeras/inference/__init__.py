"""Whole-scene inference: a model applied to rasters window by window, written as GeoTIFF.

``predict_raster`` and ``PredictionResult`` are imported on first use, so the
pure-geo helpers (:mod:`rskeras.inference.tiling`, ``windows``, ``sources``,
``outputs``, ``writer``) can be used without loading TensorFlow.
"""

from __future__ import annotations

import importlib

__all__ = ["PredictionResult", "predict_raster"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("rskeras.inference.predict"), name)
    raise AttributeError(f"module 'rskeras.inference' has no attribute {name!r}")


def __dir__():
    return __all__
