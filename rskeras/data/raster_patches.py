"""``raster_dataset``: GeoTIFF/COG scenes and their labels -> a ``tf.data.Dataset`` of patches for ``model.fit``.

The pipeline, per epoch:

1. A sampler (:mod:`rskeras.data.samplers`) gives windows ``(scene, row, col)`` on the scenes'
   target grids (:mod:`rskeras.data.raster_scenes`), within a subset of a spatial split if one is
   given.
2. Windows are read in groups (``tf.data`` map with ``tf.numpy_function``; each reader thread holds
   its own GDAL handles, and GDAL reads without the GIL): the image bands through a ``WarpedVRT``
   (bilinear) or directly where a file lies on the grid, the labels likewise (nearest) or burnt from
   vectors (:mod:`rskeras.data.label_sources`). Only the windows are read, and a group's validity,
   nodata shares and targets are worked out in one NumPy call each.
3. Targets are made from the window's labels (see :data:`TARGETS`). Every pixel that is nodata,
   NaN or outside in any image band, or unlabelled, gets the ignore value (``ignore_value`` for
   classes, NaN for values): never a class. A window whose image is invalid in more than
   ``max_nodata`` of its pixels is skipped, and so is one whose target holds no label.
4. Optional cache (memory or file, as in :func:`rskeras.data.ee_patch_dataset`), shuffling,
   flips and 90-degree rotations (image and dense target together), batching, prefetching.

Targets (``target=``):

============  ================================  =====================================================
``target``    shape and dtype                   what
============  ================================  =====================================================
dense         ``(H, W, 1)`` int32 / float32     per pixel: class index or value (segmentation, U-Net)
majority      ``()`` int32                      the class most labelled pixels hold (a tie: lowest index)
centre        ``()`` int32                      the class of pixel ``(H // 2, W // 2)``
multilabel    ``(n_classes,)`` float32 0/1      1 for each class with at least one pixel in the patch
pixel         images ``(bands,)``, ``()``       every labelled pixel's band vector (pixel models, ``ann``)
============  ================================  =====================================================

With classes, a dense target holds ``ignore_value`` where there is no label; compile the model
with ``Task.compile(..., ignore_class=dataset.ignore_value)`` so those pixels count neither in the
loss nor in the accuracy. The returned dataset carries ``class_names``, ``band_names``,
``ignore_value``, ``class_counts`` (labelled pixels per class in the scenes, or in the subset of a
split; None without classes) and
``windows_per_epoch``.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import tensorflow as tf
from rasterio.enums import Resampling

from rskeras.data.augment import dihedral_patch
from rskeras.data.label_sources import LabelSource, census, open_labels
from rskeras.data.raster_scenes import (
    BandSelection,
    Scene,
    SceneSpec,
    WindowReader,
    open_scenes,
)
from rskeras.data.samplers import (
    GridSampler,
    RandomSampler,
    Split,
    WindowPlan,
    as_size,
    split_maps,
)
from rskeras.data.sensors import SensorSpec
from rskeras.io import check_output

AUTOTUNE = tf.data.AUTOTUNE
TARGETS = ("dense", "majority", "centre", "multilabel", "pixel")
SAMPLERS = ("random", "grid")
DEFAULT_IGNORE_VALUE = 255
BALANCE_SAMPLE = 100_000  # census pixels kept per class and scene for balanced sampling
#: Windows read per Python call: one call per window spends more time handing the GIL between
#: tf.data's threads than reading (GDAL reads without the GIL, so calls in parallel still overlap).
READ_GROUP = 32
_ALIGN = 64  # bytes: the alignment TensorFlow's CPU allocator keeps (EIGEN_MAX_ALIGN_BYTES)


def _pipeline_options() -> tf.data.Options:
    """tf.data's autotuner off: its model thread made the end of one iterator in five wait 0.1-0.5 s with the
    GIL held (no thread of the process runs meanwhile; 8 of 40 passes against 0 of 40 without it, measured
    on 1,024 windows), and it has nothing to tune here (read threads and prefetching are set)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


_OPTIONS = _pipeline_options()


def raster_dataset(
    images: SceneSpec | Sequence[SceneSpec],
    labels: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    bands: BandSelection = None,
    sensor: str | SensorSpec | None = None,
    patch_size: int | Sequence[int] = 64,
    sampler: Literal["random", "grid"] | GridSampler | RandomSampler = "random",
    split: Split | None = None,
    subset: str | None = None,
    label_column: str | None = None,
    label_layer: str | int | None = None,
    classes: Sequence | Mapping | None = None,
    values: bool = False,
    target: str = "dense",
    buffer: float = 0.0,
    ignore_value: int = DEFAULT_IGNORE_VALUE,
    max_nodata: float = 0.5,
    crs: str | None = None,
    resolution: float | tuple[float, float] | None = None,
    batch_size: int | None = 32,
    shuffle: int = 0,
    augment: bool = False,
    cache: Literal["memory"] | str | os.PathLike | None = None,
    repeat: bool | int = False,
    drop_remainder: bool = False,
    prefetch: bool = True,
    num_parallel_reads: int | None = None,
    seed: int = 0,
) -> tf.data.Dataset:
    """A dataset of ``(patch, target)`` from GeoTIFF/COG scenes and a label raster or vector file.

    Args:
        images: the scenes: a file, a glob pattern, a mapping band name -> one-band file, or a list
            of these and of lists of files stacked band-wise (:mod:`rskeras.data.raster_scenes`).
        labels: a label raster (classes or values), a list of them (one per scene), or a vector
            file (GeoPackage, Shapefile, GeoJSON, ...) with ``label_column``; None: images only.
        bands: band indexes (1-based) or names (descriptions, ``band_<i>``, sensor names with
            ``sensor``); ``{input: bands}`` for a model with several inputs, which makes the
            patch a dict; None: all bands.
        sensor: a :data:`rskeras.data.SENSORS` key naming the bands of undescribed one-file scenes.
        patch_size: ``(height, width)`` or one side, in target pixels.
        sampler: ``"random"``, ``"grid"``, or a :class:`RandomSampler` / :class:`GridSampler`.
        split: a :class:`BlockSplit` or :class:`RegionSplit`; ``subset`` names the part to read.
        subset: ``"train"``, ``"validation"``, ``"test"`` or a region name of ``split``.
        label_column: the class or value column of vector labels.
        label_layer: the layer of a vector file with several.
        classes: the label values in class-index order, or a mapping label value -> class name;
            None: the values found, in natural order.
        values: the labels are values (regression) rather than classes.
        target: ``"dense"``, ``"majority"``, ``"centre"``, ``"multilabel"`` or ``"pixel"`` (see the module).
        buffer: buffer of vector points and lines in target CRS units (metres for UTM).
        ignore_value: the target of unlabelled and nodata pixels (classes); must not be a class index.
        max_nodata: skip windows whose image is nodata in more than this fraction of pixels.
        crs, resolution: the target grid (default: the first scene's).
        batch_size: patches per batch; None yields single patches.
        shuffle: a shuffle buffer in patches (0: none). Grid windows are then read in a new random
            order each epoch; cached patches are shuffled in a buffer of this size.
        augment: random flips and 90-degree rotations of the image and a dense target.
        cache: ``"memory"`` or a cache file path: the patches of the first epoch are kept, so later
            epochs read nothing (a random sampler then repeats its first epoch's windows).
        repeat: True repeats forever, an int that many times, False once.
        drop_remainder: drop a last, smaller batch.
        prefetch: prefetch batches (AUTOTUNE).
        num_parallel_reads: groups of windows read at once; None: :func:`default_read_threads` (one on
            a 2-core machine, where parallel Python readers slowed ``model.fit`` to 0.58x of an in-memory
            feed against 0.84x with one; raise it for remote or reprojected rasters on a larger machine).
        seed: seeds the sampler, the split's census sample, shuffling and augmentation.

    Returns:
        ``tf.data.Dataset`` of ``(image, target)`` (images only without labels); images float32
        ``(batch, H, W, bands)`` of raw values (a dict per input with grouped bands); targets as
        in the module's table.

    Raises:
        FileNotFoundError / ValueError / KeyError naming the file, band, column or field at fault
        (see :mod:`rskeras.data.raster_scenes`, :mod:`rskeras.data.label_sources` and
        :mod:`rskeras.data.samplers`), all before any patch is read.
    """
    opened = open_patches(images, labels, bands=bands, sensor=sensor, patch_size=patch_size, sampler=sampler,
                          split=split, subset=subset, label_column=label_column, label_layer=label_layer,
                          classes=classes, values=values, target=target, buffer=buffer, ignore_value=ignore_value,
                          max_nodata=max_nodata, crs=crs, resolution=resolution, seed=seed,
                          check=lambda scenes, source: _check_cache(cache, scenes, source))
    plan, read, groups, source = opened.plan, opened.reader, opened.groups, opened.reader.labels
    dataset = _pipeline(plan, read, groups, target, batch_size, shuffle, augment, cache, repeat, drop_remainder,
                        prefetch, num_parallel_reads, seed)
    dataset.class_names = opened.class_names
    dataset.band_names = groups or opened.band_names
    dataset.ignore_value = (ignore_value if not values else float("nan")) if source is not None else None
    dataset.class_counts = opened.class_counts
    dataset.windows_per_epoch = plan.length()
    return dataset


@dataclass
class OpenedPatches:
    """What :func:`raster_dataset` and :func:`rskeras.beam.chip_scenes` share: the one window plan and the one
    patch reader over the scenes (so both give the same windows, patches and targets).

    Attributes:
        plan: the windows of each epoch (:class:`rskeras.data.samplers.WindowPlan`).
        reader: reads windows into patches and targets (:class:`PatchReader`); picklable, so a worker of a
            distributed pipeline reads with the same rules (each process opens its own files).
        groups: ``{input: band names}`` for grouped bands, else None.
        class_counts: labelled pixels per class (classes only), else None.
    """

    plan: WindowPlan
    reader: "PatchReader"
    groups: dict[str, list[str]] | None
    class_counts: list[int] | None

    @property
    def band_names(self) -> list[str]:
        """The image's channels, in order."""
        return [band.name for band in self.reader.scenes[0].bands]

    @property
    def class_names(self) -> list[str] | None:
        """The class names (index order), or None without classes."""
        labels = self.reader.labels
        return list(labels.table.names) if labels is not None and labels.table else None


def open_patches(
    images: SceneSpec | Sequence[SceneSpec],
    labels: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    *,
    bands: BandSelection = None,
    sensor: str | SensorSpec | None = None,
    patch_size: int | Sequence[int] = 64,
    sampler: Literal["random", "grid"] | GridSampler | RandomSampler = "random",
    split: Split | None = None,
    subset: str | None = None,
    label_column: str | None = None,
    label_layer: str | int | None = None,
    classes: Sequence | Mapping | None = None,
    values: bool = False,
    target: str = "dense",
    buffer: float = 0.0,
    ignore_value: int = DEFAULT_IGNORE_VALUE,
    max_nodata: float = 0.5,
    crs: str | None = None,
    resolution: float | tuple[float, float] | None = None,
    seed: int = 0,
    check: Callable[[list[Scene], LabelSource | None], None] | None = None,
) -> OpenedPatches:
    """Open the scenes and labels, check the options and plan the windows, as :func:`raster_dataset` documents
    its arguments; ``check(scenes, labels)`` runs after opening and before the (possibly long) planning.

    Raises:
        as :func:`raster_dataset`, all before any patch is read.
    """
    patch = as_size(patch_size, "patch_size")
    _check_options(target, values, labels, max_nodata, ignore_value)
    scenes, groups = open_scenes(images, bands, sensor=sensor, crs=crs, resolution=resolution)
    reader = WindowReader()
    source = None
    if labels is not None:
        source = open_labels(labels, scenes, reader, column=label_column, kind="values" if values else "classes",
                             classes=classes, buffer=buffer, layer=label_layer)
        _check_ignore_value(source, ignore_value)
    if check is not None:
        check(scenes, source)
    plan, counts = _plan(scenes, source, patch, _as_sampler(sampler), split, subset, seed,
                         centred=target == "centre")
    read = PatchReader(scenes, source, reader, patch, target, ignore_value, max_nodata)
    return OpenedPatches(plan, read, groups, counts)


def _check_cache(cache, scenes: list[Scene], source: LabelSource | None) -> None:
    """Refuse a cache file that is one of the inputs (before any work)."""
    if cache not in (None, "memory"):
        check_output(cache, inputs=[f for s in scenes for f in s.files] + (source.paths if source else []),
                     what="cache")


def _check_options(target: str, values: bool, labels, max_nodata: float, ignore_value: int) -> None:
    if target not in TARGETS:
        raise ValueError(f"target {target!r} is not one of {', '.join(TARGETS)}")
    if values and target not in ("dense", "pixel"):
        raise ValueError(f"target {target!r} needs classes; values (regression) take target 'dense' or 'pixel'")
    if labels is None and target != "dense":
        raise ValueError(f"target {target!r} needs labels=")
    if not 0 <= max_nodata <= 1:
        raise ValueError(f"max_nodata is a fraction of a patch's pixels in [0, 1], got {max_nodata!r}")
    if isinstance(ignore_value, bool) or not isinstance(ignore_value, (int, np.integer)):
        raise ValueError(  # noqa: TRY004  (a bad value of an option, like the others here)
            f"ignore_value must be an integer (the target of unlabelled pixels), got {ignore_value!r}")


def _check_ignore_value(source: LabelSource, ignore_value: int) -> None:
    """The ignore value must not be the index of a class."""
    table = source.table
    if table is not None and 0 <= ignore_value < len(table):
        raise ValueError(f"ignore_value {ignore_value} is the index of class {table.names[ignore_value]!r} of "
                         f"labels {source.source} (classes: {table.listing()}); choose a value outside "
                         f"0..{len(table) - 1}, e.g. {DEFAULT_IGNORE_VALUE}")


def _as_sampler(sampler) -> GridSampler | RandomSampler:
    if isinstance(sampler, (GridSampler, RandomSampler)):
        return sampler
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r} is not one of {', '.join(SAMPLERS)} (or a GridSampler / RandomSampler)")
    return GridSampler() if sampler == "grid" else RandomSampler()


def _plan(scenes: list[Scene], source: LabelSource | None, patch, sampler, split: Split | None, subset: str | None,
          seed: int, centred: bool) -> tuple[WindowPlan, list[int] | None]:
    """The window plan and the labelled pixels per class (classes only)."""
    if (split is None) != (subset is None):
        raise ValueError("give split= and subset= together (the split, and which of its subsets to read)")
    maps, code = split_maps(split, scenes, subset) if split is not None else (None, 0)
    balanced = isinstance(sampler, RandomSampler) and sampler.balanced
    counted = None
    if source is not None and source.table is not None:
        counted = census(source, scenes, BALANCE_SAMPLE if balanced else 0, seed, maps, code)
    plan = WindowPlan([s.shape for s in scenes], [s.name for s in scenes], patch, sampler, maps, code,
                      counted.pixels if counted else None, seed, centred)
    return plan, counted.counts.sum(axis=0).tolist() if counted else None


class PatchReader:
    """Reads one window: ``(image (H, W, bands) float32, target, keep)``, as :mod:`raster_patches` describes."""

    def __init__(self, scenes: list[Scene], labels: LabelSource | None, reader: WindowReader, patch: tuple[int, int],
                 target: str, ignore_value: int, max_nodata: float):
        self.scenes, self.labels, self.reader, self.patch = scenes, labels, reader, patch
        self.target, self.ignore_value, self.max_nodata = target, ignore_value, max_nodata
        self.n_classes = len(labels.table) if labels is not None and labels.table else 0
        self._files = [_files_of(scene) for scene in scenes]
        self.n_bands = len(scenes[0].bands)

    @property
    def target_spec(self) -> tf.TensorSpec:
        """Shape and dtype of one target."""
        h, w = self.patch
        if self.labels is None:
            return tf.TensorSpec((), tf.int32)
        if self.target in ("majority", "centre"):
            return tf.TensorSpec((), tf.int32)
        if self.target == "multilabel":
            return tf.TensorSpec((self.n_classes,), tf.float32)
        return tf.TensorSpec((h, w, 1), tf.float32 if self.labels.kind == "values" else tf.int32)

    def read(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(images (n, bands, H, W) float32, targets, valid (n, H, W) bool, kept (n,) int)``: the windows
        ``(scene, row, col)`` kept by the module's rules, their image validity and their positions in ``windows``.

        Each scene's windows are read in one pass per file, and their validity, nodata shares and targets are
        worked out for all of them at once. Images are band-first: NumPy casts a band-first window in a tenth
        of the time it takes to write it channels-last; the pipeline transposes whole groups in TensorFlow,
        outside the GIL.
        """
        windows = np.asarray(windows, dtype=np.int64).reshape(-1, 3)
        images = _aligned_empty((len(windows), self.n_bands, *self.patch), np.float32)
        valid = np.ones((len(windows), *self.patch), dtype=bool)
        for scene_index, at in _by_scene(windows):
            valid[at] = self._images(scene_index, windows[at, 1:].tolist(), images, at)
        keep = (~valid).sum(axis=(1, 2)) <= self.max_nodata * self.patch[0] * self.patch[1]
        spec = self.target_spec
        targets = _aligned_empty((len(windows), *spec.shape), spec.dtype.as_numpy_dtype)
        targets[...] = 0
        if self.labels is not None:
            for scene_index, at in _by_scene(windows, keep):
                labels = self.labels.read_many(scene_index, self.scenes[scene_index], windows[at, 1:].tolist(),
                                               self.patch)
                targets[at], keep[at] = self._targets(labels, valid[at])
        if keep.all():  # no copy
            return images, targets, valid, np.arange(len(windows))
        kept = np.flatnonzero(keep)
        return images[kept], targets[kept], valid[kept], kept

    def _images(self, scene_index: int, origins: list[list[int]], images: np.ndarray, at) -> np.ndarray:
        """Write one scene's windows into ``images[at]`` (``(k, bands, H, W)`` float32, 0 where invalid); returns
        their validity ``(k, H, W)``."""
        scene = self.scenes[scene_index]
        valid = None
        for path, indexes, channels in self._files[scene_index]:
            values, ok = self.reader.read_many(path, indexes, scene.grid, origins, self.patch, Resampling.bilinear)
            if isinstance(at, slice) and len(channels) == self.n_bands:
                images[at] = values
            else:
                images[np.ix_(np.arange(len(images))[at], channels)] = values
            valid = ok if valid is None else valid & ok
        if not valid.all():
            images[at] = np.where(valid[:, None], images[at], np.float32(0))
        return valid

    def _targets(self, labels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The targets of windows from their ``(k, H, W)`` labels, and whether each holds any label."""
        if self.labels.kind == "values":
            labels = np.where(valid, labels, np.float32(np.nan))
            return labels[..., None], np.isfinite(labels).any(axis=(1, 2))
        if not valid.all():
            labels = np.where(valid, labels, -1)
        if self.target in ("dense", "pixel"):
            labelled = labels >= 0
            return np.where(labelled, labels, self.ignore_value)[..., None], labelled.any(axis=(1, 2))
        if self.target == "centre":
            centre = labels[:, self.patch[0] // 2, self.patch[1] // 2]
            return centre, centre >= 0
        counts = _class_counts(labels, self.n_classes)
        if self.target == "majority":
            return np.argmax(counts, axis=1), counts.any(axis=1)
        return (counts > 0).astype(np.float32), counts.any(axis=1)  # multilabel


def _aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """``np.empty`` on a 64-byte boundary: TensorFlow then takes the array returned by ``tf.numpy_function`` as it
    is, where it copies any other (a copy of every patch)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    buffer = np.empty(size + _ALIGN, dtype=np.uint8)
    start = -buffer.ctypes.data % _ALIGN
    return buffer[start:start + size].view(dtype).reshape(shape)


def _by_scene(windows: np.ndarray, keep: np.ndarray | None = None):
    """``(scene, at)`` for each scene of ``windows`` (among ``keep``): ``at`` a slice when the group is one scene
    (so its arrays are written in place), else the positions."""
    scenes = np.unique(windows[:, 0] if keep is None else windows[keep, 0]).tolist()
    if len(scenes) == 1 and (keep is None or keep.all()):
        yield scenes[0], slice(None)
        return
    for scene in scenes:
        mine = windows[:, 0] == scene
        yield scene, np.flatnonzero(mine if keep is None else mine & keep)


def _class_counts(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``(k, n_classes)`` labelled pixels per class of each window of ``labels`` ``(k, H, W)`` (-1 unlabelled)."""
    k = len(labels)
    slots = labels.reshape(k, -1) + 1 + (n_classes + 1) * np.arange(k)[:, None]  # slot 0 of each window: unlabelled
    return np.bincount(slots.ravel(), minlength=k * (n_classes + 1)).reshape(k, n_classes + 1)[:, 1:]


def _files_of(scene: Scene) -> list[tuple[str, list[int], list[int]]]:
    """``(file, its band indexes, their channels in the image)`` for each file a scene's bands come from."""
    found: dict[str, tuple[list[int], list[int]]] = {}
    for channel, band in enumerate(scene.bands):
        indexes, channels = found.setdefault(band.path, ([], []))
        indexes.append(band.index)
        channels.append(channel)
    return [(path, indexes, channels) for path, (indexes, channels) in found.items()]


def default_read_threads() -> int:
    """Read threads when none are given: half the CPU cores, 1 to 4.

    The reader is Python between GDAL's reads, so its threads share the GIL with the training loop; the
    other half of the cores is left to the model.
    """
    return max(1, min(4, (os.cpu_count() or 1) // 2))


def _windows(plan: WindowPlan, shuffle: int, cache, seed: int) -> tf.data.Dataset:
    """The windows of each epoch: a grid once (reshuffled each epoch when shuffling), random draws anew."""
    if isinstance(plan.sampler, GridSampler):
        windows = tf.data.Dataset.from_tensor_slices(plan.windows())
        if shuffle and cache is None:
            windows = windows.shuffle(plan.length(), seed=seed, reshuffle_each_iteration=True)
        return windows
    epochs = itertools.count()

    def draw() -> np.ndarray:  # the next epoch's windows (n, 3) int64
        return plan.windows(next(epochs)).astype(np.int64, copy=False)

    # one call per iterator; a numpy_function starts in under 1 ms, ``from_generator`` in 10-20 ms an epoch
    return tf.data.Dataset.range(1).map(
        lambda _: tf.ensure_shape(tf.numpy_function(draw, [], tf.int64, stateful=True), (None, 3))).unbatch()


def _pipeline(plan: WindowPlan, read: PatchReader, groups: dict[str, list[str]] | None, target: str,
              batch_size: int | None, shuffle: int, augment: bool, cache, repeat, drop_remainder: bool,
              prefetch: bool, num_parallel_reads: int | None, seed: int) -> tf.data.Dataset:
    """The windows, read in groups of :data:`READ_GROUP`, split into patches for the per-patch steps (pixels,
    cache, shuffle buffer, augmentation) and batched; without per-patch steps the groups are rebatched whole."""
    reads = _windows(plan, shuffle, cache, seed).batch(READ_GROUP).map(
        _group_reader(read), num_parallel_calls=num_parallel_reads or default_read_threads(), deterministic=True)
    # a map of its own: the next read starts while TensorFlow transposes (outside the GIL)
    reads = reads.map(_channels_last, num_parallel_calls=AUTOTUNE, deterministic=True)
    shuffled = shuffle and (cache is not None or isinstance(plan.sampler, RandomSampler) or target == "pixel")
    augmented = augment and target != "pixel"
    if batch_size is not None and target != "pixel" and cache is None and not shuffled and not augmented:
        # as ``unbatch().batch()``, with one copy of each group's arrays instead of a tf.data element per patch
        patches = _repeated(reads, repeat).rebatch(batch_size, drop_remainder=drop_remainder)
    else:
        patches = _per_patch(reads, read, target, shuffle if shuffled else 0, augmented, cache, repeat, seed)
        if batch_size is not None:
            patches = patches.batch(batch_size, drop_remainder=drop_remainder)
    if groups is not None:
        patches = patches.map(functools.partial(_split_groups, groups=groups))
    if read.labels is None:
        patches = patches.map(_image_only)
    return (patches.prefetch(AUTOTUNE) if prefetch else patches).with_options(_OPTIONS)


def _per_patch(reads: tf.data.Dataset, read: PatchReader, target: str, shuffle: int, augment: bool, cache, repeat,
               seed: int) -> tf.data.Dataset:
    """The groups of ``reads`` as single patches (or pixels), cached, shuffled, repeated and augmented."""
    patches = reads.unbatch()
    if target == "pixel":
        patches = patches.map(_labelled_pixels(read)).unbatch()
    if cache is not None:
        patches = patches.cache("" if cache == "memory" else os.fspath(cache))
    if shuffle:
        patches = patches.shuffle(shuffle, seed=seed, reshuffle_each_iteration=True)
    patches = _repeated(patches, repeat)
    if augment:
        # one call at a time: the random draws of a parallel map go to whichever patch is first (irreproducible)
        patches = patches.map(_augmenter(target == "dense" and read.labels is not None, seed))
    return patches


def _repeated(dataset: tf.data.Dataset, repeat: bool | int) -> tf.data.Dataset:
    """``dataset`` repeated: forever for True, ``repeat`` times for a number, as it is for False or 0."""
    return dataset.repeat(None if repeat is True else int(repeat)) if repeat else dataset


def _group_reader(read: PatchReader):
    """``windows (n, 3)`` -> ``(images (k, bands, H, W) float32, targets (k, ...))``: the kept windows, read by
    :meth:`PatchReader.read`."""
    h, w = read.patch
    spec = read.target_spec

    def many(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        images, targets, _, _ = read.read(windows)
        return images, targets

    def read_windows(windows):
        image, label = tf.numpy_function(many, [windows], [tf.float32, spec.dtype], stateful=False)
        return tf.ensure_shape(image, (None, read.n_bands, h, w)), tf.ensure_shape(label, (None, *spec.shape))

    return read_windows


def _channels_last(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """``(k, bands, H, W)`` -> ``(k, H, W, bands)``."""
    return tf.transpose(images, [0, 2, 3, 1]), labels


def _image_only(image, label):
    return image


def _labelled_pixels(read: PatchReader):
    """``(H, W, bands), (H, W, 1)`` -> ``(n, bands), (n,)``: the labelled pixels of a patch."""
    values = read.labels.kind == "values"

    def pixels(image, label):
        label = tf.reshape(label, [-1])
        labelled = tf.math.is_finite(label) if values else tf.not_equal(label, read.ignore_value)
        return tf.boolean_mask(tf.reshape(image, [-1, image.shape[-1]]), labelled), tf.boolean_mask(label, labelled)

    return pixels


def _split_groups(image: tf.Tensor, label: tf.Tensor, groups: dict[str, list[str]]):
    """The image's channels as ``{input: (..., H, W, bands of that input)}`` (a patch or a batch)."""
    ends = np.cumsum([len(names) for names in groups.values()])
    return {name: image[..., end - len(names):end] for (name, names), end in zip(groups.items(), ends)}, label


def _augmenter(dense: bool, seed: int):
    """Flips and 90-degree rotations of a patch (and of a dense target)."""

    def augment(image, label):
        moved = dihedral_patch([image, label] if dense else [image], seed)
        return moved[0], moved[-1] if dense else label

    return augment
