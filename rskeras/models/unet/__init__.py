"""U-Net (Ronneberger et al. 2015), its SEN12TP variant, and a U-Net decoder on any registered backbone."""

from rskeras.models.unet.unet import VARIANTS, unet

__all__ = ["unet", "VARIANTS"]
