"""Fitting a training run into a time budget: measured throughput, epochs that fit, a schedule whose end
can move during the run, and a stop at the limit.

A plan made before training (:func:`epochs_for_budget` on a probe's :class:`Throughput`) misses what
happens during the run: other work on shared cores, a slow epoch. :class:`FitToBudget` re-plans the
last epoch from the epochs' measured times (never beyond the plan), and the learning rate (a
:class:`ReplannableSchedule`) runs its rest in the epochs that fit, so it still decays to its end
instead of being cut off by :class:`TimeLimit` part-way down.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from rskeras._compat import learning_rate_schedule_of


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
                       warmup: int = 3, batch_size: int | None = None) -> Throughput:
    """Training and evaluation speeds of a fresh model from ``build()`` (compiled) on ``dataset``'s batches.

    The model trains with ``fit``, then evaluates with ``evaluate``, as a run does (the input pipeline
    and the step share the CPU): ``warmup`` steps each (tracing, first allocations), then ``steps``
    more, and the median time between the ends of consecutive steps sets the speed, so a step slowed
    by something else on the machine does not. Every batch must hold ``batch_size`` images (None: as
    many as the first batch, read once more for this). The model is thrown away; measure before
    building the model that is trained.
    """
    model = build()
    batch_size = batch_size or int(next(iter(dataset))[0].shape[0])
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


@keras.saving.register_keras_serializable(package="rskeras")
class ReplannableSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A learning-rate schedule of ``total_steps`` steps whose rest can be run in another number of steps mid-run.

    The learning rate at optimizer step ``s`` is ``schedule(position)``, where ``position`` runs
    linearly from ``offset`` at step ``start`` at ``rate`` schedule steps per step: ``position = s``
    until :meth:`end_at` is called. The three are non-trainable variables, so the compiled train
    step reads the new values without being traced again.

    Args:
        schedule: a Keras learning-rate schedule (a function of the step) defined up to ``total_steps``.
        total_steps: the steps the schedule was made for.
    """

    def __init__(self, schedule, total_steps: int, start: float = 0.0, offset: float = 0.0, rate: float = 1.0):
        self.schedule = schedule
        self.total_steps = int(total_steps)
        self.start = keras.Variable(float(start), dtype="float32", trainable=False, name="schedule_start")
        self.offset = keras.Variable(float(offset), dtype="float32", trainable=False, name="schedule_offset")
        self.rate = keras.Variable(float(rate), dtype="float32", trainable=False, name="schedule_rate")

    def position(self, step):
        """The schedule's step that optimizer step ``step`` runs at."""
        return self.offset + (keras.ops.cast(step, "float32") - self.start) * self.rate

    def __call__(self, step):
        return self.schedule(self.position(step))

    def end_at(self, step: int, end_step: int) -> None:
        """Run the schedule's rest, from where it is at optimizer step ``step``, in the steps up to ``end_step``
        (fewer or more than it had left)."""
        offset = float(self.position(step))
        self.start.assign(float(step))
        self.offset.assign(offset)
        self.rate.assign((self.total_steps - offset) / max(1, end_step - step))

    def get_config(self) -> dict:
        return {"schedule": keras.saving.serialize_keras_object(self.schedule), "total_steps": self.total_steps,
                "start": float(self.start.numpy()), "offset": float(self.offset.numpy()),
                "rate": float(self.rate.numpy())}

    @classmethod
    def from_config(cls, config: dict) -> ReplannableSchedule:
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)


class FitToBudget(keras.callbacks.Callback):
    """Ends training within ``seconds`` of the start of ``fit`` with the learning-rate schedule finished.

    The planned epochs are ``fit``'s ``epochs``, and an epoch's steps are counted by the optimizer.
    Epochs from ``steady_from`` on all cost the same (the full-size stage of progressive resizing).
    Their first is left out of the timing, as it traces the train step for its patch size; after
    each of the others, the epochs that still fit are counted from their mean duration so far
    (validation included; a slow epoch counts, as slow epochs recur), at most the ``epochs``
    planned and at least one. When that moves the last epoch, the rest of the optimizer's
    :class:`ReplannableSchedule` is run in the epochs up to it, and training stops after it. As the
    mean settles the last epoch can move back towards the plan: one slow epoch early on does not
    cut the run for good. The re-planned end is not checkpointed: a resumed run starts from its
    plan again and re-plans after its next full-size epochs.

    Attributes:
        end_epoch: the epochs the run will have trained, as planned now.
    """

    def __init__(self, seconds: float, steady_from: int = 0):
        super().__init__()
        self.seconds, self.steady_from = seconds, steady_from
        self.epochs = self.end_epoch = 0
        self._start = self._epoch_start = 0.0
        self._epoch_first_step = 0
        self._durations: list[float] = []

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()
        self.epochs = self.end_epoch = self.params["epochs"]

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.perf_counter()
        self._epoch_first_step = int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        now = time.perf_counter()
        if epoch > self.steady_from:
            self._durations.append(now - self._epoch_start)
        done = epoch + 1
        if done >= self.end_epoch:
            self.model.stop_training = True
            return
        if not self._durations:
            return
        fit = int((self.seconds - (now - self._start)) // float(np.mean(self._durations)))
        end_epoch = min(self.epochs, done + max(1, fit))
        if end_epoch != self.end_epoch:
            self._end_at(done, end_epoch)

    def _end_at(self, done: int, end_epoch: int) -> None:
        """Make epoch ``end_epoch`` the last, with the learning-rate schedule ending there."""
        schedule = learning_rate_schedule_of(self.model.optimizer)
        if isinstance(schedule, ReplannableSchedule):
            step = int(self.model.optimizer.iterations.numpy())
            schedule.end_at(step, step + (end_epoch - done) * (step - self._epoch_first_step))
        print(f"[budget] after epoch {done}: {end_epoch - done} more epoch(s) fit the time left, so epoch {end_epoch} "
              f"is the last (was {self.end_epoch}; fit's plan: {self.epochs}) and the learning rate ends with it",
              flush=True)
        self.end_epoch = end_epoch
