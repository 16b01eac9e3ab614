"""The pixel-wise artificial neural network (multi-layer perceptron over band vectors)."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.ann.ann_pixel_model": ["ann"],
    },
)
