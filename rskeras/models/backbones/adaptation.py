"""Pretrained weights for any number of bands: first-convolution adaptation, saving and loading by layer name.

Weights files rskeras reads:

* HDF5 keyed by layer name: what :func:`save_weights` writes, and the layout of
  keras.applications' ImageNet files (root attribute ``layer_names``, one group per
  layer with the attribute ``weight_names``).
* Keras' own ``model.save_weights`` files (``.weights.h5``), which Keras keys by
  layer order and class, not by name: these load only into a :class:`keras.Model`
  built the same way (any band count).

Only the convolution that reads the image bands may differ in shape between file
and model; its kernel is adapted with :func:`adapt_first_conv_kernel`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import h5py
import keras
import numpy as np

from rskeras.io import atomic_path
from rskeras.models.backbones.construction import ImagenetWeights


class PretrainedWeightsError(OSError):
    """Pretrained weights could not be obtained (e.g. no network to download them)."""


def adapt_first_conv_kernel(kernel: np.ndarray, n_bands: int) -> np.ndarray:
    """Adapt a first-convolution kernel trained on ``c`` bands (RGB: 3) to ``n_bands``.

    For ``n_bands > c`` the extra bands get the mean of the ``c`` band kernels;
    for ``n_bands < c`` every band gets that mean. The kernel is then scaled by
    ``c / n_bands`` so that, for bands of similar values, the convolution's output
    keeps its scale.

    Args:
        kernel: ``(kh, kw, c, filters)``.
        n_bands: the band count of the new model.

    Returns:
        ``(kh, kw, n_bands, filters)``, the dtype of ``kernel``.
    """
    kernel = np.asarray(kernel)
    if kernel.ndim != 4:
        raise ValueError(f"expected a (kh, kw, bands, filters) kernel, got shape {kernel.shape}")
    if n_bands < 1:
        raise ValueError(f"n_bands must be at least 1, got {n_bands}")
    c = kernel.shape[2]
    if n_bands == c:
        return kernel.copy()
    mean = kernel.mean(axis=2, keepdims=True)
    if n_bands > c:
        adapted = np.concatenate([kernel, np.repeat(mean, n_bands - c, axis=2)], axis=2)
    else:
        adapted = np.repeat(mean, n_bands, axis=2)
    return (adapted * (c / n_bands)).astype(kernel.dtype)


def _weighted_layers(target: keras.Model | Iterable[keras.layers.Layer]) -> list[keras.layers.Layer]:
    """The layers of a model (nested models flattened) or a list of layers, those holding weights."""
    layers = []
    for layer in (target.layers if isinstance(target, keras.Model) else target):
        if isinstance(layer, keras.Model):
            layers.extend(_weighted_layers(layer))
        elif layer.weights:
            layers.append(layer)
    return layers


def save_weights(target: keras.Model | Iterable[keras.layers.Layer], path: str | os.PathLike) -> Path:
    """Write the weights of a model (or of some layers) to HDF5, keyed by layer name.

    The file loads with :func:`load_weights` into models with other band counts
    and into other models that share the layers' names (e.g. a U-Net on the
    backbone of a saved classifier). Any file name works; ``.weights.h5`` is usual.
    The file is written to a temporary name beside ``path`` and renamed when complete.
    """
    path = Path(path)
    layers = _weighted_layers(target)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
        f.attrs["backend"] = keras.backend.backend().encode()
        f.attrs["keras_version"] = keras.__version__.encode()
        for layer in layers:
            group = f.create_group(layer.name)
            names = [f"{i}_{w.name}" for i, w in enumerate(layer.weights)]
            group.attrs["weight_names"] = np.array([n.encode() for n in names])
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name, data=value)
    return path


def _snake_case(name: str) -> str:
    """Keras' naming of saved objects (``keras.src.utils.naming.to_snake_case``)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _native_paths(model: keras.Model, base: str = "layers") -> dict[str, str]:
    """Layer name -> its group in a Keras ``model.save_weights`` file (keyed by class and order)."""
    used: dict[str, int] = {}
    paths = {}
    for layer in model.layers:
        key = _snake_case(type(layer).__name__)
        if key in used:
            used[key] += 1
            key = f"{key}_{used[key]}"
        else:
            used[key] = 0
        if isinstance(layer, keras.Model):
            paths.update(_native_paths(layer, f"{base}/{key}/layers"))
        else:
            paths[layer.name] = f"{base}/{key}/vars"
    return paths


def _read_file(path: Path, target, layers: list[keras.layers.Layer], strip_prefix: str | None):
    """Layer name -> arrays from ``path``, for the layers found there; and the names not found."""
    found, missing = {}, []
    with h5py.File(path, "r") as f:
        if "layer_names" in f.attrs:
            names = {n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]}
            for layer in layers:
                key = layer.name
                if key not in names and strip_prefix and key.startswith(strip_prefix):
                    key = key[len(strip_prefix):]
                if key not in names:
                    missing.append(layer.name)
                    continue
                group = f[key]
                found[layer.name] = [np.asarray(group[w]) for w in group.attrs["weight_names"]]
        elif "layers" in f:
            if not isinstance(target, keras.Model):
                raise ValueError(
                    f"{path} is a Keras model.save_weights file, keyed by layer order rather than name; load "
                    "it into the whole model with rskeras.models.backbones.load_weights(model, path), or "
                    "write it with rskeras.models.backbones.save_weights to load it into a backbone"
                )
            paths = _native_paths(target)
            for layer in layers:
                group = f.get(paths.get(layer.name, ""))
                if group is None or len(group) != len(layer.weights):
                    missing.append(layer.name)
                    continue
                found[layer.name] = [np.asarray(group[str(i)]) for i in range(len(group))]
        else:
            raise ValueError(f"{path} is neither a Keras weights file nor one keyed by layer name")
    return found, missing


def load_weights(
    target: keras.Model | Iterable[keras.layers.Layer],
    path: str | os.PathLike,
    *,
    first_conv: str | None = None,
    strip_prefix: str | None = None,
    skip_missing: bool = False,
) -> list[str]:
    """Load weights into a model (or a list of layers), adapting the first convolution to the band count.

    Args:
        target: a model (nested models included) or the layers of a backbone.
        path: a file from :func:`save_weights`, a keras.applications HDF5 file, or
            a Keras ``model.save_weights`` file (then ``target`` must be the whole model).
        first_conv: the layer whose kernel may differ in its band axis; default
            the first ``Conv2D`` of ``target``.
        strip_prefix: a layer not found under its own name is looked up without
            this prefix (``"resnet50_"`` for keras.applications files).
        skip_missing: leave layers the file lacks as they are instead of raising.

    Returns:
        The names of the layers loaded.

    Raises:
        ValueError: a layer is missing from the file (unless ``skip_missing``) or a
            weight other than the first convolution's kernel differs in shape.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} not found")
    layers = _weighted_layers(target)
    if first_conv is None:
        first_conv = next((layer.name for layer in layers if isinstance(layer, keras.layers.Conv2D)), None)
    found, missing = _read_file(path, target, layers, strip_prefix)
    if missing and not skip_missing:
        raise ValueError(
            f"{len(missing)} layer(s) of the model are not in {path}: {missing[:8]}"
            f"{' ...' if len(missing) > 8 else ''}; found {len(found)} layer(s) by name"
        )
    by_name = {layer.name: layer for layer in layers}
    updates = {}
    for name, arrays in found.items():
        layer = by_name[name]
        current = layer.get_weights()
        if len(arrays) != len(current):
            raise ValueError(f"layer {name!r} holds {len(current)} weights, {path} has {len(arrays)} for it")
        new = []
        for i, (value, now) in enumerate(zip(arrays, current)):
            if value.shape != now.shape:
                bands_only = (name == first_conv and i == 0 and value.ndim == 4
                              and value.shape[:2] + value.shape[3:] == now.shape[:2] + now.shape[3:])
                if not bands_only:
                    raise ValueError(
                        f"weight {i} of layer {name!r} has shape {now.shape} in the model but {value.shape} "
                        f"in {path}; only the first convolution ({first_conv!r}) may differ, in its band axis"
                    )
                value = adapt_first_conv_kernel(value, now.shape[2])
            new.append(value)
        updates[name] = new
    for name, values in updates.items():
        by_name[name].set_weights(values)
    return list(updates)


def keras_cache_path(filename: str) -> Path:
    """Where ``keras.utils.get_file(..., cache_subdir="models")`` keeps ``filename``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models" / filename


def imagenet_weights_file(imagenet: ImagenetWeights, backbone: str) -> Path:
    """The local path of a backbone's ImageNet weights, downloaded by Keras when not cached.

    Raises:
        PretrainedWeightsError: the download failed (e.g. no network); the message
            says which file to fetch from where and where to put it.
    """
    try:
        return Path(keras.utils.get_file(imagenet.filename, imagenet.origin, cache_subdir="models",
                                         file_hash=imagenet.file_hash))
    except Exception as err:  # keras raises a bare Exception for network errors
        raise PretrainedWeightsError(
            f"could not get the ImageNet weights of {backbone!r} ({type(err).__name__}: {err}). "
            f"Download {imagenet.origin} on a machine with network access and put it at "
            f"{keras_cache_path(imagenet.filename)} (the Keras cache, $KERAS_HOME/models when KERAS_HOME "
            f"is set), or pass weights='/path/to/{imagenet.filename}'"
        ) from err
