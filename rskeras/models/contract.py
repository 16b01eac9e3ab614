"""The builder contract: the arguments every builder of :mod:`rskeras.models` takes, and the pieces they share.

Every builder has the same leading signature, everything after ``input_shape`` keyword-only::

    builder(input_shape, *, task=..., n_outputs=None, class_names=None, band_names=None,
            band_stats=None, weights=None, name=None, **family_options)

* ``input_shape``: ``(bands,)`` for pixel models, ``(height, width, bands)`` for images, a dict
  ``{input name: shape}`` for models with several inputs (M3Net).
* ``task``: a name of :data:`rskeras.tasks.TASKS`; the number of outputs follows
  :func:`default_outputs` (``n_outputs``, else 1 for regression and binary, else
  ``len(class_names)``).
* ``class_names``, ``band_names``: stored in the model (:func:`rskeras.models.model_metadata`).
* ``band_stats``: per-band statistics in raw units for the normalisation inside the model: a
  ``(mean, std)`` pair or a :class:`rskeras.data.BandStats` (see :func:`resolve_band_stats`); the
  value ranges a ``BandStats`` holds become the model's input contract
  (:mod:`rskeras.layers.input_contract`).
  Multi-input models take ``band_names`` and ``band_stats`` as dicts keyed like ``input_shape``.
* ``weights``: None, ``"imagenet"`` (families on a backbone that has them) or a weights file.
* ``name``: the model's name (None: the family's default).

Family options have one meaning each across families: ``filters`` (int) is the channel count of
the first level, doubling per level (U-Net, M3Net); ``widths`` (list) is the channel count per
stage, its length the depth (CNN, compact ResNet); ``<part>_filters`` (int) is the channel count
of a named part (``stem_filters``, ``pyramid_filters``, ``head_filters``, ``aspp_filters``);
``hidden`` (list) the units of the fully connected layers before the output (ANN, CNN);
``depth`` the number of downsampling levels; ``dropout`` a rate (0 for none).
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, Union

import keras

from rskeras.data.ee_records.stats import BandStats
from rskeras.layers.input_contract import BandRanges
from rskeras.layers.normalization import BandNormalization
from rskeras.tasks import get_task

#: The arguments every builder takes, in signature order.
CONTRACT_ARGUMENTS = ("input_shape", "task", "n_outputs", "class_names", "band_names", "band_stats", "weights",
                      "name")

#: Per-band ``(mean, std)`` in the raw units of the input.
MeanStd = tuple[Sequence[float], Sequence[float]]
#: What ``band_stats=`` accepts: a ``(mean, std)`` pair or a :class:`rskeras.data.BandStats`.
BandStatsArgument = Union[MeanStd, BandStats]
Weights = Union[str, os.PathLike, None]

Builder = TypeVar("Builder", bound=Callable[..., keras.Model])


def builder_contract(
    renamed: Mapping[str, str] | None = None,
    legacy: Callable[[tuple, dict], tuple[tuple, dict]] | None = None,
) -> Callable[[Builder], Builder]:
    """Decorate a builder: only ``input_shape`` by position, and old option names still accepted.

    Args:
        renamed: deprecated option name -> its new name; an old name is passed on under the new
            one with a :class:`DeprecationWarning`. The mapping is kept as ``builder.renamed_options``
            (the training configuration accepts the old names too).
        legacy: turns a call in a deprecated form into ``(args, kwargs)`` of the contract (and
            warns); returns other calls unchanged. Runs first.

    The decorated builder keeps its signature (``inspect.signature`` follows ``__wrapped__``).
    """
    renamed = dict(renamed or {})

    def decorate(builder: Builder) -> Builder:
        @functools.wraps(builder)
        def wrapper(*args, **kwargs):
            if legacy is not None:
                args, kwargs = legacy(args, kwargs)
            if len(args) > 1:
                raise TypeError(
                    f"{builder.__name__}() takes input_shape as its only positional argument, got {len(args)}; "
                    f"pass the others by keyword (task=..., n_outputs=..., ...)"
                )
            return builder(*args, **_rename(builder.__name__, kwargs, renamed))

        wrapper.renamed_options = renamed
        return wrapper  # type: ignore[return-value]

    return decorate


def _rename(builder: str, kwargs: dict[str, Any], renamed: Mapping[str, str]) -> dict[str, Any]:
    for old, new in renamed.items():
        if old not in kwargs:
            continue
        if new in kwargs:
            raise TypeError(f"{builder}() got {old!r} and {new!r}; {old!r} is the deprecated name of {new!r}")
        warnings.warn(f"{builder}({old}=...) is deprecated; use {new}=", DeprecationWarning, stacklevel=3)
        kwargs[new] = kwargs.pop(old)
    return kwargs


def default_outputs(task: str, n_outputs: int | None = None, class_names: Sequence[str] | None = None) -> int:
    """The one rule for the number of outputs of a builder.

    ``n_outputs`` when given; else 1 for ``"regression"`` and ``"binary"`` (a binary model has one
    sigmoid output; its two class names name the negative and the positive class); else
    ``len(class_names)``.

    Raises:
        ValueError: ``"multiclass"`` or ``"multilabel"`` without ``class_names`` or ``n_outputs``.
    """
    spec = get_task(task)
    if n_outputs is not None:
        return int(n_outputs)
    if spec.name in ("regression", "binary"):
        return 1
    if class_names is not None:
        return len(class_names)
    raise ValueError(f"task {spec.name!r} needs the number of classes: give class_names=[...] or n_outputs=")


def resolve_band_stats(
    band_stats: BandStatsArgument | None,
    band_names: Sequence[str] | None,
    n_bands: int,
    where: str = "image",
) -> tuple[list[float] | None, list[float] | None, list[str] | None, BandRanges | None]:
    """``(mean, std, band_names, value_ranges)`` for an input of ``n_bands`` bands.

    Args:
        band_stats: None (identity), a ``(mean, std)`` pair of ``n_bands`` values each (no ranges), or
            a :class:`rskeras.data.BandStats`: its ``band_names`` bands when those are given and it
            names its bands, else all its bands (whose names, if any, then become the band names).
        band_names: names of the input's bands, or None.
        n_bands: the input's band count.
        where: the input's name, for error messages.

    Raises:
        ValueError: counts that do not match ``n_bands``, or band names the statistics lack.
    """
    if band_stats is None:
        return None, None, _names(band_names, n_bands, where), None
    ranges = None
    if isinstance(band_stats, BandStats):
        if band_names is not None and band_stats.bands:
            try:
                band_stats = band_stats.select(list(band_names))
            except KeyError as err:
                raise ValueError(f"input {where!r}: {err.args[0]}") from None
        band_names = list(band_stats.bands) or band_names
        mean, std, ranges = list(band_stats.mean), list(band_stats.std), band_stats.ranges
    else:
        if len(band_stats) != 2:
            raise ValueError(f"input {where!r}: band_stats must be (mean, std) or a BandStats, "
                             f"got {len(band_stats)} items")
        mean, std = [float(v) for v in band_stats[0]], [float(v) for v in band_stats[1]]
    if len(mean) != n_bands or len(std) != n_bands:
        raise ValueError(f"input {where!r} has {n_bands} bands but band_stats holds {len(mean)} means and "
                         f"{len(std)} standard deviations (a BandStats picks its bands by band_names=)")
    return mean, std, _names(band_names, n_bands, where), ranges


def _names(band_names: Sequence[str] | None, n_bands: int, where: str) -> list[str] | None:
    if band_names is not None and len(band_names) != n_bands:
        raise ValueError(f"input {where!r} has {n_bands} bands but {len(band_names)} band names: {list(band_names)}")
    return None if band_names is None else [str(b) for b in band_names]


def image_input(
    input_shape: int | Sequence[int | None],
    *,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    name: str = "image",
    prefix_normalization: bool = False,
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The model input and its per-band normalisation (raw values in, float32 normalised values out).

    Args:
        input_shape: ``(height, width, bands)`` (height and width may be None where the builder
            allows it) or ``(bands,)`` for pixel vectors.
        band_names: names of the bands, stored in the model.
        band_stats: see :func:`resolve_band_stats`; None gives the identity.
        name: the input's name.
        prefix_normalization: name the normalisation ``{name}_band_normalization`` (for models
            with several inputs); otherwise ``band_normalization``. Without statistics
            ``_UNADAPTED_identity`` is appended, so ``model.summary()`` says so.

    Returns:
        ``(inputs, x)``: the ``keras.Input`` and the normalised tensor of the same shape.
    """
    shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
    if len(shape) not in (1, 3) or shape[-1] is None or shape[-1] < 1:
        raise ValueError(f"input {name!r}: input_shape must be (height, width, bands) or (bands,) with a known "
                         f"band count, got {input_shape!r}")
    mean, std, band_names, ranges = resolve_band_stats(band_stats, band_names, int(shape[-1]), name)
    layer_name = "band_normalization" if mean is not None else "band_normalization_UNADAPTED_identity"
    if prefix_normalization:
        layer_name = f"{name}_{layer_name}"
    inputs = keras.Input(shape, name=name)
    norm = BandNormalization(mean, std, band_names=band_names, value_ranges=ranges, name=layer_name)
    return inputs, norm(inputs)


def per_input(value: Mapping[str, Any] | None, inputs: Sequence[str], argument: str) -> dict[str, Any]:
    """``{input: value}`` for every input of a multi-input model (None where not given).

    Raises:
        ValueError: ``value`` is not a mapping, or names an input the model does not have.
    """
    if value is None:
        return dict.fromkeys(inputs)
    if not isinstance(value, Mapping):
        raise ValueError(f"{argument} must be a dict keyed by input name ({', '.join(inputs)}), got {value!r}")
    unknown = sorted(set(value) - set(inputs))
    if unknown:
        raise ValueError(f"{argument} names unknown input(s) {unknown}; the inputs are {', '.join(inputs)}")
    return {key: value.get(key) for key in inputs}


def static_size(input_shape: Sequence[int | None], model: str, multiple: int = 1) -> tuple[int, int]:
    """``(height, width)`` of ``input_shape``; raises unless both are known multiples of ``multiple``."""
    height, width = input_shape[0], input_shape[1]
    if height is None or width is None:
        raise ValueError(f"{model} needs a fixed input height and width, got input_shape={tuple(input_shape)}")
    if height % multiple or width % multiple:
        raise ValueError(f"{model}: input height and width must be multiples of {multiple}, got {height}x{width}")
    return int(height), int(width)


def load_model_weights(model: keras.Model, weights: Weights) -> keras.Model:
    """Load ``weights`` (None or a weights file) into a model that has no pretrained backbone.

    The file is one :func:`rskeras.models.save_weights` or Keras' ``model.save_weights`` wrote
    from the same architecture; the first convolution adapts to another band count
    (:func:`rskeras.models.backbones.load_weights`).

    Raises:
        ValueError: ``weights="imagenet"``: only families on a backbone have ImageNet weights.
    """
    if weights is None:
        return model
    if weights == "imagenet":
        raise ValueError(f"{model.name!r} has no ImageNet weights (no pretrained backbone); give weights= the path "
                         "of a weights file (rskeras.models.save_weights) or None")
    from rskeras.models.backbones import load_weights

    load_weights(model, weights)
    return model
