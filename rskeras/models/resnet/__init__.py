"""ResNet-50 for patch classification, on the registered ``"resnet50"`` backbone."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.resnet.resnet_classifier": ["resnet50"],
    },
)
