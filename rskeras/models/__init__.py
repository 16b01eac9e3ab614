"""Model builders (Keras functional API), one folder per model family.

TensorFlow is loaded by any model, so the names are bound at import (not lazily).
Every builder returns an uncompiled ``keras.Model`` whose last layer is a
:class:`rskeras.heads.TaskOutput` for the ``task=`` it was given.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.models.ann": ["ann"],
        "rskeras.models.backbones": ["BACKBONES", "adapt_first_conv_kernel", "build_backbone", "get_backbone_spec",
                                     "load_weights", "save_weights"],
        "rskeras.models.cnn": ["cnn"],
        "rskeras.models.compact_resnet": ["compact_resnet"],
        "rskeras.models.deeplabv3": ["deeplabv3"],
        "rskeras.models.googlenet": ["googlenet"],
        "rskeras.models.m3net": ["UncertaintyWeightedModel", "m3net"],
        "rskeras.models.metadata": ["ModelMetadata", "model_metadata"],
        "rskeras.models.pspnet": ["pspnet"],
        "rskeras.models.resnet": ["resnet50"],
        "rskeras.models.transfer": ["FineTuneHistories", "backbone_layers", "fine_tune", "freeze_backbone"],
        "rskeras.models.unet": ["unet"],
    },
    submodules=["backbones"],
    eager=True,  # the family folders are named like their builders (see rskeras._lazy)
)
