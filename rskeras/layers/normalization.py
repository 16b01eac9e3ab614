"""Per-band normalisation inside the model, so saved models take raw pixel values."""

from __future__ import annotations

from typing import Sequence

import keras
import numpy as np
from keras import ops


def band_statistics(values: np.ndarray, nodata: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and standard deviation over every axis but the last.

    Args:
        values: ``(..., bands)`` raw band values (vectors, patches or images).
        nodata: a value to leave out, besides NaN.

    Returns:
        ``(mean, std)``, each ``(bands,)`` float64; a constant band gets std 1.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x.reshape(-1, x.shape[-1])
    if nodata is not None:
        x = np.where(x == nodata, np.nan, x)
    if np.isnan(x).all(axis=0).any():
        bad = np.flatnonzero(np.isnan(x).all(axis=0)).tolist()
        raise ValueError(f"band(s) {bad} hold no valid value to compute statistics from")
    mean = np.nanmean(x, axis=0)
    std = np.nanstd(x, axis=0)
    std = np.where(std > 0, std, 1.0)
    return mean, std


@keras.saving.register_keras_serializable(package="rskeras")
class BandNormalization(keras.layers.Layer):
    """``(x - mean) / std`` per band (last axis), computed in float32.

    The statistics and the band names are stored in the layer's config, so they
    travel with a saved model and ``predict_raster`` can pick bands by name.
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

    @classmethod
    def from_data(cls, values: np.ndarray, band_names: Sequence[str] | None = None, nodata: float | None = None, **kwargs):
        """A layer adapted to ``values`` (``(..., bands)``), see :func:`band_statistics`."""
        mean, std = band_statistics(values, nodata=nodata)
        return cls(mean=mean, std=std, band_names=band_names, **kwargs)

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
        config.update(mean=self.mean, std=self.std, band_names=self.band_names)
        return config
