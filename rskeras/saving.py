"""Loading saved rskeras models.

Keras finds a custom layer in a ``.keras`` file only when the module defining it has
been imported. ``import rskeras`` stays light (pure-geo helpers never load TensorFlow),
so load models with :func:`load_model`, or import :mod:`rskeras.models` first (it
imports every rskeras layer) and call ``keras.saving.load_model``.
"""

from __future__ import annotations

import importlib
import os

#: Modules that define the Keras-serialisable rskeras objects (``rskeras>Name``).
SERIALIZABLE_MODULES = ("rskeras.activations", "rskeras.heads", "rskeras.layers", "rskeras.models")


def register_custom_objects() -> None:
    """Import every module that registers rskeras objects with Keras."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def load_model(path: str | os.PathLike, **kwargs):
    """``keras.saving.load_model`` with every rskeras layer, activation and model registered."""
    register_custom_objects()
    import keras

    return keras.saving.load_model(path, **kwargs)
