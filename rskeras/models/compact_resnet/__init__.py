"""A compact residual network for small patches (EuroSAT 64x64), trainable from scratch on a CPU."""

from rskeras.models.compact_resnet.compact_resnet import compact_resnet

__all__ = ["compact_resnet"]
