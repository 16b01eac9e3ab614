"""PSPNet (Zhao et al. 2017): pyramid pooling on a dilated backbone."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.pspnet.pspnet_layers": ["AdaptiveAveragePooling2D", "adaptive_pooling_matrix"],
        "rskeras.models.pspnet.pspnet_segmenter": ["pspnet", "pyramid_pooling"],
    },
)
