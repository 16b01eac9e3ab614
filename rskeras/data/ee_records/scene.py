"""Scene exports: read Earth Engine image patches in order, write predictions back for upload.

``Export.image`` in TFRecord format writes the patches row by row (``patchesPerRow`` to a row)
across files named ``<prefix>-00000.tfrecord.gz``, ``<prefix>-00001...``, plus ``<prefix>mixer.json``.
Predictions go back as a TFRecord of the same patches, in the same order, *without* the kernel
buffer, one float feature per output band, uploaded together with the mixer.json
(``earthengine upload image --asset_id=... predictions.tfrecord mixer.json``; see pipelines/).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Sequence

import numpy as np
import tensorflow as tf

from rskeras.data.ee_records._io import (
    TFRECORD_SUFFIXES,
    brief,
    expand_files,
    first_record,
    named_read_errors,
    output_compression,
    resolve_compression,
    write_text,
)
from rskeras.data.ee_records.layout import Size, buffered_size, kernel_margin, write_patch_records
from rskeras.data.ee_records.mixer import MIXER_SUFFIX, Mixer, find_mixer, mixer_json, read_mixer
from rskeras.data.ee_records.patches import check_features, ee_patch_dataset
from rskeras.io import PathLike, atomic_paths, check_outputs


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

    def sample(self, batch_size: int = 8) -> np.ndarray:
        """The first ``batch_size`` buffered patches, ``(n, stored_h, stored_w, bands)`` float32 (a look at the
        scene's values); a truncated or corrupt file is named in the error."""
        with named_read_errors(self.files):
            return next(iter(self.dataset(batch_size=batch_size))).numpy()


def locate_export(files, mixer: str | os.PathLike | Mixer | None = None) -> tuple[list[str], str | os.PathLike | Mixer]:
    """The export's TFRecord files, sorted by name (patch order), and its mixer (None: the one beside them)."""
    paths = sorted(expand_files(files))
    return paths, mixer if mixer is not None else find_mixer(paths)


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

    Raises:
        KeyError: a band the records lack (the message lists the bands they hold).
        ValueError: a truncated or corrupt first record (the file named), or records whose size
            disagrees with the mixer's ``patchDimensions`` and ``kernel_size`` (with the kernel size
            the numbers imply).
    """
    paths, mixer = locate_export(files, mixer)
    mixer_obj = mixer if isinstance(mixer, Mixer) else read_mixer(mixer)
    comp = resolve_compression(paths, compression)
    path, features = first_record(paths, comp)
    if not bands:
        raise ValueError("bands must name at least one band")
    check_features(path, features, bands, None, mixer_obj.patch_size, kernel_size, patch_from=mixer_obj.source or "the mixer")
    kernel = kernel_size if isinstance(kernel_size, int) else tuple(int(k) for k in kernel_size)
    return SceneExport(tuple(paths), mixer_obj, tuple(bands), kernel, comp)


def crop_buffer(patches: np.ndarray, kernel_size: int | Sequence[int]) -> np.ndarray:
    """``(n, h + 2*mh, w + 2*mw, c)`` -> ``(n, h, w, c)``: drop the kernel buffer of every patch."""
    mh, mw = kernel_margin(kernel_size)
    return patches[:, mh : patches.shape[1] - mh, mw : patches.shape[2] - mw, :]


def prediction_mixer_path(path: PathLike) -> str:
    """The mixer written beside prediction records ``path``: ``<path without .tfrecord[.gz]>-mixer.json``."""
    base = os.fspath(path)
    for suffix in (".gz", ".tfrecord"):
        base = base[: -len(suffix)] if base.lower().endswith(suffix) else base
    return base + "-" + MIXER_SUFFIX


def check_prediction_outputs(
    path: PathLike, mixer_path: PathLike | None = None, inputs: Sequence[PathLike] = (), compression: str | None = "auto"
) -> tuple[str, str]:
    """Refuse prediction outputs before any work; returns ``(mixer path, compression type of the records)``.

    ``path`` must end in ``.tfrecord`` or ``.tfrecord.gz`` (agreeing with ``compression``) and, like
    its mixer, be none of ``inputs`` (paths or glob patterns) nor match an input pattern (a later
    run would read the predictions as part of the export).
    """
    comp = output_compression(path, compression)
    mixer_out = os.fspath(mixer_path) if mixer_path is not None else prediction_mixer_path(path)
    check_outputs([(path, TFRECORD_SUFFIXES, "the prediction file"), (mixer_out, (".json",), "its mixer")], inputs)
    for pattern in (os.fspath(p) for p in inputs):
        if any(c in pattern for c in "*?[") and fnmatch.fnmatch(os.fspath(path), pattern):
            raise ValueError(f"the prediction file {os.fspath(path)} matches the input pattern {pattern!r}: a later run "
                             "would read the predictions as export patches; write them elsewhere")
    return mixer_out, comp


def _prediction_patches(predictions: np.ndarray | Iterable[np.ndarray], n_bands: int, mixer: Mixer,
                        kernel_size: int | Sequence[int]) -> Iterator[np.ndarray]:
    """Single ``(h, w, n_bands)`` patches from prediction batches, buffer cropped; fails past ``totalPatches``."""
    h, w = mixer.patch_size
    stored = buffered_size(mixer.patch_size, kernel_size)
    count = 0
    for batch in [predictions] if isinstance(predictions, np.ndarray) else predictions:
        batch = np.asarray(batch)
        if batch.ndim == 3:
            batch = batch[..., None]
        if batch.shape[1:3] == stored:
            batch = crop_buffer(batch, kernel_size)
        if batch.shape[1:3] != (h, w) or batch.shape[-1] != n_bands:
            raise ValueError(f"prediction patches must be {h}x{w} (or {stored[0]}x{stored[1]} with the kernel buffer) "
                             f"with {n_bands} band(s), got shape {batch.shape[1:]}")
        count += len(batch)
        if count > mixer.total_patches:
            raise ValueError(f"{mixer.source or 'the mixer'} says totalPatches {mixer.total_patches} but more predictions "
                             "were given; nothing was written")
        yield from batch


def write_scene_predictions(
    path: str | os.PathLike,
    predictions: np.ndarray | Iterable[np.ndarray],
    bands: Sequence[str],
    mixer: Mixer,
    kernel_size: int | Sequence[int] = 0,
    compression: str | None = "auto",
    mixer_path: str | os.PathLike | None = None,
    *,
    inputs: Sequence[PathLike] = (),
) -> tuple[str, str]:
    """Write predictions as a TFRecord that Earth Engine ingests as an image, plus its mixer.json.

    Both files appear together, or neither (an error, Ctrl-C or SIGTERM leave nothing).

    Args:
        path: output TFRecord, ``.tfrecord`` or ``.tfrecord.gz`` (GZIP).
        predictions: ``(n, h, w, k)`` array or an iterable of such batches, in export order; with
            the kernel buffer (it is cropped) or without.
        bands: a name per output channel (``k``).
        mixer: the mixer of the export the patches came from.
        kernel_size: the export's ``kernelSize``.
        compression: ``"auto"``: GZIP exactly when ``path`` ends in ``.gz``; ``"GZIP"`` or None
            (plain) must agree with the name.
        mixer_path: where to write the mixer (default: ``<path without .tfrecord[.gz]>-mixer.json``).
        inputs: the files the predictions come from, which the outputs must not overwrite.

    Returns:
        ``(tfrecord path, mixer.json path)``.

    Raises:
        ValueError: an output that is an input or has the wrong suffix, a patch of the wrong size,
            or not ``mixer.total_patches`` patches (nothing is written then).
    """
    mixer_out, comp = check_prediction_outputs(path, mixer_path, [*inputs, *([mixer.source] if mixer.source else [])], compression)
    with atomic_paths(path, mixer_out) as (tmp_records, tmp_mixer):
        count = write_patch_records(tmp_records, _prediction_patches(predictions, len(bands), mixer, kernel_size), bands,
                                    compression=comp)
        if count != mixer.total_patches:
            given = f"{count} patches were predicted from {brief([os.fspath(p) for p in inputs])}" if inputs else f"{count} predictions were given"
            raise ValueError(f"{mixer.source or 'the mixer'} says totalPatches {mixer.total_patches} but {given}; "
                             "nothing was written")
        write_text(tmp_mixer, mixer_json(mixer))
    return os.fspath(path), mixer_out


def predict_scene(
    model,
    scene: SceneExport,
    path: str | os.PathLike,
    bands: Sequence[str] = ("prediction",),
    batch_size: int = 8,
    normalize=None,
    compression: str | None = "auto",
) -> tuple[str, str]:
    """Run ``model`` over a scene export and write its predictions for upload (buffer cropped).

    ``model`` maps ``(batch, stored_h, stored_w, bands)`` to ``(batch, stored_h, stored_w, k)``
    (fully convolutional) or to the unbuffered size. The outputs are checked before the first
    patch is read; a truncated or corrupt export file is named in the error, and nothing is written.
    See :func:`write_scene_predictions` for ``path`` and ``compression``.
    """
    check_prediction_outputs(path, None, [*scene.files, *([scene.mixer.source] if scene.mixer.source else [])], compression)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    ds = scene.dataset(batch_size=batch_size, normalize=normalize)
    batches = (np.asarray(model.predict_on_batch(x)) for x in ds)
    with named_read_errors(scene.files):
        return write_scene_predictions(path, batches, bands, scene.mixer, scene.kernel_size, compression=compression,
                                       inputs=scene.files)


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
