"""A tqdm progress bar over epochs for ``model.fit`` (Keras' own bar is per batch)."""

from __future__ import annotations

import keras
from tqdm.auto import tqdm


class EpochProgress(keras.callbacks.Callback):
    """Shows one tqdm bar over all epochs with the latest loss and metrics."""

    def __init__(self, description: str = "training"):
        super().__init__()
        self.description = description
        self._bar = None

    def on_train_begin(self, logs=None):
        self._bar = tqdm(total=self.params.get("epochs"), desc=self.description, unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        self._bar.set_postfix({k: f"{v:.4g}" for k, v in (logs or {}).items()})
        self._bar.update(1)

    def on_train_end(self, logs=None):
        if self._bar is not None:
            self._bar.close()
