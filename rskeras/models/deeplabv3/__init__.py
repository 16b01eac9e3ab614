"""DeepLabV3 (Chen et al. 2017): atrous spatial pyramid pooling on a dilated backbone."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.deeplabv3.deeplabv3_segmenter": ["ATROUS_RATES", "aspp", "deeplabv3"],
    },
)
