"""The epoch progress bar: tqdm's own TqdmCallback; EpochProgress is its deprecated alias."""

import keras
import numpy as np
import pytest
from tqdm.keras import TqdmCallback

from rskeras.training import EpochProgress


def test_epoch_progress_is_a_deprecated_tqdm_epoch_bar():
    with pytest.warns(DeprecationWarning, match=r"TqdmCallback\(verbose=0"):
        bar = EpochProgress("training ANN")
    assert isinstance(bar, TqdmCallback) and bar.verbose == 0
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    model.fit(np.ones((4, 2), "float32"), np.ones((4, 1), "float32"), epochs=3, verbose=0, callbacks=[bar])
    assert (bar.epoch_bar.desc, bar.epoch_bar.unit, bar.epoch_bar.n, bar.epoch_bar.total) == \
        ("training ANN", "epoch", 3, 3)
    assert {"loss", "mae"} <= {item.split("=")[0] for item in bar.epoch_bar.postfix.split(", ")}
    assert bar.epoch_bar.disable  # tqdm marks a closed bar disabled: closed when training ended
