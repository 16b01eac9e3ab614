"""GoogLeNet / Inception v1 for patch classification, with the paper's auxiliary classifiers."""

from rskeras.models.googlenet.googlenet_classifier import AUX_LOSS_WEIGHT, googlenet

__all__ = ["AUX_LOSS_WEIGHT", "googlenet"]
