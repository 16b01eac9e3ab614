"""Pixel models over a scene: every valid pixel's band vector -> the model -> the output rasters.

The scene is cut into ``window_size x window_size`` windows (memory: a few windows
of inputs and one of outputs at a time, whatever the scene's size). In each window, pixels
that are nodata in any selected band of any input are left out; the others form
``(N, bands)`` float32 vectors predicted in batches of ``batch_size``, gathered
one window ahead in a reader thread and written in a writer thread (:mod:`rskeras.inference.stages`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import partial

import numpy as np
from rasterio.windows import Window
from tqdm.auto import tqdm

from rskeras.inference.outputs import OutputPlan
from rskeras.inference.model_spec import Runner
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
    with (prefetched(_window_vectors(sources, bar, times)) as steps,
          run_behind(partial(plan.write, outputs), times, "write") as write):
        for window, vectors, invalid in steps:
            valid = ~invalid
            with times("predict"):
                pred = runner(vectors, batch_size) if len(vectors[0]) else None
            with times("blend"):
                full = np.zeros((plan.n_channels, *invalid.shape), np.float32)
                if pred is not None:
                    full[:, valid] = pred.reshape(len(vectors[0]), plan.n_channels).T
            write(full, invalid, window)
            n_nodata += int(invalid.sum())
            n_valid += int(valid.sum())
    return n_valid, n_nodata


def _window_vectors(
    sources: list[Source], windows: Iterable[Window], times: StageTimes,
) -> Iterator[tuple[Window, list[np.ndarray], np.ndarray]]:
    """Per window: the window, per input the valid pixels' ``(N, bands)`` float32 vectors, and the
    ``(h, w)`` invalid mask (nodata in any selected band of any input)."""
    for window in windows:
        with times("read"):
            reads = [src.read(window) for src in sources]
        with times("pad"):
            invalid = np.logical_or.reduce([inv for _, inv in reads])
            valid = ~invalid
            vectors = [np.ascontiguousarray(values[:, valid].T) for values, _ in reads]
        yield window, vectors, invalid
