"""M3Net (Cao & Huang 2021): building height from multi-spectral and multi-view imagery, and its training wrapper."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.m3net.m3net_height_model": ["BUILDING_TASKS", "INPUTS", "OUTPUTS", "m3net"],
        "rskeras.models.m3net.m3net_training": ["UncertaintyWeightedModel"],
    },
)
