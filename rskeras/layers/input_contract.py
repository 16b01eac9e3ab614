"""The input contract of a model: the bands and the value ranges it was trained on, checked where data comes in.

NumPy only (no TensorFlow), so the serving client checks requests without loading it.

A model's :class:`~rskeras.layers.BandNormalization` holds, per band, the range of the training
values (:class:`BandRanges`, raw units). Before predicting, ``predict_raster``, ``predict_ee_export``
and :class:`rskeras.serving.Client` pass a small sample of what they are given (a few windows
of the scene, the first patches of the export, the request) to :func:`check_inputs`:

* bands fed under names other than the model's, in its order, are refused with a
  :class:`~rskeras.data.rasters.BandError` naming both lists (another order of the same bands
  included);
* a band whose values lie **far** outside its training range gets an :class:`InputRangeWarning`
  naming the source, the band, the training range and the scene's values. With ``low``/``high``
  the training values' 0.5th/99.5th percentiles and ``width = high - low``, far is either

  1. the sample's median more than one ``width`` beyond the range (``median < low - width`` or
     ``median > high + width``), e.g. raw 0-10,000 values fed to a model trained on 0-1 reflectance; or
  2. the median below ``low`` and within a hundredth of the range's largest magnitude of zero
     (``|median| < max(|low|, |high|) / 100``), e.g. 0-1 reflectance fed to a model trained on
     0-10,000, or 0-1 values to a model trained on 8-bit 0-255 digital numbers.

  Both look at the median, so fill values in up to half the sample (an export's nodata) do not hide
  a fault.

  A band is not judged when its training range has no width (a constant band) or its sample holds
  fewer than two distinct values (a filled or masked area, a single pixel). Models saved without
  ranges are not checked.

A deliberate case (another sensor on purpose) is silenced with
``warnings.filterwarnings("ignore", category=rskeras.layers.InputRangeWarning)``.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The percentiles of the training values that bound a band's range (``BandRanges.low``, ``.high``).
RANGE_PERCENTILES = (0.5, 99.5)
#: Where an export written by :func:`rskeras.export_saved_model` keeps its metadata, the contract among it.
EXPORT_METADATA = "assets.extra/rskeras.json"


class InputRangeWarning(UserWarning):
    """Values fed to a model lie far outside the range of its training values (see the module's rules)."""


@dataclass(frozen=True)
class BandRanges:
    """Per band, the range of the training values in raw units, each a tuple of one value per band.

    Attributes:
        low, high: the 0.5th and 99.5th percentiles (:data:`RANGE_PERCENTILES`).
        minimum, maximum: the smallest and largest value.
    """

    low: tuple[float, ...]
    high: tuple[float, ...]
    minimum: tuple[float, ...]
    maximum: tuple[float, ...]

    def __post_init__(self):
        lengths = {len(self.low), len(self.high), len(self.minimum), len(self.maximum)}
        if len(lengths) != 1:
            raise ValueError(f"value ranges need one low, high, min and max per band, got {self.to_json()}")

    def __len__(self) -> int:
        return len(self.low)

    def select(self, indexes: Sequence[int]) -> "BandRanges":
        """The ranges of the bands at ``indexes`` (0-based), in that order."""
        return BandRanges(*(tuple(values[i] for i in indexes) for values in self._columns()))

    def to_json(self) -> dict[str, list[float]]:
        """``{"low": [...], "high": [...], "min": [...], "max": [...]}``, as stored in configs and JSON files."""
        return {key: [float(v) for v in values] for key, values in zip(("low", "high", "min", "max"), self._columns())}

    @classmethod
    def from_json(cls, data: Mapping[str, Sequence[float]]) -> "BandRanges":
        """The inverse of :meth:`to_json`; raises ValueError naming missing keys."""
        missing = [key for key in ("low", "high", "min", "max") if key not in data]
        if missing:
            raise ValueError(f"value ranges need 'low', 'high', 'min' and 'max', missing {missing}")
        return cls(*(tuple(float(v) for v in data[key]) for key in ("low", "high", "min", "max")))

    def _columns(self) -> tuple[tuple[float, ...], ...]:
        return self.low, self.high, self.minimum, self.maximum


@dataclass(frozen=True)
class InputContract:
    """What one model input was trained on: its name, band names and value ranges (each None when unknown)."""

    name: str
    band_names: tuple[str, ...] | None = None
    ranges: BandRanges | None = None

    def to_json(self) -> dict:
        """``{"name": ..., "band_names": [...] or None, "ranges": BandRanges.to_json() or None}``."""
        return {"name": self.name, "band_names": list(self.band_names) if self.band_names is not None else None,
                "ranges": self.ranges.to_json() if self.ranges is not None else None}

    @classmethod
    def from_json(cls, data: Mapping) -> "InputContract":
        """The inverse of :meth:`to_json`."""
        names, ranges = data.get("band_names"), data.get("ranges")
        return cls(str(data["name"]), tuple(names) if names is not None else None,
                   BandRanges.from_json(ranges) if ranges is not None else None)


def read_contracts(path: str | os.PathLike) -> list[InputContract]:
    """The input contracts recorded by :func:`rskeras.export_saved_model`.

    Args:
        path: an export's version folder (``saved_models/NAME/1``) or its ``assets.extra/rskeras.json``.

    Raises:
        FileNotFoundError: no such file; ValueError: an export written without a contract (re-export it).
    """
    file = Path(path) / EXPORT_METADATA if Path(path).is_dir() else Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"no export metadata at {file}: give a version folder written by "
                                "rskeras.export_saved_model (saved_models/NAME/<version>) or its rskeras.json")
    metadata = json.loads(file.read_text())
    if "input_contract" not in metadata:
        raise ValueError(f"{file} holds no input contract (exported before rskeras recorded one); export the model "
                         "again with rskeras.export_saved_model")
    return [InputContract.from_json(item) for item in metadata["input_contract"]]


def check_inputs(
    contracts: Sequence[InputContract],
    samples: Sequence[np.ndarray | None],
    bands: Sequence[Sequence[str] | None] | None = None,
    sources: Sequence[str] | None = None,
) -> None:
    """Refuse bands that do not match the model's by name, warn for values far outside its training ranges.

    Args:
        contracts: per model input, what it was trained on (:func:`rskeras.models.metadata.input_contracts`).
        samples: per model input, ``(..., bands)`` raw values about to be fed (NaN where nodata), or None.
        bands: per model input, the names of the bands fed, in order, or None (not known, or already
            matched by name as ``predict_raster`` does).
        sources: per model input, what the values come from (a file, a URL), for the messages.

    Raises:
        BandError: bands named otherwise than the model's, or in another order; both lists named.

    Warns:
        InputRangeWarning: one per input with bands far outside their training range (see the module).
    """
    bands = bands if bands is not None else [None] * len(contracts)
    sources = sources if sources is not None else [contract.name for contract in contracts]
    for contract, sample, fed, source in zip(contracts, samples, bands, sources):
        if fed is not None and contract.band_names is not None:
            check_band_names(contract.band_names, fed, source)
        if sample is not None and contract.ranges is not None:
            message = range_report(contract, np.asarray(sample, dtype=np.float64))
            if message:
                warnings.warn(f"{source}: {message}", InputRangeWarning, stacklevel=2)


def check_band_names(model_bands: Sequence[str], fed: Sequence[str], source: str) -> None:
    """Raise :class:`~rskeras.data.rasters.BandError` unless ``fed`` are ``model_bands`` in order (any case)."""
    if [b.lower() for b in fed] == [b.lower() for b in model_bands]:
        return
    from rskeras.data.rasters import BandError

    trained, given = ", ".join(model_bands), ", ".join(fed)
    if sorted(b.lower() for b in fed) == sorted(b.lower() for b in model_bands):
        fault = "the same bands in another order"
    else:
        absent = [b for b in model_bands if b.lower() not in {f.lower() for f in fed}]
        fault = f"no {', '.join(absent)}" if absent else "other bands"
    raise BandError(f"{source}: the model was trained on bands {trained}, but the bands fed are {given} ({fault}); "
                    "feed the model's bands, named as in training, in its order")


def range_report(contract: InputContract, sample: np.ndarray) -> str:
    """The warning text for the bands of ``sample`` (``(..., bands)``) far outside ``contract``'s ranges, or ``""``."""
    ranges = contract.ranges
    values = sample.reshape(-1, sample.shape[-1])
    if values.shape[-1] != len(ranges):
        raise ValueError(f"input {contract.name!r} takes {len(ranges)} bands, the values fed have {values.shape[-1]}")
    names = contract.band_names or [f"band {i}" for i in range(1, len(ranges) + 1)]
    far = [_band_report(names[i], ranges.select([i]), values[:, i]) for i in range(len(ranges))]
    far = [line for line in far if line]
    if not far:
        return ""
    sampled = int(np.isfinite(values).any(axis=1).sum())
    return (f"values far outside what the model was trained on (input {contract.name!r}, {sampled:,} pixels "
            f"sampled; ranges are 0.5th to 99.5th percentiles): {'; '.join(far)}. Are they in other units "
            "(reflectance 0-1 vs scaled 0-10,000, digital numbers) or from another sensor? Where it is deliberate: "
            "warnings.filterwarnings('ignore', category=rskeras.layers.InputRangeWarning)")


def _band_report(name: str, ranges: BandRanges, values: np.ndarray) -> str:
    """``"nir: scene median ..."`` when this band's ``values`` are far outside ``ranges`` (one band), else ``""``."""
    values = values[np.isfinite(values)]
    low, high = ranges.low[0], ranges.high[0]
    width = high - low
    if width <= 0 or values.size == 0 or values.min() == values.max():
        return ""
    median = float(np.median(values))
    shifted = median < low - width or median > high + width
    tiny = median < low and abs(median) < max(abs(low), abs(high)) / 100
    if not (shifted or tiny):
        return ""
    scene_low, scene_high = np.percentile(values, RANGE_PERCENTILES)
    return (f"{name}: scene median {_number(median)}, range {_number(scene_low)} to {_number(scene_high)}; "
            f"training range {_number(low)} to {_number(high)} (min {_number(ranges.minimum[0])}, "
            f"max {_number(ranges.maximum[0])})")


def _number(value: float) -> str:
    """``11,317`` for large values, four significant digits (``0.0172``, ``290.9``) for small ones."""
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
