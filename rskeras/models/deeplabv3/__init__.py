"""DeepLabV3 (Chen et al. 2017): atrous spatial pyramid pooling on a dilated backbone."""

from rskeras.models.deeplabv3.deeplabv3 import ATROUS_RATES, aspp, deeplabv3

__all__ = ["deeplabv3", "aspp", "ATROUS_RATES"]
