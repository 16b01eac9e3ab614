"""Keras layers of rskeras, serialisable by name (``rskeras>ClassName``)."""

from rskeras.layers.normalization import BandNormalization, band_statistics

__all__ = ["BandNormalization", "band_statistics"]
