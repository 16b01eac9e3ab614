"""Patch augmentation in tf.data: the eight flips and 90-degree rotations of a square patch.

Land cover seen from above has no up or left, so every symmetry of the square (the dihedral
group: identity, three rotations, four reflections) is an equally valid view of a patch.
"""

from __future__ import annotations

import tensorflow as tf


def _where(mask: tf.Tensor, a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    return tf.where(tf.reshape(mask, [-1, 1, 1, 1]), a, b)


def dihedral(images: tf.Tensor, targets: tf.Tensor | None = None, seed: int | None = None):
    """Each patch of a batch flipped left-right, up-down and transposed, each with probability 1/2.

    Args:
        images: ``(batch, H, H, bands)`` square patches.
        targets: labels; a dense target ``(batch, H, H, channels)`` gets the same transform,
            any other shape is returned unchanged.
        seed: op seed (the global seed of :func:`rskeras.training.runs.set_seeds` applies too).

    Returns:
        ``images`` (and ``targets`` when given), transformed.
    """
    batch = tf.shape(images)[0]
    flips = tf.random.uniform([3, batch], seed=seed) < 0.5
    dense = targets is not None and targets.shape.rank == 4

    def apply(x):
        x = _where(flips[0], tf.reverse(x, axis=[2]), x)
        x = _where(flips[1], tf.reverse(x, axis=[1]), x)
        return _where(flips[2], tf.transpose(x, [0, 2, 1, 3]), x)

    images = apply(images)
    if targets is None:
        return images
    return images, apply(targets) if dense else targets
