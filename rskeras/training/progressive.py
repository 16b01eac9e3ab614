"""Progressive resizing: the first epochs of a patch classifier train on smaller patches.

``training.progressive_resizing: [[32, 0.2], [48, 0.3]]`` trains the first 20 % of the epochs on
patches resized to 32 x 32 pixels, the next 30 % at 48 x 48, and the rest at the data's own patch
size. A convolution costs in proportion to the pixels it sees, so an epoch at half the side costs
about a quarter, plus what does not shrink (measured for EuroSAT's compact ResNet on 2 CPU cores, of
an epoch at 64 px: 0.17 at 32 px and 0.45 at 48 px in float32, ``benchmarks/results/eurosat_search.json``;
0.26 and 0.59 in bfloat16, by the probe before ``eurosat_progressive_2.json``'s run); the same time budget then holds more
epochs, and the last ones, where the learning rate anneals, see the full resolution (fast.ai's
progressive resizing; Tan & Le, EfficientNetV2, ICML 2021).

How it works, so that one model serves every size:

- :class:`ProgressiveResizing` wraps the network for training only. In training it resizes each
  batch ``(batch, H, W, bands)`` to ``(batch, size, size, bands)`` (area averaging, as coarser
  pixels would record it) before the network; ``size`` is a non-trainable variable, so the
  compiled train step is traced once for every size. Evaluation and prediction see the patches
  unchanged, at full size.
- :class:`ResizeSchedule`, a callback, sets ``size`` at the start of every epoch from the epoch's
  number, so a resumed run picks up the size of the epoch it resumes at.
- The network inside is the model that is saved (``save`` of the wrapper saves it, so the run
  folder's ``best.keras`` is the network too), evaluated and exported: its input keeps the data's
  patch size. Checkpoints (weights) are the wrapper's, so a resumed run restores ``size`` as well.

Only patch models with one input and one label per patch can be trained like this (a dense
target would have to be resized too); the configuration check says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import tensorflow as tf


def stage_epochs(schedule: Sequence[Sequence[float]], epochs: int) -> list[int]:
    """Epochs of each stage of ``schedule`` (``[[size, share of the epochs], ...]``) in a run of ``epochs``.

    Stage ``i`` ends at epoch ``epochs * (share_0 + ... + share_i)`` rounded half up; the epochs after
    the last stage train at full size.
    """
    ends, total = [], 0.0
    for _, share in schedule:
        total += share
        ends.append(min(epochs, math.floor(epochs * total + 0.5)))
    return [end - start for start, end in zip([0, *ends[:-1]], ends)]


def sizes_by_epoch(schedule: Sequence[Sequence[float]], epochs: int, full_size: int) -> list[int]:
    """The patch side (pixels) each of ``epochs`` epochs trains at."""
    sizes = []
    for (size, _), n in zip(schedule, stage_epochs(schedule, epochs)):
        sizes += [int(size)] * n
    return sizes + [int(full_size)] * (epochs - len(sizes))


def check_schedule(schedule: Sequence[Sequence[float]]) -> None:
    """Raise ``ValueError`` unless ``schedule`` is ``[[size, share], ...]``: whole sizes of at least 8 pixels,
    shares above 0 that add up to less than 1 (:func:`check_network` checks the sizes against the model)."""
    for item in schedule:
        if (not isinstance(item, (list, tuple)) or len(item) != 2 or isinstance(item[0], bool)
                or not isinstance(item[0], int) or isinstance(item[1], bool) or not isinstance(item[1], (int, float))):
            raise ValueError(f"each stage must be [size in pixels, share of the epochs], e.g. [32, 0.25]; got {item!r}")
        size, share = item
        if size < 8:
            raise ValueError(f"stage {list(item)}: the size must be at least 8 pixels")
        if share <= 0:
            raise ValueError(f"stage {list(item)}: the share of the epochs must be above 0")
    if sum(share for _, share in schedule) >= 1:
        raise ValueError(f"the shares add up to {sum(s for _, s in schedule):g}; they must leave epochs at full size "
                         "(add up to less than 1)")


@keras.saving.register_keras_serializable(package="rskeras")
class ProgressiveResizing(keras.Model):
    """Wraps a patch network to train it on patches resized to :attr:`size`.

    Args:
        network: a model with one image input ``(batch, H, W, bands)``, ``H == W``, that accepts
            other sides (convolutions and a global pooling: ``compact_resnet``, ``resnet50``,
            ``googlenet``; not the lecture's ``cnn``, which flattens; :func:`check_network` tells).

    ``call(x, training=True)`` resizes ``x`` to ``(batch, size, size, bands)`` with area averaging
    (in float32) when ``size`` is below ``H``; otherwise, and outside training, it is the network.

    Attributes:
        network: the wrapped network (what is saved, evaluated and exported).
        size: the side of the training patches (a non-trainable int32 variable; starts at ``H``).
    """

    def __init__(self, network: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.full_size = int(network.input_shape[1])
        self.size = self.add_weight(shape=(), dtype="int32", trainable=False, name="size",
                                    initializer=keras.initializers.Constant(self.full_size))
        self.built = True

    def call(self, inputs, training=None):
        if training:
            size = tf.convert_to_tensor(self.size.value)
            inputs = tf.cond(size < self.full_size, lambda: self._resized(inputs, size), lambda: inputs)
            return self.network.call(inputs, training=True)  # ``call``: past the input's check of the full size
        return self.network(inputs, training=training)

    @staticmethod
    def _resized(images: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
        resized = tf.image.resize(tf.cast(images, tf.float32), tf.stack([size, size]), method="area")
        return tf.cast(resized, images.dtype)

    def save(self, filepath, *args, **kwargs):
        """Save the network (the resizing exists only in training): the run folder's ``best.keras`` is the
        network, as ``model.keras`` is."""
        return self.network.save(filepath, *args, **kwargs)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable,
                "network": keras.saving.serialize_keras_object(self.network)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"], custom_objects=custom_objects)
        return cls(**config)


class ResizeSchedule(keras.callbacks.Callback):
    """Sets the training patch side of a :class:`ProgressiveResizing` model at the start of each epoch.

    Args:
        sizes: the side of each epoch (:func:`sizes_by_epoch`); epochs past its end train at the last.
        verbose: print a line when the size changes.
    """

    def __init__(self, sizes: Sequence[int], verbose: bool = True):
        super().__init__()
        self.sizes = [int(s) for s in sizes]
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        size = self.sizes[min(epoch, len(self.sizes) - 1)]
        if int(self.model.size.numpy()) != size:
            self.model.size.assign(size)
            if self.verbose:
                print(f"rskeras train: epoch {epoch + 1} onwards trains on {size} x {size} patches")


def check_network(network: keras.Model, sizes: Sequence[int]) -> None:
    """Raise ``ValueError`` unless ``network`` has one square image input larger than every one of ``sizes``
    and computes on patches of those sizes (no layer that needs the full size, such as ``Flatten``)."""
    shape = network.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[1] is None or shape[1] != shape[2]:
        raise ValueError(f"model {network.name!r} needs one square image input of a known size to be trained on "
                         f"resized patches; its inputs: {shape}")
    for size in sizes:
        if size >= shape[1]:
            raise ValueError(f"stage size {size} is not below the patch size {shape[1]}")
        try:  # one patch of that size through the layers (``call``: past the input's own shape check)
            network.call(tf.zeros((1, size, size, shape[3]), network.inputs[0].dtype), training=False)
        except Exception as err:  # the layer at fault says why, in its own words
            raise ValueError(f"model {network.name!r} cannot compute on {size} x {size} patches (its layers need "
                             f"{shape[1]} x {shape[2]}): {str(err).splitlines()[0]}") from None
