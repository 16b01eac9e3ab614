"""ResNet-50 for patch classification, on the registered ``"resnet50"`` backbone."""

from rskeras.models.resnet.resnet_classifier import resnet50

__all__ = ["resnet50"]
