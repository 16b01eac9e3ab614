"""M3Net (Cao & Huang 2021): building height from multi-spectral and multi-view imagery, and its training wrapper."""

from rskeras.models.m3net.m3net import OUTPUTS, m3net
from rskeras.models.m3net.training import UncertaintyWeightedModel

__all__ = ["m3net", "OUTPUTS", "UncertaintyWeightedModel"]
