"""Scene exports: read Earth Engine image patches in order, write predictions back for upload.

``Export.image`` in TFRecord format writes the patches row by row (``patchesPerRow`` to a row)
across files named ``<prefix>-00000.tfrecord.gz``, ``<prefix>-00001...``, plus ``<prefix>mixer.json``.
Predictions go back as a TFRecord of the same patches, in the same order, *without* the kernel
buffer, one float feature per output band, uploaded together with the mixer.json
(``earthengine upload image --asset_id=... predictions.tfrecord mixer.json``; see pipelines/).

A Keras model of any kind is applied to the stored patches by :class:`ScenePredictor`: a pixel model
(``(bands,)`` input) to every pixel, a dense model (``(H, W, bands)`` -> ``(H, W, n)``) to the whole
buffered patch, a patch classifier (``(P, P, bands)`` -> ``(n,)``) to cells of ``P - overlap`` pixels, each
predicted from the ``P x P`` window centred on it (the layout of ``predict_raster``'s
``patch_output="pixel"``, :mod:`rskeras.inference.patch`).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping, Sequence

import keras
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
from rskeras.data.ee_records.patches import _band_groups, check_features, ee_patch_dataset
from rskeras.inference.patch import patch_grid
from rskeras.inference.model_spec import model_kind
from rskeras.inference.runner import ModelRunner
from rskeras.inference.tiling import reflect_index
from rskeras.io import PathLike, atomic_paths, check_outputs
from rskeras.models.metadata import model_metadata
from rskeras.tasks import get_task

#: What a scene prediction writes: the task's classes, the probabilities, or the values.
OUTPUTS = ("auto", "classes", "probabilities", "values")


@dataclass(frozen=True)
class SceneExport:
    """An image export: its TFRecord files (in patch order), its mixer and the bands to read
    (a tuple, or ``{model input: bands}`` for a model with several inputs)."""

    files: tuple[str, ...]
    mixer: Mixer
    bands: tuple[str, ...] | Mapping[str, tuple[str, ...]]
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
        """Buffered patches ``(batch, stored_h, stored_w, bands)`` float32 (a dict of them by input name for
        grouped bands), in export order."""
        bands = dict(self.bands) if isinstance(self.bands, Mapping) else self.bands
        return ee_patch_dataset(
            list(self.files), bands, patch_size=self.patch_size, kernel_size=self.kernel_size,
            batch_size=batch_size, ordered=True, normalize=normalize, compression=self.compression,
        )

    def sample(self, batch_size: int = 8) -> np.ndarray | dict[str, np.ndarray]:
        """The first ``batch_size`` buffered patches, ``(n, stored_h, stored_w, bands)`` float32 (a dict of them
        for bands given per input): a look at the scene's values; a truncated or corrupt file is named in the
        error."""
        with named_read_errors(self.files):
            return tf.nest.map_structure(lambda t: t.numpy(), next(iter(self.dataset(batch_size=batch_size))))


def locate_export(files, mixer: str | os.PathLike | Mixer | None = None) -> tuple[list[str], str | os.PathLike | Mixer]:
    """The export's TFRecord files, sorted by name (patch order), and its mixer (None: the one beside them)."""
    paths = sorted(expand_files(files))
    return paths, mixer if mixer is not None else find_mixer(paths)


def read_scene_export(
    files,
    bands: Sequence[str] | Mapping[str, Sequence[str]],
    mixer: str | os.PathLike | Mixer | None = None,
    kernel_size: int | Sequence[int] = 0,
    compression: str | None = "auto",
) -> SceneExport:
    """Open an image export for prediction; checks the records against the mixer.

    Args:
        files: the export's TFRecord files (pattern or list); sorted by name, which is patch order.
        bands: input bands of the model, in its channel order; or ``{input name: bands}`` for a model
            with several inputs (as for :func:`~rskeras.data.ee_patch_dataset`).
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
    flat, groups = _band_groups(bands)
    check_features(path, features, flat, None, mixer_obj.patch_size, kernel_size, patch_from=mixer_obj.source or "the mixer")
    kernel = kernel_size if isinstance(kernel_size, int) else tuple(int(k) for k in kernel_size)
    chosen = {name: tuple(names) for name, names in groups.items()} if groups else tuple(flat)
    return SceneExport(tuple(paths), mixer_obj, chosen, kernel, comp)


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


def output_band_names(model: keras.Model, output: str) -> list[str]:
    """Band names of ``model``'s predictions for ``output``: ``class`` (``class_<name>`` per label of a
    multilabel model), ``probability_<class>``, or ``value`` (``value_<i>`` for several values)."""
    meta = model_metadata(model)
    n = model.outputs[0].shape[-1]
    if output == "classes" and meta.task == "multilabel":
        return [f"class_{name}" for name in meta.class_names or range(n)]
    if output == "classes":
        return ["class"]
    if output == "probabilities":
        names = meta.class_names or [str(i) for i in range(n)]
        return [f"probability_{name}" for name in names]
    return ["value"] if n == 1 else [f"value_{i}" for i in range(n)]


def resolve_output(model: keras.Model, output: str | None) -> str:
    """``output`` checked against ``model``'s task; ``"auto"`` is ``"classes"`` for single-label
    classification, else ``"values"``; None is the model's own output (probabilities or values)."""
    if output is not None and output not in OUTPUTS:
        raise ValueError(f"unknown output {output!r}; choose one of {', '.join(OUTPUTS)}")
    task = model_metadata(model).task
    classifier = task is not None and get_task(task).is_classification
    if output is None:
        return "probabilities" if classifier else "values"
    if output == "auto":
        return "classes" if task in ("multiclass", "binary") else "values"
    if output in ("classes", "probabilities") and not classifier:
        raise ValueError(f"output={output!r} needs a classification model; model {model.name!r} has task {task!r} "
                         "(use output='values')")
    return output


class ScenePredictor:
    """A Keras model of any kind applied to the stored patches of a scene export (see the module docstring).

    :meth:`predict_on_batch` maps ``(n, stored_h, stored_w, bands)`` patches (a dict by input name for a
    model with several inputs) to float32 ``(n, h, w, k)`` predictions: the stored size for pixel and
    dense models, the unbuffered ``patch_size`` for patch classifiers. With ``output="classes"`` the
    ``k`` bands are :meth:`rskeras.tasks.Task.decode`'s classes (one band, or one 0/1 band per label).

    Args:
        model: a Keras model with one output (:func:`rskeras.inference.runner.select_output` picks one).
        output: ``"classes"``, ``"probabilities"`` or ``"values"`` (see :func:`resolve_output`).
        patch_size: the export's ``(h, w)`` without buffer; kernel_size: its ``kernelSize``.
        overlap: patch classifiers: cells of ``P - overlap`` pixels (``P`` the model's patch side),
            each predicted from the ``P x P`` window centred on it, mirrored at the stored patch's
            edge (0: cells of ``P x P``; ``P - 1``: a prediction for every pixel).
        batch_size: items per model call (pixels, patches or windows).
    """

    def __init__(self, model: keras.Model, output: str, patch_size: Size, kernel_size: int | Sequence[int] = 0,
                 overlap: int = 0, batch_size: int = 8):
        self.runner = ModelRunner(model)
        meta = model_metadata(model)
        self.kind = model_kind(meta.input_shapes, self.runner.output_shape)
        self.decode = get_task(meta.task) if output == "classes" else None
        self.bands = output_band_names(model, output)
        self.patch_size, self.kernel_size = patch_size, kernel_size
        self.batch_size = batch_size
        self.cells = self._cell_layout(meta.input_shapes[0], overlap) if self.kind == "patch" else None

    def _cell_layout(self, input_shape: tuple, overlap: int) -> tuple[np.ndarray, np.ndarray, int]:
        """``(rows, cols, stride)``: stored-patch pixel indices ``(cells, P)`` of each cell's window."""
        side = input_shape[0]
        if side is None or input_shape[0] != input_shape[1]:
            raise ValueError(f"a patch classifier needs a fixed square input, got {input_shape}")
        if not 0 <= overlap < side:
            raise ValueError(f"overlap must be 0 to {side - 1} for a patch classifier of {side} x {side} px "
                             f"(cells of {side} - overlap px), got {overlap}")
        stride, n_rows, n_cols = patch_grid(*self.patch_size, side, overlap)
        stored, margin = buffered_size(self.patch_size, self.kernel_size), kernel_margin(self.kernel_size)
        pad = overlap // 2
        rows = [reflect_index(np.arange(side) + i * stride - pad + margin[0], stored[0]) for i in range(n_rows)]
        cols = [reflect_index(np.arange(side) + j * stride - pad + margin[1], stored[1]) for j in range(n_cols)]
        return np.stack(rows), np.stack(cols), stride

    def _inputs(self, x) -> list[np.ndarray]:
        """The batch as one float32 array per model input, in the model's order."""
        if isinstance(x, Mapping):
            missing = [name for name in self.runner.input_names if name not in x]
            if missing:
                raise ValueError(f"the export's bands are grouped as {sorted(x)} but the model's inputs are "
                                 f"{self.runner.input_names}; key bands= by input name")
            return [np.asarray(x[name], np.float32) for name in self.runner.input_names]
        return [np.asarray(x, np.float32)]

    def _raw(self, xs: list[np.ndarray]) -> np.ndarray:
        """The model's output for the patches ``xs``, ``(n, h, w, k)``."""
        n, height, width = xs[0].shape[:3]
        if self.kind == "pixel":
            vectors = [x.reshape(n * height * width, x.shape[-1]) for x in xs]
            return self.runner(vectors, 4096).reshape(n, height, width, -1)
        if self.kind == "dense":
            return self.runner(xs, self.batch_size)
        rows, cols, stride = self.cells
        h, w = self.patch_size
        out = []
        for i in range(n):
            cell_rows = [self.runner([x[i][r][:, cols].transpose(1, 0, 2, 3) for x in xs], self.batch_size) for r in rows]
            grid = np.stack(cell_rows)  # (cell rows, cell columns, k)
            out.append(grid.repeat(stride, axis=0).repeat(stride, axis=1)[:h, :w])
        return np.stack(out)

    def predict_on_batch(self, x) -> np.ndarray:
        y = self._raw(self._inputs(x))
        if self.decode is None:
            return y
        classes = self.decode.decode(y).astype(np.float32)
        return classes if classes.ndim == 4 else classes[..., None]


def predict_scene(
    model,
    scene: SceneExport,
    path: str | os.PathLike,
    bands: Sequence[str] | None = None,
    batch_size: int = 8,
    normalize=None,
    compression: str | None = "auto",
    *,
    output: str | None = None,
    overlap: int = 0,
) -> tuple[str, str]:
    """Run ``model`` over a scene export and write its predictions for upload (buffer cropped).

    ``model`` is a Keras model of any kind (see :class:`ScenePredictor`; pixel, patch, dense, one or several
    inputs), or any object whose ``predict_on_batch`` maps ``(batch, stored_h, stored_w, bands)`` to
    ``(batch, stored_h, stored_w, k)`` or to the unbuffered size. The outputs are checked before the first
    patch is read; a truncated or corrupt export file is named in the error, and nothing is written.
    See :func:`write_scene_predictions` for ``path`` and ``compression``.

    Args:
        bands: a name per output band; default: :func:`output_band_names` for a Keras model, else one band
            ``prediction``.
        output: Keras models: ``"classes"``, ``"probabilities"``, ``"values"`` or ``"auto"``; None writes
            the model's own output (probabilities or values).
        overlap: patch classifiers: see :class:`ScenePredictor`.
    """
    check_prediction_outputs(path, None, [*scene.files, *([scene.mixer.source] if scene.mixer.source else [])], compression)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if isinstance(model, keras.Model):
        model = ScenePredictor(model, resolve_output(model, output), scene.patch_size, scene.kernel_size,
                               overlap=overlap, batch_size=batch_size)
        bands = list(bands) if bands is not None else model.bands
    elif bands is None:
        bands = ["prediction"]  # one band; name the bands of any other output
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
