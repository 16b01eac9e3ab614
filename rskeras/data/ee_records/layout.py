"""Earth Engine's TFRecord patch layout (sizes, kernel buffer), and a writer that follows it exactly.

Earth Engine writes one ``tf.train.Example`` per patch. Every band is a feature holding a
``float_list`` of ``height * width`` values in row-major order (row 0 first, west to east);
scalar properties of table exports are ``float_list`` features of length 1. Image exports with
``kernelSize`` [kx, ky] store each patch with a buffer of ``kx // 2`` columns and ``ky // 2`` rows
on every side, so neighbouring patches overlap and a stored patch is
``(h + 2 * (ky // 2)) x (w + 2 * (kx // 2))`` values (the tutorials' 256 + 128 = 384).

Sizes in this module are ``(height, width)`` in pixels; Earth Engine's own lists
(``patchDimensions``, ``kernelSize``) are ``[width, height]`` and are converted where they are read.
The records themselves are encoded by :mod:`rskeras.data.ee_records.example_codec`.
"""

from __future__ import annotations

import math
import os
from typing import Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from rskeras.data.ee_records._io import TFRECORD_SUFFIXES, output_compression
from rskeras.data.ee_records.example_codec import encode_patch, patch_feature_spec  # noqa: F401  (public here too)
from rskeras.io import atomic_path, check_output

Size = tuple[int, int]


def as_size(size: int | Sequence[int], what: str = "patch_size") -> Size:
    """``(height, width)`` in pixels from an int (square) or a pair of ints.

    Raises:
        ValueError: not whole numbers, or not positive (``kernel_size`` may be 0).
    """
    values = [size, size] if isinstance(size, (int, np.integer)) else list(size) if isinstance(size, (Sequence, np.ndarray)) else []
    if len(values) != 2 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"{what} must be a whole number of pixels or (height, width), got {size!r}")
    hw = (int(values[0]), int(values[1]))
    if min(hw) < 0 or (what != "kernel_size" and min(hw) == 0):
        raise ValueError(f"{what} must be {'zero or ' if what == 'kernel_size' else ''}positive, got {size!r}")
    return hw


def kernel_margin(kernel_size: int | Sequence[int]) -> Size:
    """Per-side buffer ``(rows, cols)`` that Earth Engine adds for ``kernel_size`` ``(kh, kw)``."""
    kh, kw = as_size(kernel_size, "kernel_size")
    return kh // 2, kw // 2


def buffered_size(patch_size: int | Sequence[int], kernel_size: int | Sequence[int] = 0) -> Size:
    """Stored ``(height, width)`` of a ``patch_size`` patch exported with ``kernel_size``."""
    h, w = as_size(patch_size)
    mh, mw = kernel_margin(kernel_size)
    return h + 2 * mh, w + 2 * mw


def _stored_sizes(found: int, patch: Size) -> list[Size]:
    """Stored ``(rows, cols)`` of ``found`` values per band that ``patch`` with some kernel buffer can have.

    Earth Engine adds ``kernelSize // 2`` on each side, so each side grows by an even number of
    pixels. A square patch is taken to have a square kernel (``kernelSize [k, k]``).
    """
    h, w = patch
    if h == w:
        side = math.isqrt(found)
        return [(side, side)] if side * side == found and side >= h and (side - h) % 2 == 0 else []
    pairs = [(r, found // r) for r in range(h, found // w + 1) if found % r == 0]
    return [(r, c) for r, c in pairs if c >= w and (r - h) % 2 == 0 and (c - w) % 2 == 0]


def _kernel_phrase(rows: int, cols: int) -> str:
    if rows == cols:
        return f"kernel_size {rows}"
    return f"kernel_size ({rows}, {cols}) (Earth Engine's kernelSize [{cols}, {rows}])"


def describe_length(
    found: int, patch_size: int | Sequence[int], kernel_size: int | Sequence[int] = 0, *, patch_from: str | None = None
) -> str:
    """Explain a band of ``found`` values that does not fit ``patch_size`` with ``kernel_size``, claiming
    only what the numbers prove.

    A stored band holds ``(h + 2 * (ky // 2)) * (w + 2 * (kx // 2))`` values: its length fixes the
    stored size (the patch plus its buffer), not how that splits into patch and buffer. When the
    patch size is known (``patch_from`` names its source, a mixer.json), the kernel size follows;
    when the caller chose the patch size, the message gives each reading the numbers allow.
    """
    h, w = as_size(patch_size)
    sh, sw = buffered_size((h, w), kernel_size)
    text = f"expected {sh}x{sw} = {sh * sw} values per band but found {found}"
    if found == 1:
        return text + ": a scalar property, not a patch"
    side = math.isqrt(found)
    square = side * side == found
    text += f" = {side}x{side}" if square else ""
    kernels = [_kernel_phrase(r - h, c - w) for r, c in _stored_sizes(found, (h, w))[:3]]
    if patch_from is not None:
        if kernels:
            return text + f": with the patch size {h}x{w} of {patch_from} that is {' or '.join(kernels)}"
        return (text + f": no kernel size gives that with the patch size {h}x{w} of {patch_from} (Earth Engine adds "
                "kernelSize // 2 pixels on each side); is it the mixer.json of this export?")
    readings = ([f"patch_size {side} without kernel_size"] if square else []) + [f"patch_size {h}x{w} with {k}" for k in kernels]
    if not readings:
        return text + ": no patch_size and kernel_size give that; check the export's patchDimensions and kernelSize"
    if len(readings) == 1:
        return text + f": that is {readings[0]}"
    return (text + ": the records fix the stored size (the patch plus kernelSize // 2 on each side), not how it "
            f"splits: {' or '.join(readings)}; check the export's patchDimensions and kernelSize")


def write_patch_records(
    path: str | os.PathLike,
    patches: Iterable[np.ndarray],
    bands: Sequence[str],
    properties: Mapping[str, Sequence[float]] | None = None,
    compression: str = "GZIP",
    compression_level: int = 1,
) -> int:
    """Write patches in Earth Engine's layout to ``path`` as it is (a temporary path of an atomic write).

    Returns:
        The number of records written.

    Raises:
        ValueError: a property without exactly one value per patch, or a patch of the wrong band count.
    """
    props = {k: np.asarray(v) for k, v in (properties or {}).items()}
    options = tf.io.TFRecordOptions(compression_type=compression, compression_level=compression_level) if compression else None
    n = 0
    with tf.io.TFRecordWriter(os.fspath(path), options=options) as writer:
        for n, patch in enumerate(patches, start=1):
            short = [k for k, v in props.items() if len(v) < n]
            if short:
                raise ValueError(f"property {short[0]!r} has {len(props[short[0]])} values for more patches")
            writer.write(encode_patch(patch, bands, {k: v[n - 1] for k, v in props.items()}))
    for name, values in props.items():
        if len(values) != n:
            raise ValueError(f"property {name!r} has {len(values)} values for {n} patches")
    return n


def write_ee_patches(
    path: str | os.PathLike,
    patches: Iterable[np.ndarray],
    bands: Sequence[str],
    properties: Mapping[str, Sequence[float]] | None = None,
    compression: str | None = "auto",
    compression_level: int = 1,
) -> int:
    """Write patches as a TFRecord file in Earth Engine's layout (atomically: whole or not at all).

    Args:
        path: output file (local or ``gs://``), ``*.tfrecord`` or ``*.tfrecord.gz`` (GZIP, as Earth
            Engine names its compressed records).
        patches: ``(n, height, width, bands)`` array or an iterable of ``(height, width, bands)`` patches.
        bands: band names, one per channel.
        properties: per-patch scalar properties, name -> ``n`` values (e.g. a class label).
        compression: ``"auto"``: GZIP exactly when ``path`` ends in ``.gz``; ``"GZIP"`` or None
            (plain) must agree with the name.
        compression_level: zlib level 1-9; 1 writes float patches ~10x faster than 6 for ~5% more bytes.

    Returns:
        The number of records written.
    """
    check_output(path, suffixes=TFRECORD_SUFFIXES, what="path")
    comp = output_compression(path, compression)
    with atomic_path(path) as tmp:
        return write_patch_records(tmp, patches, bands, properties, comp, compression_level)
