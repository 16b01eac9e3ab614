"""Keras layers of rskeras, serialisable by name (``rskeras>ClassName``)."""

from rskeras.layers.normalization import BandNormalization, band_statistics
from rskeras.layers.resize import BilinearUpsampling2D

__all__ = ["BandNormalization", "BilinearUpsampling2D", "band_statistics"]
