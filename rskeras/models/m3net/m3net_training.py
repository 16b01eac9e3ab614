"""Deep supervision with learned uncertainty weights (Kendall, Gal & Cipolla, CVPR 2018).

M3Net is trained on all its outputs at once. Each height loss ``L_i`` (mean
squared error in m²) is weighted by a learned homoscedastic uncertainty: with a
trainable log-variance ``s_i`` per height output, the loss is

    sum_i [exp(-s_i) * L_i + s_i]  +  CE(building)

(the form of Cao & Huang's training code; Kendall et al. write it with factors
1/2). CE is the binary cross-entropy of a one-channel building output (``task="binary"``)
or the sparse categorical cross-entropy of a softmax one (``task="multiclass"``, the paper's).
A Keras loss cannot own trainable weights, so the weighting lives in
:class:`UncertaintyWeightedModel`, a registered ``keras.Model`` that wraps the
network, owns the log-variances and overrides ``compute_loss``: it trains with
plain ``compile(optimizer)`` + ``fit(x, heights)`` and saves and loads as ``.keras``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from rskeras.models.metadata import model_metadata


@keras.saving.register_keras_serializable(package="rskeras")
class UncertaintyWeightedModel(keras.Model):
    """Wraps a multi-output height network to train it with uncertainty-weighted deep supervision.

    Args:
        network: a model whose outputs are a dict holding ``height_outputs``
            (``(batch, H, W, 1)`` heights, metres) and ``segmentation_output``
            (``(batch, H, W, 1)`` building probability), e.g. :func:`m3net`.
        height_outputs: the outputs trained against the height target, each with
            its own learned log-variance.
        segmentation_output: the output trained with cross-entropy against the building
            mask (binary, or sparse categorical for a ``"multiclass"`` output).
        building_threshold: when the target holds no building mask, pixels whose
            height exceeds this (metres) are buildings (the authors: height > 0).

    ``fit`` and ``evaluate`` take the network's inputs as ``x`` and, as ``y``,
    either the height map ``(batch, H, W, 1)`` in metres or a dict
    ``{"height": ..., "building": ...}`` with a 0/1 building mask (class indices for a
    ``"multiclass"`` output). Compile with an optimizer only (the loss is built in). Logged
    metrics: ``loss``, each height output's ``<name>_mse`` (m²) and ``building_bce``
    (``building_cce`` for a ``"multiclass"`` output). ``call`` returns the
    network's outputs, so ``predict`` gives the same dict as the network.

    Attributes:
        log_variances: the trainable ``s_i``, one per height output, float32,
            initialised to 0 (weight 1).
    """

    def __init__(
        self,
        network: keras.Model,
        height_outputs: Sequence[str] = ("height", "height_multiview", "height_multispectral"),
        segmentation_output: str = "building",
        building_threshold: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        names = list(network.output.keys()) if isinstance(network.output, dict) else []
        wanted = [*height_outputs, segmentation_output]
        missing = [n for n in wanted if n not in names]
        if missing:
            raise ValueError(
                f"network {network.name!r} lacks output(s) {missing}; its dict outputs are {names}"
            )
        self.network = network
        self.height_outputs = list(height_outputs)
        self.segmentation_output = segmentation_output
        self.building_threshold = float(building_threshold)
        self.log_variances = self.add_weight(
            shape=(len(self.height_outputs),), initializer="zeros", dtype="float32", name="log_variances"
        )
        self.segmentation_task = model_metadata(network).outputs.get(segmentation_output, "binary")
        loss_name = "cce" if self.segmentation_task == "multiclass" else "bce"
        self.height_trackers = [keras.metrics.Mean(name=f"{n}_mse") for n in self.height_outputs]
        self.building_tracker = keras.metrics.Mean(name=f"{segmentation_output}_{loss_name}")
        self.built = True

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """Compile with an optimizer (and ``model.compile``'s other options); the loss is built in.

        ``loss`` and ``metrics`` are accepted and not used, so code that compiles every model with
        its task's loss (``rskeras train``) compiles this one too.
        """
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config: dict) -> None:
        """Compile a loaded model as it was saved (Keras skips models whose ``compile`` is overridden)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=None):
        return self.network(inputs, training=training)

    def _targets(self, y):
        if isinstance(y, dict):
            if "height" not in y:
                raise ValueError(f"the target dict needs a 'height' entry (metres), got keys {sorted(y)}")
            height = ops.cast(y["height"], "float32")
            building = y.get("building")
        else:
            height, building = ops.cast(y, "float32"), None
        if building is None:
            building = ops.cast(height > self.building_threshold, "float32")
        return height, ops.cast(building, "float32")

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if sample_weight is not None:
            raise ValueError("UncertaintyWeightedModel does not take sample weights")
        height, building = self._targets(y)
        total = ops.convert_to_tensor(0.0, "float32")
        for i, (output, tracker) in enumerate(zip(self.height_outputs, self.height_trackers)):
            mse = ops.mean(ops.square(ops.cast(y_pred[output], "float32") - height))
            tracker.update_state(mse)
            s = self.log_variances[i]
            total = total + ops.exp(-s) * mse + s
        ce = self._segmentation_loss(building, ops.cast(y_pred[self.segmentation_output], "float32"))
        self.building_tracker.update_state(ce)
        total = total + ce
        for extra in self.losses:
            total = total + ops.cast(extra, "float32")
        return total

    def _segmentation_loss(self, building, predicted):
        """Mean cross-entropy of the building output against the ``(batch, H, W, 1)`` mask."""
        if self.segmentation_task == "multiclass":
            labels = ops.cast(ops.squeeze(building, axis=-1), "int32")
            return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, predicted))
        return ops.mean(keras.losses.binary_crossentropy(building, predicted))

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable}
        config.update(
            network=keras.saving.serialize_keras_object(self.network),
            height_outputs=self.height_outputs,
            segmentation_output=self.segmentation_output,
            building_threshold=self.building_threshold,
        )
        return config

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        config["network"] = keras.saving.deserialize_keras_object(config["network"], custom_objects=custom_objects)
        return cls(**config)
