"""PSPNet (Zhao et al. 2017): pyramid pooling on a dilated backbone."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.pspnet.pspnet_segmenter": ["pspnet", "pyramid_pooling"],
    },
    # Keras' own layer replaced rskeras'; rskeras.models.pspnet.pspnet_layers keeps old files loadable
    deprecated={"AdaptiveAveragePooling2D": "keras.layers:AdaptiveAveragePooling2D"},
)
