"""GoogLeNet / Inception v1 for patch classification, with the paper's auxiliary classifiers."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.googlenet.googlenet_classifier": ["AUX_LOSS_WEIGHT", "googlenet"],
    },
)
