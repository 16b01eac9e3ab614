"""Test helpers shared by the model tests: small batches of real EuroSAT patches."""

from __future__ import annotations

import csv
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio


def eurosat_batch(eurosat_dir: Path, n: int = 8, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """``n`` real EuroSAT RGB patches, cycling through the classes so that each batch mixes them.

    Returns:
        ``(images, labels)``: ``(n, 64, 64, 3)`` float32 digital numbers 0..255 and
        ``(n,)`` int32 class labels (label_map.json order).
    """
    import tensorflow as tf

    with open(eurosat_dir / f"{split}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    by_class: dict[int, list[str]] = {}
    for row in rows:
        by_class.setdefault(int(row["label"]), []).append(row["filename"])
    classes = sorted(by_class)
    picked = [(classes[i % len(classes)], by_class[classes[i % len(classes)]][i // len(classes)]) for i in range(n)]
    images = [tf.io.decode_jpeg(tf.io.read_file(str(eurosat_dir / name)), channels=3).numpy() for _, name in picked]
    return np.stack(images).astype("float32"), np.array([label for label, _ in picked], dtype="int32")


@contextmanager
def dtype_policy(name: str):
    """Run under the Keras dtype policy ``name`` (e.g. ``"mixed_float16"``), restoring the previous one afterwards."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


def train_steps(model, x, y, steps: int = 5) -> list[float]:
    """The loss of each of ``steps`` ``train_on_batch`` calls on the same batch (before each update)."""
    losses = []
    for _ in range(steps):
        result = model.train_on_batch(x, y, return_dict=True)
        losses.append(float(result["loss"]))
    return losses


def hls_chips(path, size: int, count: int) -> np.ndarray:
    """``count`` non-overlapping ``size x size`` chips of the real HLS scene, raw values, no nodata."""
    with rasterio.open(path) as src:
        image = src.read(out_dtype="float32").transpose(1, 2, 0)
        nodata = src.nodata
    n = image.shape[0] // size
    chips = [image[r * size:(r + 1) * size, c * size:(c + 1) * size] for r in range(n) for c in range(n)]
    chips = [chip for chip in chips if not (chip == nodata).any()]
    return np.stack(chips[:count])
