"""Model builders (Keras functional API), one module or folder per model family.

Every builder returns an uncompiled ``keras.Model`` whose last layer is a
:class:`rskeras.heads.TaskOutput` for the ``task=`` it was given.
"""

from rskeras.models.backbones import (
    BACKBONES,
    adapt_first_conv_kernel,
    build_backbone,
    get_backbone_spec,
    load_weights,
    save_weights,
)
from rskeras.models.cnn import cnn
from rskeras.models.compact_resnet import compact_resnet
from rskeras.models.deeplabv3 import deeplabv3
from rskeras.models.googlenet import googlenet
from rskeras.models.m3net import UncertaintyWeightedModel, m3net
from rskeras.models.metadata import ModelMetadata, model_metadata
from rskeras.models.pspnet import pspnet
from rskeras.models.resnet import resnet50
from rskeras.models.transfer import FineTuneHistories, backbone_layers, fine_tune, freeze_backbone
from rskeras.models.unet import unet

__all__ = ["ModelMetadata", "model_metadata", "unet", "pspnet", "deeplabv3", "m3net", "UncertaintyWeightedModel",
           "cnn", "compact_resnet",
           "resnet50", "googlenet", "BACKBONES", "build_backbone", "get_backbone_spec", "adapt_first_conv_kernel",
           "load_weights", "save_weights", "freeze_backbone", "fine_tune", "FineTuneHistories", "backbone_layers"]
