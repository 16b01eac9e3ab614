"""Patch augmentation in tf.data: the eight flips and 90-degree rotations of a square patch.

Land cover seen from above has no up or left, so every symmetry of the square (the dihedral
group: identity, three rotations, four reflections) is an equally valid view of a patch. Each
transform copies only the patches it moves (about 1 ms of a core per 256x256x9 patch); a select
over a whole batch would copy every patch for every transform (about 6 ms).
"""

from __future__ import annotations

import functools

import tensorflow as tf


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
