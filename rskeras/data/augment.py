"""Augmentation of multispectral patches in tf.data, jointly for the image and a per-pixel target.

The steps (``training.augment`` of a config, ``augment=`` of :func:`rskeras.data.ee_patch_dataset`,
or :func:`patch_augmenter` / :func:`batch_augmenter` for any pipeline):

==============  =========================================================  ===============================
step            what it does                                               settings (defaults)
==============  =========================================================  ===============================
``flip``        one of the eight flips and 90-degree rotations per patch   none
``crop``        a random square crop rescaled to the patch size            ``min_scale`` (0.75): smallest
                (bilinear for the image, nearest for the target)           crop side, share of the side
``shift``       a random shift by whole pixels, up to ``pixels`` each way  ``pixels`` (4): the largest
                (rows and columns apart), the edge mirrored in (no          shift; under the patch's side
                resampling, no new values)
``brightness``  per band: ``x * U(1 - gain, 1 + gain) + U(-offset, offset)`` ``gain`` (0.1), ``offset`` (0,
                                                                           data units)
``noise``       Gaussian noise per pixel and band                          ``std`` (data units; required)
``mixup``       Keras' ``MixUp``: patches and their labels blended         ``alpha`` (0.2)
``cutmix``      Keras' ``CutMix``: a box of another patch pasted in,       ``factor`` (1.0)
                labels mixed by area
==============  =========================================================  ===============================

Land cover seen from above has no up or left, so every symmetry of the square (the dihedral
group: identity, three rotations, four reflections) is an equally valid view of a patch. Each
transform copies only the patches it moves (about 1 ms of a core per 256x256x9 patch); a select
over a whole batch would copy every patch for every transform (about 6 ms).

Geometric steps move a per-pixel target (``(H, W)`` or ``(H, W, c)`` per patch) with the image and
resample it by nearest neighbour, so class values and the ignore value (unlabelled pixels, nodata)
stay what they were; a per-patch label is left alone. Radiometric steps act on the image in the
units of the data (reflectance x 10,000 stays so: ``noise: {std: 50}`` is 0.005 reflectance) and
do not clip (surface reflectance has negative values). ``mixup`` and ``cutmix`` need a batch and
one-hot (or 0/1) patch labels: they are for patch classification, not for per-pixel targets.

What Keras 3.15 offers, checked on 8-band float32 patches of 0-10,000 and on label maps with 255:
``RandomZoom``, ``RandomTranslation``, ``RandomRotation`` and ``RandomCrop`` take N bands and, given
``{"images", "segmentation_masks"}``, move masks by nearest neighbour (values kept, returned as
float32); but ``RandomZoom`` crops about the centre only and ``RandomCrop`` returns a smaller patch,
so ``crop`` is written here (``tf.image.crop_and_resize`` with one random box per patch).
``RandomTranslation`` shifts by fractions of the side and resamples bilinearly, so ``shift`` (the
pad-and-crop shift of CIFAR and EuroSAT training recipes, by whole pixels) is written here too.
``RandomBrightness`` adds one value to all bands and clips to ``value_range``, so ``brightness``
is written here. ``MixUp`` and ``CutMix`` mix N-band float images and one-hot labels correctly and
are used; on segmentation masks ``MixUp`` fails on integer masks (and would average class values)
and ``CutMix`` returns the mask with the image's band count.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import tensorflow as tf

#: Each step and its settings with their defaults (None: required).
AUGMENTATIONS: dict[str, dict[str, float | None]] = {
    "flip": {},
    "crop": {"min_scale": 0.75},
    "shift": {"pixels": 4},
    "brightness": {"gain": 0.1, "offset": 0.0},
    "noise": {"std": None},
    "mixup": {"alpha": 0.2},
    "cutmix": {"factor": 1.0},
}
#: Steps that mix patches of a batch (patch classification only).
MIXING = ("mixup", "cutmix")
#: The allowed range of each setting, ``(low, high, low included)``.
_RANGES = {"min_scale": (0.0, 1.0, False), "pixels": (1, float("inf"), True), "gain": (0.0, 1.0, True),
           "offset": (0.0, float("inf"), True), "std": (0.0, float("inf"), False),
           "alpha": (0.0, float("inf"), False), "factor": (0.0, 1.0, False)}
#: Settings that count whole pixels.
_WHOLE = ("pixels",)


@tf.autograph.experimental.do_not_convert  # plain TF ops and tf.cond: nothing for AutoGraph to rewrite
def dihedral_patch(patches: list[tf.Tensor], seed: int | None = None) -> list[tf.Tensor]:
    """One random symmetry applied to every tensor of ``patches`` (each ``(height, width, c)``, e.g.
    an image and its mask): flipped left-right, up-down and transposed, each with probability 1/2;
    flips only for non-square patches."""
    draws = tf.random.uniform([3], 0, 2, dtype=tf.int32, seed=seed) > 0
    transforms = [functools.partial(tf.reverse, axis=[1]), functools.partial(tf.reverse, axis=[0])]
    height, width = patches[0].shape[:2]
    if height is not None and height == width:
        transforms.append(functools.partial(tf.transpose, perm=[1, 0, 2]))
    for flag, transform in zip(tf.unstack(draws), transforms):
        patches = [tf.cond(flag, functools.partial(transform, t), functools.partial(tf.identity, t)) for t in patches]
    return patches


@tf.autograph.experimental.do_not_convert
def dihedral(images: tf.Tensor, targets: tf.Tensor | None = None, seed: int | None = None):
    """:func:`dihedral_patch` drawn for each patch of a batch.

    Args:
        images: ``(batch, H, W, bands)`` patches.
        targets: labels; a dense target ``(batch, H, W, channels)`` gets the same transform,
            any other shape is returned unchanged.
        seed: op seed (the global seed of :func:`rskeras.training.runs.set_seeds` applies too).

    Returns:
        ``images`` (and ``targets`` when given), transformed.
    """
    dense = targets is not None and targets.shape.rank == 4
    moved = (images, targets) if dense else (images,)
    signature = tuple(tf.TensorSpec(t.shape[1:], t.dtype) for t in moved)
    moved = tf.map_fn(lambda ts: tuple(dihedral_patch(list(ts), seed)), moved, fn_output_signature=signature)
    if targets is None:
        return moved[0]
    return moved if dense else (moved[0], targets)


def parse_augment(spec: bool | str | Sequence[str] | Mapping[str, Any] | None) -> dict[str, dict[str, float]]:
    """The steps of an augmentation spec with their settings, checked.

    Args:
        spec: True (``flip`` only, as before), False or None (nothing), a step name, a mapping
            ``step -> settings`` (a mapping of setting -> value, or None / True for the defaults),
            e.g. ``{"flip": None, "noise": {"std": 50}}``, or a list of step names and such
            mappings (``["flip", {"noise": {"std": 50}}]``, as YAML lists read).

    Returns:
        ``{step: {setting: value}}`` in the order given.

    Raises:
        ValueError: an unknown step or setting (the valid ones listed), a value out of range, a
            required setting missing.
    """
    if spec is None or spec is False:
        return {}
    if spec is True:
        return {"flip": {}}
    if isinstance(spec, (str, Mapping)):
        spec = [spec]
    items = [pair for item in spec for pair in (item.items() if isinstance(item, Mapping) else [(item, None)])]
    return {name: _settings(name, given) for name, given in items}


def _settings(name: Any, given: Any) -> dict[str, float]:
    if name not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {name!r}; choose from {', '.join(AUGMENTATIONS)}")
    defaults = AUGMENTATIONS[name]
    if given is None or given is True:
        given = {}
    if not isinstance(given, Mapping):
        raise ValueError(f"augmentation {name!r}: settings must be a mapping of {', '.join(defaults) or 'nothing'}, "
                         f"got {given!r}")
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(f"augmentation {name!r}: unknown setting(s) {', '.join(map(repr, unknown))}; "
                         f"valid: {', '.join(defaults) or 'none'}")
    settings = {**defaults, **given}
    for key, value in settings.items():
        if value is None:
            raise ValueError(f"augmentation {name!r} needs {key} in the units of the data, e.g. "
                             f"{{{name}: {{{key}: 50}}}} for reflectance x 10,000")
        low, high, closed = _RANGES[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                (low <= value if closed else low < value) and value <= high):
            raise ValueError(f"augmentation {name!r}: {key} must be a number in {'[' if closed else '('}{low:g}, "
                             f"{high:g}], got {value!r}")
        if key in _WHOLE and value != int(value):
            raise ValueError(f"augmentation {name!r}: {key} must be a whole number of pixels, got {value!r}")
    return {key: float(value) for key, value in settings.items()}


def batch_augmenter(spec, *, seed: int | None = None, n_classes: int | None = None) -> Callable:
    """``augment(images, targets=None) -> (images, targets)`` for batches, e.g. in ``dataset.map``.

    Args:
        spec: see :func:`parse_augment`.
        seed: op seed (the global seed of :func:`rskeras.training.runs.set_seeds` applies too).
        n_classes: classes, to one-hot integer patch labels for ``mixup`` / ``cutmix``.

    The callable takes images ``(batch, H, W, bands)`` (or a dict of them, one per model input,
    moved together) and targets: per-pixel ``(batch, H, W)`` / ``(batch, H, W, c)``, or per patch
    ``(batch,)`` / ``(batch, K)``. It returns targets one-hot (float32) after ``mixup``/``cutmix``.
    """
    steps = parse_augment(spec)
    mixers = {name: _mixer(name, settings, seed) for name, settings in steps.items() if name in MIXING}

    def augment(images, targets=None):
        images, split = _stack(images)
        dense = _is_dense(targets, images)
        if dense and targets.shape.rank == 3:
            targets, squeeze = targets[..., None], True
        else:
            squeeze = False
        for name, settings in steps.items():
            if name in MIXING:
                images, targets = _mix(mixers[name], name, images, targets, dense, n_classes)
            elif dense:
                images, targets = _STEPS[name](images, targets, settings, seed)
            else:
                images, _ = _STEPS[name](images, None, settings, seed)
        if squeeze:
            targets = targets[..., 0]
        return split(images), targets

    return augment


def patch_augmenter(spec, *, seed: int | None = None) -> Callable:
    """``augment(image, target=None) -> (image, target)`` for single patches (``raster_dataset``, ``ee_patch_dataset``).

    ``image``: ``(H, W, bands)`` (or a dict of them); ``target``: per pixel ``(H, W)`` /
    ``(H, W, c)`` (moved with the image), a per-patch label, or None. ``mixup`` / ``cutmix`` need a
    batch: give them to :func:`batch_augmenter` after batching.
    """
    steps = parse_augment(spec)
    mixing = [name for name in steps if name in MIXING]
    if mixing:
        raise ValueError(f"{', '.join(mixing)} mix the patches of a batch: apply them per batch "
                         "(rskeras.data.augment.batch_augmenter, or training.augment of a config), not per patch")
    augment_batch = batch_augmenter(steps, seed=seed)

    def augment(image, target=None):
        batched = tf.nest.map_structure(lambda t: t[None], image)
        dense = _is_dense(target[None] if target is not None else None, _stack(batched)[0])
        images, targets = augment_batch(batched, target[None] if dense else None)
        return tf.nest.map_structure(lambda t: t[0], images), targets[0] if dense else target

    return augment


def _stack(images) -> tuple[tf.Tensor, Callable]:
    """A dict of inputs as one tensor (bands concatenated) and the function that splits it back."""
    if not isinstance(images, Mapping):
        return images, lambda x: x
    names = list(images)
    sizes = [images[n].shape[-1] for n in names]
    return tf.concat([images[n] for n in names], -1), lambda x: dict(zip(names, tf.split(x, sizes, axis=-1)))


def _is_dense(targets, images) -> bool:
    """Whether ``targets`` is a per-pixel target of ``images`` (same height and width)."""
    return targets is not None and targets.shape.rank in (3, 4) and targets.shape[1:3] == images.shape[1:3]


# Each step: (images (batch, H, W, bands), per-pixel targets (batch, H, W, c) or None, settings, seed)
# -> (images, targets), the targets moved with the images.

def _flip(images, dense, settings, seed):
    moved = [images] if dense is None else [images, dense]
    if images.shape[0] == 1:  # one patch (patch_augmenter): no map over a batch
        moved = [t[None] for t in dihedral_patch([t[0] for t in moved], seed)]
    else:
        moved = [dihedral(images, seed=seed)] if dense is None else list(dihedral(images, dense, seed=seed))
    return moved[0], moved[1] if dense is not None else None


def _crop(images, dense, settings, seed):
    shape = tf.shape(images)
    scale = tf.random.uniform([shape[0], 1], settings["min_scale"], 1.0, seed=seed)
    corner = tf.random.uniform([shape[0], 2], 0.0, 1.0, seed=seed) * (1.0 - scale)
    boxes = tf.concat([corner, corner + scale], axis=1)  # (y0, x0, y1, x1), normalised
    index, size = tf.range(shape[0]), shape[1:3]
    cropped = tf.cast(tf.image.crop_and_resize(images, boxes, index, size, method="bilinear"), images.dtype)
    if dense is None:
        return cropped, None
    moved = tf.image.crop_and_resize(tf.cast(dense, tf.float32), boxes, index, size, method="nearest")
    return cropped, tf.cast(moved, dense.dtype)


def _shift(images, dense, settings, seed):
    pixels = int(settings["pixels"])
    height, width = images.shape[1:3]
    if height is not None and width is not None and pixels >= min(height, width):
        raise ValueError(f"augmentation 'shift': pixels ({pixels}) must be under the patch's side "
                         f"({height} x {width} pixels): the edge is filled by mirroring the patch")
    shape = tf.shape(images)
    offsets = tf.random.uniform([shape[0], 2], 0, 2 * pixels + 1, dtype=tf.int32, seed=seed)
    rows = offsets[:, :1] + tf.range(shape[1])[None]  # (batch, H): rows of the padded patch
    cols = offsets[:, 1:] + tf.range(shape[2])[None]  # (batch, W)

    def move(x):
        padded = tf.pad(x, [[0, 0], [pixels, pixels], [pixels, pixels], [0, 0]], mode="REFLECT")
        return tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)

    return move(images), None if dense is None else move(dense)


def _brightness(images, dense, settings, seed):
    shape = tf.shape(images)
    per_band = [shape[0], 1, 1, shape[3]]
    gain = tf.random.uniform(per_band, 1.0 - settings["gain"], 1.0 + settings["gain"], images.dtype, seed=seed)
    offset = tf.random.uniform(per_band, -settings["offset"], settings["offset"], images.dtype, seed=seed)
    return images * gain + offset, dense


def _noise(images, dense, settings, seed):
    noise = tf.random.normal(tf.shape(images), stddev=settings["std"], dtype=images.dtype, seed=seed)
    return images + noise, dense


_STEPS = {"flip": _flip, "crop": _crop, "shift": _shift, "brightness": _brightness, "noise": _noise}


def _mixer(name: str, settings: dict[str, float], seed: int | None):
    import keras

    if name == "mixup":
        return keras.layers.MixUp(alpha=settings["alpha"], seed=seed)
    return keras.layers.CutMix(factor=settings["factor"], seed=seed)


def _mix(layer, name: str, images, targets, dense: bool, n_classes: int | None):
    """Keras' MixUp / CutMix on one-hot (or 0/1) patch labels."""
    if targets is None or dense:
        raise ValueError(f"augmentation {name!r} mixes patch labels (one per patch, patch classification); "
                         "it does not apply to per-pixel targets or to images without labels")
    if targets.dtype.is_integer:
        if n_classes is None:
            raise ValueError(f"augmentation {name!r} needs one-hot labels: pass n_classes to one-hot the "
                             "integer labels")
        targets = tf.one_hot(targets, n_classes)
    labels = tf.cast(targets, tf.float32)
    vector = labels.shape.rank == 1  # binary 0/1 labels
    out = layer({"images": images, "labels": labels[:, None] if vector else labels}, training=True)
    return tf.cast(out["images"], images.dtype), out["labels"][:, 0] if vector else out["labels"]
