"""Loading saved rskeras models.

Keras finds a custom layer in a ``.keras`` file only when the module defining it has
been imported. ``import rskeras`` stays light (pure-geo helpers never load TensorFlow,
packages import their modules on first use), so load models with :func:`load_model`,
which imports every module in :data:`SERIALIZABLE_MODULES` first.
"""

from __future__ import annotations

import importlib
import os
import zipfile

#: Every module that defines Keras-serialisable rskeras objects (``rskeras>Name``);
#: ``tests/test_public_names.py`` checks that the list is complete.
SERIALIZABLE_MODULES = (
    "rskeras.activations",
    "rskeras.heads",
    "rskeras.layers.batch_normalization",
    "rskeras.layers.normalization",
    "rskeras.layers.resize",
    "rskeras.losses",
    "rskeras.models.m3net.m3net_training",
    "rskeras.models.pspnet.pspnet_layers",
    "rskeras.training.budget",
    "rskeras.training.progressive",
)


def register_custom_objects() -> None:
    """Import every module that registers rskeras objects with Keras."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def load_model(path: str | os.PathLike, **kwargs):
    """``keras.saving.load_model`` with every rskeras layer, activation and model registered.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is not a complete ``.keras`` file (Keras itself says "File not found").
    """
    if "://" not in os.fspath(path):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"model file {path} does not exist")
        if os.fspath(path).endswith(".keras") and not zipfile.is_zipfile(path):
            raise ValueError(f"model file {path} is not a Keras model (a .keras file is a zip archive); "
                             "it may be cut short or not a model at all")
    register_custom_objects()
    import keras

    return keras.saving.load_model(path, **kwargs)
