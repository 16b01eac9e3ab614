"""Model builders (Keras functional API), one folder per model family, and the registry of families.

TensorFlow is loaded by any model, so the names are bound at import (not lazily).
Every builder follows one contract (:mod:`rskeras.models.contract`)::

    builder(input_shape, *, task=..., n_outputs=None, class_names=None, band_names=None,
            band_stats=None, weights=None, name=None, **family_options)

and returns an uncompiled ``keras.Model`` whose outputs end in a :class:`rskeras.heads.TaskOutput`.
:data:`MODELS` (:mod:`rskeras.models.registry`) lists the families; ``rskeras models`` prints it.
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
        "rskeras.models.contract": ["default_outputs", "image_input"],
        "rskeras.models.deeplabv3": ["deeplabv3"],
        "rskeras.models.googlenet": ["googlenet"],
        "rskeras.models.m3net": ["UncertaintyWeightedModel", "m3net"],
        "rskeras.models.metadata": ["ModelMetadata", "check_input_contract", "input_contracts", "model_metadata"],
        "rskeras.models.pspnet": ["pspnet"],
        "rskeras.models.registry": ["MODELS", "ModelFamily", "build_model", "get_model_family"],
        "rskeras.models.resnet": ["resnet50"],
        "rskeras.models.transfer": ["FineTuneHistories", "backbone_layers", "fine_tune", "freeze_backbone"],
        "rskeras.models.unet": ["unet"],
    },
    submodules=["backbones"],
    eager=True,  # the family folders are named like their builders (see rskeras._lazy)
)
