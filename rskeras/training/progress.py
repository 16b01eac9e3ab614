"""Deprecated: ``EpochProgress``, a tqdm bar over epochs; use ``tqdm.keras.TqdmCallback(verbose=0)``."""

from __future__ import annotations

import warnings

from tqdm.keras import TqdmCallback


class EpochProgress(TqdmCallback):
    """Deprecated alias: ``tqdm.keras.TqdmCallback(verbose=0, desc=description)``.

    One tqdm bar over all epochs (unit ``epoch``) with the latest loss and metrics, as before.
    """

    def __init__(self, description: str = "training"):
        warnings.warn("rskeras.training.EpochProgress is deprecated; use "
                      "tqdm.keras.TqdmCallback(verbose=0, desc=...)", DeprecationWarning, stacklevel=2)
        super().__init__(verbose=0, desc=description)
