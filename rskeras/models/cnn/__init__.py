"""The lecture's convolutional classifier: convolution -> pooling -> fully connected."""

from rskeras.models.cnn.cnn_classifier import cnn

__all__ = ["cnn"]
