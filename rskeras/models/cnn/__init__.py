"""The lecture's convolutional classifier: convolution -> pooling -> fully connected."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.cnn.cnn_classifier": ["cnn"],
    },
)
