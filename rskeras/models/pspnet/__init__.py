"""PSPNet (Zhao et al. 2017): pyramid pooling on a dilated backbone."""

from rskeras.models.pspnet.layers import AdaptiveAveragePooling2D, adaptive_pooling_matrix
from rskeras.models.pspnet.pspnet import pspnet, pyramid_pooling

__all__ = ["pspnet", "pyramid_pooling", "AdaptiveAveragePooling2D", "adaptive_pooling_matrix"]
