"""The pixel-wise artificial neural network (multi-layer perceptron over band vectors)."""

from rskeras.models.ann.ann import ann

__all__ = ["ann"]
