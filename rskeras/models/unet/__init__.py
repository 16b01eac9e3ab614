"""U-Net (Ronneberger et al. 2015), its SEN12TP variant, and a U-Net decoder on any registered backbone."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.unet.unet_segmenter": ["VARIANTS", "unet"],
    },
)
