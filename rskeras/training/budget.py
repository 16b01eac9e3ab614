"""Fitting a training run into a time budget: measured throughput, epochs that fit, a stop at the limit."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf


@dataclass(frozen=True)
class Throughput:
    """Measured speeds of a model, in images per second.

    Attributes:
        train: training (``fit`` steps).
        evaluate: evaluation (``evaluate`` steps: the validation pass of an epoch).
    """

    train: float
    evaluate: float


class _StepEnds(keras.callbacks.Callback):
    """``time.perf_counter()`` at the end of every training and every evaluation batch."""

    def __init__(self):
        super().__init__()
        self.train: list[float] = []
        self.test: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.train.append(time.perf_counter())

    def on_test_batch_end(self, batch, logs=None):
        self.test.append(time.perf_counter())


def measure_throughput(build: Callable[[], keras.Model], dataset: tf.data.Dataset, steps: int = 8,
                       warmup: int = 3) -> Throughput:
    """Training and evaluation speeds of a fresh model from ``build()`` (compiled) on ``dataset``'s batches.

    The model trains with ``fit``, then evaluates with ``evaluate``, as a run does (the input pipeline
    and the step share the CPU): ``warmup`` steps each (tracing, first allocations), then ``steps``
    more, and the median time between the ends of consecutive steps sets the speed, so a step slowed
    by something else on the machine does not. Every batch must hold the same number of images. The
    model is thrown away; measure before building the model that is trained.
    """
    model = build()
    batch_size = int(next(iter(dataset))[0].shape[0])
    ends = _StepEnds()
    model.fit(dataset.repeat(), steps_per_epoch=warmup + steps + 1, epochs=1, verbose=0, callbacks=[ends])
    model.evaluate(dataset.repeat(), steps=warmup + steps + 1, verbose=0, callbacks=[ends])
    return Throughput(*(batch_size / float(np.median(np.diff(times[warmup:]))) for times in (ends.train, ends.test)))


def epochs_for_budget(seconds: float, images_per_second: float, n_train: int, n_validation: int = 0,
                      max_epochs: int = 200, validation_images_per_second: float | None = None,
                      validation_freq: int = 1) -> int:
    """Epochs over ``n_train`` images that fit in ``seconds``, with a validation pass over ``n_validation``
    images after every ``validation_freq``-th epoch.

    ``validation_images_per_second``: the measured evaluation speed (default: 3x ``images_per_second``).
    """
    validation_speed = validation_images_per_second or 3 * images_per_second
    per_epoch = n_train / images_per_second + n_validation / validation_speed / validation_freq
    return int(max(1, min(max_epochs, seconds // per_epoch)))


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the batch that exceeds ``seconds`` since the start of ``fit`` (a safety net).

    Attributes:
        stopped: whether the limit stopped training.
        steps: training batches run.
        elapsed: seconds from the start to the end of ``fit`` (validation included).
    """

    def __init__(self, seconds: float = float("inf")):
        super().__init__()
        self.seconds = seconds
        self.stopped = False
        self.steps = 0
        self.elapsed = 0.0
        self._start = 0.0

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.perf_counter() - self._start > self.seconds:
            self.stopped = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self.elapsed = time.perf_counter() - self._start
