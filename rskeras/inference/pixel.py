"""Pixel models over a scene: every valid pixel's band vector -> the model -> the output rasters.

The scene is cut into ``window_size x window_size`` windows (memory: a few windows
of inputs and one of outputs at a time, whatever the scene's size). In each window, pixels
that are nodata in any selected band of any input are left out; the others form
``(N, bands)`` float32 vectors, read pixel-interleaved by GDAL (:meth:`Source.read_pixels`) and gathered one
window ahead in a reader thread (:mod:`rskeras.inference.stages`).

The vectors of consecutive windows are predicted in calls of exactly ``batch_size`` rows (:class:`FullBatches`):
a window's pixels may span two calls, and only the scene's last call is shorter. A compiled model then sees
one batch shape (XLA compiles once per shape) and never predicts padding in the middle of a scene. A window
is written, in a writer thread, as soon as all its pixels are predicted; its outputs are encoded on the
valid pixels only and scattered onto the window (:meth:`OutputPlan.write_pixels`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from functools import partial

import numpy as np
from rasterio.windows import Window
from tqdm.auto import tqdm

from rskeras.inference.model_spec import Runner
from rskeras.inference.outputs import OutputPlan
from rskeras.inference.sources import Source
from rskeras.inference.stages import StageTimes, prefetched, run_behind
from rskeras.inference.windows import block_windows
from rskeras.inference.writer import GeoTIFFOutputs


def predict_pixels(
    runner: Runner,
    sources: list[Source],
    plan: OutputPlan,
    outputs: GeoTIFFOutputs,
    window_size: int,
    batch_size: int,
    progress: bool,
    times: StageTimes,
) -> tuple[int, int]:
    """Predict every pixel of the aligned ``sources`` and write ``plan``'s outputs.

    The windows are read and their vectors gathered one window ahead in a thread, and written in another
    (:mod:`rskeras.inference.stages`); ``times`` adds up the seconds of each stage.

    Returns:
        ``(n_pixels, n_nodata)``: pixels predicted and pixels left nodata.
    """
    ds = sources[0].dataset
    n_valid = n_nodata = 0
    windows = block_windows(ds.height, ds.width, window_size)
    bar = tqdm(windows, desc="predict", unit="window", disable=not progress)
    batches = FullBatches(runner, batch_size, plan.n_channels)
    with (prefetched(_window_vectors(sources, bar, times)) as steps,
          run_behind(partial(plan.write_pixels, outputs), times, "write") as write):
        for window, vectors, invalid in steps:
            n_valid += len(vectors[0])
            n_nodata += invalid.size - len(vectors[0])
            with times("predict"):
                done = batches.add(vectors, (invalid, window))
            for pred, key in done:
                write(pred, *key)
        with times("predict"):
            done = batches.finish()
        for pred, key in done:
            write(pred, *key)
    return n_valid, n_nodata


class FullBatches:
    """Rows of many items (a window's valid pixels) predicted in calls of exactly ``batch_size`` rows.

    :meth:`add` queues one item's rows (one ``(n, ...)`` array per model input) with a ``key`` and predicts
    every full batch queued; :meth:`finish` predicts the rest. Both return the items whose rows are all
    predicted, in order, as ``(predictions (n, n_channels) float32, key)``. At most ``batch_size`` rows plus
    one item's wait at a time.
    """

    def __init__(self, runner: Runner, batch_size: int, n_channels: int):
        self.runner, self.batch_size, self.n_channels = runner, batch_size, n_channels
        self.inputs: list[list[np.ndarray]] | None = None  # per model input, the queued pieces
        self.n_queued = 0
        self.predicted: list[np.ndarray] = []  # pieces of predicted rows not yet handed back
        self.n_predicted = 0
        self.waiting: deque[tuple[int, object]] = deque()  # (rows, key) of items not yet handed back

    def add(self, rows: list[np.ndarray], key) -> list[tuple[np.ndarray, object]]:
        """Queue ``rows`` (one array per model input) under ``key``; predict every full batch."""
        if self.inputs is None:
            self.inputs = [[] for _ in rows]
        for pieces, x in zip(self.inputs, rows):
            if len(x):
                pieces.append(x)
        self.n_queued += len(rows[0])
        self.waiting.append((len(rows[0]), key))
        while self.n_queued >= self.batch_size:
            self._predict(self.batch_size)
        return self._done()

    def finish(self) -> list[tuple[np.ndarray, object]]:
        """Predict the rows still queued (a shorter last call) and hand back every item."""
        if self.n_queued:
            self._predict(self.n_queued)
        return self._done()

    def _predict(self, n: int) -> None:
        """Predict the first ``n`` queued rows."""
        batch = [_take(pieces, n) for pieces in self.inputs]
        pred = self.runner(batch, self.batch_size)
        self.predicted.append(pred.reshape(n, self.n_channels))
        self.n_queued -= n
        self.n_predicted += n

    def _done(self) -> list[tuple[np.ndarray, object]]:
        """The waiting items whose rows are all predicted, with their predictions."""
        done = []
        while self.waiting and self.waiting[0][0] <= self.n_predicted:
            n, key = self.waiting.popleft()
            pred = _take(self.predicted, n) if n else np.empty((0, self.n_channels), np.float32)
            self.n_predicted -= n
            done.append((pred, key))
        return done


def _take(pieces: list[np.ndarray], n: int) -> np.ndarray:
    """The first ``n`` rows of the concatenated ``pieces``, removed from them (a view when one piece holds all)."""
    parts = []
    while n:
        piece = pieces[0]
        parts.append(piece[:n])
        if len(piece) > n:
            pieces[0] = piece[n:]
        else:
            pieces.pop(0)
        n -= len(parts[-1])
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _window_vectors(
    sources: list[Source], windows: Iterable[Window], times: StageTimes,
) -> Iterator[tuple[Window, list[np.ndarray], np.ndarray]]:
    """Per window: the window, per input the valid pixels' ``(N, bands)`` float32 vectors (row-major), and
    the ``(h, w)`` invalid mask (nodata in any selected band of any input)."""
    for window in windows:
        with times("read"):
            reads = [src.read_pixels(window) for src in sources]
        with times("pad"):
            invalid = np.logical_or.reduce([inv for _, inv in reads])
            if invalid.any():
                keep = ~invalid.ravel()
                vectors = [values[keep].astype(np.float32, copy=False) for values, _ in reads]
            else:
                vectors = [values.astype(np.float32, copy=False) for values, _ in reads]
        yield window, vectors, invalid
