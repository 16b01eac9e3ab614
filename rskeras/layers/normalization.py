"""Per-band normalisation inside the model, so saved models take raw pixel values and carry their input contract."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Sequence

import keras
import numpy as np
from keras import ops

from rskeras.data.ee_records.stats import BandStats, RunningBandStats
from rskeras.data.rasters import default_band_names
from rskeras.layers.input_contract import BandRanges


def band_statistics(values: np.ndarray, nodata: float | None = None,
                    band_names: Sequence[str] | None = None) -> BandStats:
    """Per-band mean, standard deviation and value ranges over every axis but the last.

    Args:
        values: ``(..., bands)`` raw band values (vectors, patches or images).
        nodata: a value to leave out, besides NaN.
        band_names: the bands' names; without them the statistics are unnamed (``bands == ()``) and
            apply to a model's bands in order.

    Returns:
        A :class:`rskeras.data.BandStats` (:class:`~rskeras.data.ee_records.stats.RunningBandStats` over
        ``values`` in one step): ``mean`` and ``std`` per band (a constant band gets std 1) and ``ranges``
        (0.5th/99.5th percentiles, min and max), all in the units of ``values``; any builder's
        ``band_stats=`` takes it.

    Raises:
        ValueError: a band without a valid value.
    """
    x = np.asarray(values, dtype=np.float64)
    names = list(band_names) if band_names is not None else default_band_names(x.shape[-1])
    running = RunningBandStats(names, nodata)
    running.update(x)
    stats = running.result()
    return stats if band_names is not None else dataclasses.replace(stats, bands=())


@keras.saving.register_keras_serializable(package="rskeras")
class BandNormalization(keras.layers.Layer):
    """``(x - mean) / std`` per band (last axis), computed in float32.

    The statistics, the band names and the range of each band's training values
    (:class:`~rskeras.layers.input_contract.BandRanges`) are stored in the layer's config, so they
    travel with a saved model: ``predict_raster`` picks bands by name, and the prediction paths
    warn when a scene's values lie far outside the training ranges
    (:mod:`rskeras.layers.input_contract`). Models saved without ranges load with
    ``value_ranges=None`` and are not checked.
    Without statistics the layer is the identity and is named
    ``band_normalization_UNADAPTED_identity`` (``_1``, ``_2``, ... for further ones in
    the same session) so that ``model.summary()`` says so.

    Input: ``(..., bands)`` raw values, any numeric dtype.
    Output: same shape, float32.
    """

    def __init__(
        self,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        band_names: Sequence[str] | None = None,
        value_ranges: BandRanges | Mapping | None = None,
        **kwargs,
    ):
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither (identity)")
        kwargs["dtype"] = "float32"
        if kwargs.get("name") is None:
            prefix = "band_normalization" if mean is not None else "band_normalization_UNADAPTED_identity"
            uid = keras.backend.get_uid(prefix)
            kwargs["name"] = prefix if uid == 1 else f"{prefix}_{uid - 1}"
        super().__init__(**kwargs)
        self.mean = [float(v) for v in np.ravel(mean)] if mean is not None else None
        self.std = [float(v) for v in np.ravel(std)] if std is not None else None
        if self.std is not None and (len(self.std) != len(self.mean) or min(self.std) <= 0):
            raise ValueError(f"std must be positive and match mean's length, got mean={self.mean}, std={self.std}")
        self.band_names = [str(b) for b in band_names] if band_names is not None else None
        if isinstance(value_ranges, Mapping):
            value_ranges = BandRanges.from_json(value_ranges)
        if value_ranges is not None and (self.mean is None or len(value_ranges) != len(self.mean)):
            raise ValueError(f"value_ranges must cover the {len(self.mean or [])} bands of the statistics, "
                             f"got {len(value_ranges)}")
        self.value_ranges = value_ranges

    @classmethod
    def from_data(cls, values: np.ndarray, band_names: Sequence[str] | None = None, nodata: float | None = None, **kwargs):
        """A layer adapted to ``values`` (``(..., bands)``): statistics and ranges of :func:`band_statistics`."""
        return band_statistics(values, nodata=nodata, band_names=band_names).to_layer(**kwargs)

    @property
    def adapted(self) -> bool:
        return self.mean is not None

    def build(self, input_shape):
        n = input_shape[-1]
        for what, names in (("statistics", self.mean), ("band names", self.band_names)):
            if names is not None and n is not None and len(names) != n:
                raise ValueError(f"input has {n} bands but the normalisation holds {len(names)} {what}")
        super().build(input_shape)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.mean is None:
            return x
        mean = ops.convert_to_tensor(np.asarray(self.mean, dtype="float32"))
        std = ops.convert_to_tensor(np.asarray(self.std, dtype="float32"))
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("dtype", None)
        ranges = self.value_ranges.to_json() if self.value_ranges is not None else None
        config.update(mean=self.mean, std=self.std, band_names=self.band_names, value_ranges=ranges)
        return config
