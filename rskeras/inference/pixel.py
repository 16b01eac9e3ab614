"""Pixel models over a scene: every valid pixel's band vector -> the model -> the output rasters.

The scene is cut into ``window_size x window_size`` windows (memory: one window of
inputs and outputs at a time, whatever the scene's size). In each window, pixels
that are nodata in any selected band of any input are left out; the others form
``(N, bands)`` float32 vectors predicted in batches of ``batch_size``.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from rskeras.inference.outputs import OutputPlan
from rskeras.inference.model_spec import Runner
from rskeras.inference.sources import Source
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
) -> tuple[int, int]:
    """Predict every pixel of the aligned ``sources`` and write ``plan``'s outputs.

    Returns:
        ``(n_pixels, n_nodata)``: pixels predicted and pixels left nodata.
    """
    ds = sources[0].dataset
    n_valid = n_nodata = 0
    windows = block_windows(ds.height, ds.width, window_size)
    for window in tqdm(windows, desc="predict", unit="window", disable=not progress):
        reads = [src.read(window) for src in sources]
        invalid = np.logical_or.reduce([inv for _, inv in reads])
        valid = ~invalid
        vectors = [values[:, valid].T for values, _ in reads]  # (N, bands) per input
        full = np.zeros((plan.n_channels, *invalid.shape), np.float32)
        if valid.any():
            full[:, valid] = runner(vectors, batch_size).reshape(len(vectors[0]), plan.n_channels).T
        for index, array in enumerate(plan.encode(full, invalid)):
            outputs.write(index, array, window)
        n_nodata += int(invalid.sum())
        n_valid += int(valid.sum())
    return n_valid, n_nodata
