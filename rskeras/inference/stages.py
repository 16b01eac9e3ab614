"""The loops of ``predict_raster`` as a pipeline: inputs prepared one step ahead in a thread, seconds per stage.

No TensorFlow here. Every loop (pixel windows, rows of patches, rows of dense tiles) has five stages:

=========  ==================================================================  ==========
stage      what it does                                                        thread
=========  ==================================================================  ==========
read       the input rasters' window or strip, and its nodata mask             reader
pad        reflecting and filling the strip and cutting tiles (pixel models:   reader
           gathering the valid pixels' band vectors)
predict    the model's calls                                                   caller
blend      adding tiles into the blended strip and dividing the finished rows  blender
           by their weights (patch models: the cells' nodata; pixel models     (caller)
           have none)
write      encoding (classes, nodata) and writing the outputs (pixel models:   writer
           scattering the valid pixels' outputs onto the window)
=========  ==================================================================  ==========

:func:`prefetched` runs the reader's steps in a background thread at most ``depth`` steps ahead of the
caller, and :func:`run_behind` the writer's (and dense models' blending) at most ``depth`` steps behind, so
reading, blending and writing (GDAL and numpy release the GIL) overlap the model, which leaves part of a
2-core CPU idle on its own; the caller's thread of a dense model only predicts.
At most ``depth + 2`` steps of inputs are alive at once (one being prepared, ``depth`` waiting, one in
use), and as many of outputs. :class:`StageTimes` adds up the wall-clock seconds of each stage in the
thread that runs it (``PredictionResult.stage_seconds``): a few ``perf_counter`` calls per step, so it is
always on. Read, pad and write overlap the other stages, so the stages add up to more than the whole call.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

STAGES = ("read", "pad", "predict", "blend", "write")
#: Held around every GDAL read of the sources and write of the outputs: the reader and writer threads never
#: call GDAL at once (GDAL's shared block cache may flush one dataset's dirty blocks from the thread that reads
#: another; a whole window of a pixel model's map was once found unwritten). Both still overlap the model.
GDAL_LOCK = threading.Lock()

T = TypeVar("T")
_DONE = object()


def _yield_to_the_model() -> None:
    """Lower the calling thread's scheduling priority to the lowest, nice 19, on Linux, where each thread has its
    own; nothing elsewhere (on macOS the same call with a thread id would renice the process that has that number
    as its pid).

    The model's own thread pool splits each call into equal shares, one per core; a share whose thread loses its
    core to a reader or writer makes the whole call wait. At nice 19 those threads run in what the model leaves
    idle instead (U-Net on 2 cores: 0.90x the ceiling against 0.86x at nice 10, medians of 8 alternated pairs)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class StageTimes:
    """Seconds spent in each of :data:`STAGES`, added up over a prediction (``seconds``: name -> seconds)."""

    def __init__(self) -> None:
        self.seconds = dict.fromkeys(STAGES, 0.0)

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        """Time the ``with`` block as ``stage``; each stage is timed by one thread only."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start


class _Failure:
    """An exception raised in the reader thread, handed to the caller."""

    def __init__(self, error: BaseException):
        self.error = error


@contextlib.contextmanager
def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[Iterator[T]]:
    """``items`` iterated in a background thread, at most ``depth`` items ahead of the caller.

    Use as ``with prefetched(steps) as steps: for step in steps: ...``. An exception in the thread is raised
    in the caller where its item would have come; leaving the ``with`` block (also by an exception) stops the
    thread and waits for it, so the rasters it reads can be closed right after.
    """
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        _yield_to_the_model()
        try:
            for item in items:
                if stop.is_set():
                    return
                waiting.put(item)
            waiting.put(_DONE)
        except BaseException as err:  # noqa: BLE001  (handed to the caller)
            waiting.put(_Failure(err))

    def consume() -> Iterator[T]:
        while (item := waiting.get()) is not _DONE:
            if isinstance(item, _Failure):
                raise item.error
            yield item

    thread = threading.Thread(target=produce, name="rskeras-reader", daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        while thread.is_alive():  # unblock a waiting put until the thread sees ``stop``
            with contextlib.suppress(queue.Empty):
                waiting.get(timeout=0.01)
        thread.join()


@contextlib.contextmanager
def run_behind(work: Callable[..., None], times: StageTimes, stage: str, depth: int = 1) -> Iterator[Callable[..., None]]:
    """A function that hands its arguments to ``work``, called in a background thread and timed as ``stage``.

    Use as ``with run_behind(write, times, "write") as submit: ... submit(values, mask, window)``. At most
    ``depth`` calls wait; ``submit`` blocks beyond that. The calls run in order; the first exception in the
    thread is raised by the next ``submit`` or when the ``with`` block ends, which waits for every call (none
    run after an exception in the caller), so the outputs can be closed right after.
    """
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    failures: list[BaseException] = []
    stop = threading.Event()

    def consume() -> None:
        _yield_to_the_model()
        while (item := waiting.get()) is not _DONE:
            if failures or stop.is_set():
                continue  # drain: the caller learns of a failure at its next submit
            try:
                with times(stage):
                    work(*item)
            except BaseException as err:  # noqa: BLE001  (handed to the caller)
                failures.append(err)

    def submit(*args) -> None:
        if failures:
            raise failures[0]
        waiting.put(args)

    thread = threading.Thread(target=consume, name=f"rskeras-{stage}", daemon=True)
    thread.start()
    try:
        yield submit
    except BaseException:
        stop.set()  # skip what is still waiting
        raise
    finally:
        waiting.put(_DONE)
        thread.join()
    if failures:
        raise failures[0]
