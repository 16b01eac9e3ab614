"""Scene exports: read Earth Engine image patches in order, write predictions back for upload.

``Export.image`` in TFRecord format writes the patches row by row (``patchesPerRow`` to a row)
across files named ``<prefix>-00000.tfrecord.gz``, ``<prefix>-00001...``, plus ``<prefix>mixer.json``.
Predictions go back as a TFRecord of the same patches, in the same order, *without* the kernel
buffer, one float feature per output band, uploaded together with the mixer.json
(``earthengine upload image --asset_id=... predictions.tfrecord mixer.json``; see pipelines/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import tensorflow as tf

from rskeras.data.ee_records._io import expand_files, resolve_compression
from rskeras.data.ee_records.layout import Size, buffered_size, describe_length, first_record, kernel_margin, write_ee_patches
from rskeras.data.ee_records.mixer import Mixer, find_mixer, read_mixer, write_mixer
from rskeras.data.ee_records.patches import ee_patch_dataset


@dataclass(frozen=True)
class SceneExport:
    """An image export: its TFRecord files (in patch order), its mixer and the bands to read."""

    files: tuple[str, ...]
    mixer: Mixer
    bands: tuple[str, ...]
    kernel_size: int | tuple[int, int]
    compression: str

    @property
    def patch_size(self) -> Size:
        """``(height, width)`` of a patch without buffer."""
        return self.mixer.patch_size

    @property
    def stored_size(self) -> Size:
        """``(height, width)`` of a stored patch, buffer included."""
        return buffered_size(self.patch_size, self.kernel_size)

    def dataset(self, batch_size: int = 8, normalize=None) -> tf.data.Dataset:
        """Buffered patches ``(batch, stored_h, stored_w, bands)`` float32, in export order."""
        return ee_patch_dataset(
            list(self.files), self.bands, patch_size=self.patch_size, kernel_size=self.kernel_size,
            batch_size=batch_size, ordered=True, normalize=normalize, compression=self.compression,
        )


def read_scene_export(
    files,
    bands: Sequence[str],
    mixer: str | os.PathLike | Mixer | None = None,
    kernel_size: int | Sequence[int] = 0,
    compression: str | None = "auto",
) -> SceneExport:
    """Open an image export for prediction; checks the records against the mixer.

    Args:
        files: the export's TFRecord files (pattern or list); sorted by name, which is patch order.
        bands: input bands of the model, in its channel order.
        mixer: the ``mixer.json`` (path or :class:`Mixer`); None finds the one beside the files.
        kernel_size: the export's ``kernelSize`` as ``(rows, cols)`` or an int (0: no buffer).
    """
    paths = sorted(expand_files(files))
    if mixer is None:
        source = find_mixer(paths)
        mixer_obj = read_mixer(source)
    elif isinstance(mixer, Mixer):
        mixer_obj, source = mixer, "the mixer"
    else:
        mixer_obj, source = read_mixer(mixer), os.fspath(mixer)
    comp = resolve_compression(paths, compression)
    path, features = first_record(paths, comp)
    size = buffered_size(mixer_obj.patch_size, kernel_size)
    for b in bands:
        if b not in features:
            have = ", ".join(f"{k} [{n}]" for k, (_, n) in sorted(features.items()))
            raise KeyError(f"Feature: {b} is required but could not be found in the records of {path}; they hold: {have}")
        n = features[b][1]
        if n != size[0] * size[1]:
            h, w = mixer_obj.patch_size
            raise ValueError(
                f"{source} disagrees with the records: its patchDimensions {w}x{h} with kernel_size {kernel_size} "
                f"mean {size[0]}x{size[1]} values per band, but band {b!r} in {path}: {describe_length(n, size, kernel_size)}"
            )
    kernel = kernel_size if isinstance(kernel_size, int) else tuple(int(k) for k in kernel_size)
    return SceneExport(tuple(paths), mixer_obj, tuple(bands), kernel, comp)


def crop_buffer(patches: np.ndarray, kernel_size: int | Sequence[int]) -> np.ndarray:
    """``(n, h + 2*mh, w + 2*mw, c)`` -> ``(n, h, w, c)``: drop the kernel buffer of every patch."""
    mh, mw = kernel_margin(kernel_size)
    return patches[:, mh : patches.shape[1] - mh, mw : patches.shape[2] - mw, :]


def write_scene_predictions(
    path: str | os.PathLike,
    predictions: np.ndarray | Iterable[np.ndarray],
    bands: Sequence[str],
    mixer: Mixer,
    kernel_size: int | Sequence[int] = 0,
    compression: str | None = None,
    mixer_path: str | os.PathLike | None = None,
) -> tuple[str, str]:
    """Write predictions as a TFRecord that Earth Engine ingests as an image, plus its mixer.json.

    Args:
        path: output TFRecord (``.tfrecord`` or ``.tfrecord.gz``).
        predictions: ``(n, h, w, k)`` array or an iterable of such batches, in export order; with
            the kernel buffer (it is cropped) or without.
        bands: a name per output channel (``k``).
        mixer: the mixer of the export the patches came from.
        kernel_size: the export's ``kernelSize``.
        compression: None (plain) or ``"GZIP"``.
        mixer_path: where to write the mixer (default: ``<path without .tfrecord[.gz]>-mixer.json``).

    Returns:
        ``(tfrecord path, mixer.json path)``.

    Raises:
        ValueError: a patch of the wrong size, or not ``mixer.total_patches`` patches.
    """
    h, w = mixer.patch_size
    stored = buffered_size(mixer.patch_size, kernel_size)
    batches = [predictions] if isinstance(predictions, np.ndarray) else predictions

    def patches():
        for batch in batches:
            batch = np.asarray(batch)
            if batch.ndim == 3:
                batch = batch[..., None]
            if batch.shape[1:3] == stored:
                batch = crop_buffer(batch, kernel_size)
            if batch.shape[1:3] != (h, w) or batch.shape[-1] != len(bands):
                raise ValueError(
                    f"prediction patches must be {h}x{w} (or {stored[0]}x{stored[1]} with the kernel buffer) with "
                    f"{len(bands)} band(s) {list(bands)}, got shape {batch.shape[1:]}"
                )
            yield from batch

    count = write_ee_patches(path, _counted(patches(), mixer.total_patches), bands, compression=compression)
    if count != mixer.total_patches:
        raise ValueError(f"the mixer says {mixer.total_patches} patches but {count} predictions were given")
    base = os.fspath(path)
    for suffix in (".gz", ".tfrecord"):
        base = base[: -len(suffix)] if base.endswith(suffix) else base
    mixer_out = os.fspath(mixer_path) if mixer_path is not None else base + "-mixer.json"
    write_mixer(mixer_out, mixer)
    return os.fspath(path), mixer_out


def _counted(items: Iterable[np.ndarray], limit: int):
    """Yield ``items``, failing as soon as there are more than ``limit`` (nothing is then renamed into place)."""
    for i, item in enumerate(items, start=1):
        if i > limit:
            raise ValueError(f"the mixer says {limit} patches but more predictions were given")
        yield item


def predict_scene(model, scene: SceneExport, path: str | os.PathLike, bands: Sequence[str] = ("prediction",), batch_size: int = 8, normalize=None, compression: str | None = None) -> tuple[str, str]:
    """Run ``model`` over a scene export and write its predictions for upload (buffer cropped).

    ``model`` maps ``(batch, stored_h, stored_w, bands)`` to ``(batch, stored_h, stored_w, k)``
    (fully convolutional) or to the unbuffered size.
    """
    ds = scene.dataset(batch_size=batch_size, normalize=normalize)
    batches = (np.asarray(model.predict_on_batch(x)) for x in ds)
    return write_scene_predictions(path, batches, bands, scene.mixer, scene.kernel_size, compression=compression)


def assemble_scene(patches: np.ndarray, mixer: Mixer, kernel_size: int | Sequence[int] = 0) -> np.ndarray:
    """Mosaic ``(n, h, w, c)`` patches (buffered ones are cropped) into ``(rows*h, per_row*w, c)``."""
    patches = np.asarray(patches)
    if patches.shape[0] != mixer.total_patches:
        raise ValueError(f"the mixer says {mixer.total_patches} patches, got {patches.shape[0]}")
    if patches.shape[1:3] != mixer.patch_size:
        patches = crop_buffer(patches, kernel_size)
    h, w = mixer.patch_size
    grid = patches.reshape(mixer.rows, mixer.patches_per_row, h, w, -1)
    return grid.transpose(0, 2, 1, 3, 4).reshape(mixer.rows * h, mixer.patches_per_row * w, -1)
