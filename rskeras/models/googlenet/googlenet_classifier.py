"""GoogLeNet / Inception v1 patch classifier (Szegedy et al., 2015) for any number of bands."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from rskeras.heads import output_head
from rskeras.models.backbones import build_backbone_layers
from rskeras.models.blocks import pooled_head
from rskeras.models.contract import BandStatsArgument, Weights, builder_contract, default_outputs, image_input

AUX_LOSS_WEIGHT = 0.3  # the paper's weight of each auxiliary classifier's loss in the total loss


def _auxiliary_classifier(x, task: str, n_outputs: int, class_names, name: str):
    """Section 5 of the paper: 5x5/3 average pooling, 1x1 conv (128, ReLU), FC 1024 (ReLU), dropout 0.7, output.

    The pooling window shrinks to the feature map when that is smaller than 5x5
    (inputs below 80x80), so small patches work too.
    """
    height, width = x.shape[1], x.shape[2]
    window = min(5, height or 5, width or 5)
    x = keras.layers.AveragePooling2D(window, strides=3, name=f"{name}_pool")(x)
    x = keras.layers.Conv2D(128, 1, activation="relu", name=f"{name}_conv")(x)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = keras.layers.Dropout(0.7, name=f"{name}_dropout")(x)
    return output_head(x, task, n_outputs, class_names=class_names, name=name)


@builder_contract()
def googlenet(
    input_shape: Sequence[int | None],
    *,
    task: str = "multiclass",
    n_outputs: int | None = None,
    class_names: Sequence[str] | None = None,
    band_names: Sequence[str] | None = None,
    band_stats: BandStatsArgument | None = None,
    weights: Weights = None,
    name: str | None = None,
    aux_classifiers: bool = False,
    dropout: float = 0.4,
) -> keras.Model:
    """GoogLeNet: the ``"googlenet"`` backbone (Table 1, inception 3a..5b), global average pooling, dropout, output.

    Reference: Szegedy et al. (2015), "Going Deeper with Convolutions", CVPR:
    Table 1 for the network (batch normalisation after every convolution replaces
    local response normalisation, see :mod:`rskeras.models.backbones.googlenet`),
    Section 5 for the auxiliary classifiers.

    With ``aux_classifiers=True`` the model has three outputs, ``[output, aux1,
    aux2]``: the main classifier and the auxiliary classifiers on inception 4a and
    4d, which only help training (extra gradient for the lower layers). The paper
    adds their losses with weight 0.3 (:data:`AUX_LOSS_WEIGHT`)::

        model.compile(optimizer="adam", loss=[loss] * 3, loss_weights=[1.0, 0.3, 0.3])
        model.fit(x, (y, y, y))

    For inference keep the main output only:
    ``keras.Model(model.inputs, model.outputs[0])``.

    Args:
        input_shape: ``(H, W, bands)``, any band count; H and W must be known when
            ``aux_classifiers`` (their fully connected layer depends on the size).
        task: ``"regression"``, ``"binary"``, ``"multiclass"`` or ``"multilabel"``.
        n_outputs: classes (or values for regression); default from ``class_names`` and ``task``.
        class_names, band_names, band_stats: stored in the model (see :func:`rskeras.models.image_input`).
        weights: None or the path of a weights file for the backbone (Keras publishes
            no ImageNet GoogLeNet); the first convolution adapts to the band count.
        name: the model's name (default ``"googlenet_classifier"``).
        aux_classifiers: add the two auxiliary outputs (for training).
        dropout: dropout before the main output (0.4 in the paper).

    Returns:
        An uncompiled model: ``(batch, H, W, bands)`` raw values -> ``(batch, n_outputs)``
        float32, or a list of three such outputs. At 64x64x3 with 10 classes it has
        6,005,642 parameters (5,991,082 trainable); with the auxiliary classifiers
        at 64x64x3, 6,423,710.
    """
    if aux_classifiers and None in tuple(input_shape[:2]):
        raise ValueError(f"the auxiliary classifiers need a known height and width, got input_shape={input_shape}")
    n_outputs = default_outputs(task, n_outputs, class_names)
    name = name or "googlenet_classifier"
    inputs, x = image_input(input_shape, band_names=band_names, band_stats=band_stats)
    backbone = build_backbone_layers("googlenet", x, weights=weights)
    output = pooled_head(backbone.features[32], task, n_outputs, class_names=class_names, dropout=dropout)
    if not aux_classifiers:
        return keras.Model(inputs, output, name=name)
    aux = [_auxiliary_classifier(backbone.endpoints[f"inception_4{block}"], task, n_outputs, class_names, f"aux{i}")
           for i, block in ((1, "a"), (2, "d"))]
    return keras.Model(inputs, [output, *aux], name=name)
