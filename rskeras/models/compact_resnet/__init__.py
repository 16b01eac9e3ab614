"""A compact residual network for small patches (EuroSAT 64x64), trainable from scratch on a CPU."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.compact_resnet.compact_resnet_classifier": ["compact_resnet"],
    },
)
