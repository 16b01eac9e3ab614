"""The registry of model families: what ``rskeras.models``, ``rskeras train``, ``rskeras models`` and the demo build.

::

    from rskeras.models import MODELS, build_model, get_model_family
    model = build_model("unet", (256, 256, 4), task="multiclass", class_names=["water", "forest", "urban"])
    get_model_family("pspnet").options()     # {"backbone": "resnet50", "output_stride": 8, ...}

Each entry is a :class:`ModelFamily`; its builder follows the builder contract of
:mod:`rskeras.models.contract` and is imported on first use. The training configuration's
``model.name`` is a key of :data:`MODELS` and ``model.options`` are the family's options.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rskeras.models.contract import CONTRACT_ARGUMENTS
from rskeras.tasks import TASKS

#: What a family's model takes: one pixel's band vector, an image patch (one output per patch),
#: an image (one output per pixel), or several named images.
KINDS: tuple[str, ...] = ("pixel", "patch", "dense", "multi-input")


def _resolve(path: str) -> Any:
    """The object at ``"module:attribute"``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class DocumentedSize:
    """The configuration whose parameter count a builder's docstring states (checked by the contract test).

    Attributes:
        input_shape: the input shape of that configuration.
        arguments: further builder arguments (``n_outputs``, options).
        parameters: the total parameter count the docstring states.
    """

    input_shape: Any
    arguments: Mapping[str, Any]
    parameters: int


@dataclass(frozen=True)
class ModelFamily:
    """One registered model family.

    Attributes:
        name: the registry name (``model.name`` of a training configuration).
        builder_path: ``"module:function"`` of its builder, imported on first use.
        kind: one of :data:`KINDS`.
        paper: the reference it follows.
        description: one line for listings.
        documented_size: the configuration and parameter count its docstring states.
        tasks: the ``task=`` values it takes.
        inputs: the input names of a multi-input family (the keys of its ``input_shape`` dict).
        task_output: for a multi-output family, the output that ``task=`` shapes.
        target_output: for a multi-output family, the output trained against the data's label
            and evaluated.
        training_wrapper: ``"module:class"`` of a ``keras.Model`` that wraps the network for
            training and owns its loss (M3Net's uncertainty weighting), or None.
    """

    name: str
    builder_path: str
    kind: str
    paper: str
    description: str
    documented_size: DocumentedSize
    tasks: tuple[str, ...] = tuple(TASKS)
    inputs: tuple[str, ...] = ()
    task_output: str | None = None
    target_output: str | None = None
    training_wrapper: str | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"model family {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}")

    @property
    def builder(self) -> Callable:
        """The builder function (imports its module)."""
        return _resolve(self.builder_path)

    def options(self) -> dict[str, Any]:
        """The family's own options (builder arguments past the contract's) -> their defaults."""
        parameters = inspect.signature(self.builder).parameters.values()
        return {p.name: p.default for p in parameters
                if p.name not in CONTRACT_ARGUMENTS and p.kind is inspect.Parameter.KEYWORD_ONLY}

    @property
    def renamed_options(self) -> dict[str, str]:
        """Deprecated option names the builder still accepts -> their new names."""
        return dict(getattr(self.builder, "renamed_options", {}))

    def build(self, input_shape, **kwargs):
        """``builder(input_shape, **kwargs)``: an uncompiled ``keras.Model``."""
        return self.builder(input_shape, **kwargs)

    def for_training(self, network):
        """``network`` wrapped for training when the family has a training wrapper, else ``network``."""
        return _resolve(self.training_wrapper)(network) if self.training_wrapper else network

    def network_of(self, model):
        """The network inside a model from :meth:`for_training` (the model itself without a wrapper)."""
        return model.network if self.training_wrapper else model


MODELS: dict[str, ModelFamily] = {family.name: family for family in (
    ModelFamily(
        "ann", "rskeras.models.ann.ann_pixel_model:ann", "pixel",
        "Rumelhart, Hinton & Williams (1986), Learning representations by back-propagating errors, Nature 323",
        "multi-layer perceptron over one pixel's band vector",
        DocumentedSize((10,), {"n_outputs": 4}, 5_124),
    ),
    ModelFamily(
        "cnn", "rskeras.models.cnn.cnn_classifier:cnn", "patch",
        "LeCun, Bottou, Bengio & Haffner (1998), Gradient-based learning applied to document recognition, "
        "Proc. IEEE 86",
        "convolution -> pooling blocks, then fully connected layers (the lecture's CNN)",
        DocumentedSize((64, 64, 3), {"n_outputs": 10}, 1_143_914),
    ),
    ModelFamily(
        "compact_resnet", "rskeras.models.compact_resnet.compact_resnet_classifier:compact_resnet", "patch",
        "He, Zhang, Ren & Sun (2016), Deep Residual Learning for Image Recognition, CVPR (basic blocks, Fig. 2)",
        "small residual network for 64x64 patches, trainable from scratch on a CPU (the EuroSAT recipe)",
        DocumentedSize((64, 64, 3), {"n_outputs": 10}, 1_233_002),
    ),
    ModelFamily(
        "resnet50", "rskeras.models.resnet.resnet_classifier:resnet50", "patch",
        "He, Zhang, Ren & Sun (2016), Deep Residual Learning for Image Recognition, CVPR, Table 1",
        "ResNet-50 classifier with keras.applications layer names (ImageNet weights for any band count)",
        DocumentedSize((64, 64, 3), {"n_outputs": 10}, 23_608_202),
    ),
    ModelFamily(
        "googlenet", "rskeras.models.googlenet.googlenet_classifier:googlenet", "patch",
        "Szegedy et al. (2015), Going Deeper with Convolutions, CVPR, Table 1 and Section 5",
        "Inception v1 classifier (batch normalisation in place of LRN), optional auxiliary classifiers",
        DocumentedSize((64, 64, 3), {"n_outputs": 10}, 6_005_642),
    ),
    ModelFamily(
        "unet", "rskeras.models.unet.unet_segmenter:unet", "dense",
        "Ronneberger, Fischer & Brox (2015), U-Net, MICCAI; SEN12TP variant: Rossberg & Schmitt (2023), PFG",
        "U-Net for segmentation and per-pixel regression, own encoder or any registered backbone",
        DocumentedSize((64, 64, 4), {"n_outputs": 3}, 31_032_451),
    ),
    ModelFamily(
        "pspnet", "rskeras.models.pspnet.pspnet_segmenter:pspnet", "dense",
        "Zhao, Shi, Qi, Wang & Jia (2017), Pyramid Scene Parsing Network, CVPR",
        "pyramid pooling (bins 1, 2, 3, 6) on a dilated backbone at output stride 8",
        DocumentedSize((64, 64, 4), {"n_outputs": 3}, 46_671_299),
    ),
    ModelFamily(
        "deeplabv3", "rskeras.models.deeplabv3.deeplabv3_segmenter:deeplabv3", "dense",
        "Chen, Papandreou, Schroff & Adam (2017), Rethinking Atrous Convolution for Semantic Image Segmentation",
        "atrous spatial pyramid pooling (rates 6, 12, 18 at output stride 16) on a dilated backbone",
        DocumentedSize((64, 64, 4), {"n_outputs": 3}, 39_129_795),
    ),
    ModelFamily(
        "m3net", "rskeras.models.m3net.m3net_height_model:m3net", "multi-input",
        "Cao & Huang (2021), A deep learning method for building height estimation using high-resolution "
        "multi-view imagery over urban areas, Remote Sensing of Environment 264, 112590",
        "building height (metres) and building mask from multi-spectral + multi-view images",
        DocumentedSize({"multispectral": (64, 64, 4), "multiview": (64, 64, 3)}, {}, 4_781_719),
        tasks=("binary", "multiclass"),
        inputs=("multispectral", "multiview"),
        task_output="building",
        target_output="height",
        training_wrapper="rskeras.models.m3net.m3net_training:UncertaintyWeightedModel",
    ),
)}


def get_model_family(name: str) -> ModelFamily:
    """The registered family ``name``; the error lists the names that exist."""
    try:
        return MODELS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None


def build_model(name: str, input_shape: int | Sequence[int | None] | Mapping[str, Sequence[int | None]], **kwargs):
    """Build the model of family ``name`` (see :data:`MODELS`): ``builder(input_shape, **kwargs)``.

    Args:
        name: a key of :data:`MODELS`.
        input_shape: as the family's builder takes it.
        **kwargs: the contract's arguments (``task``, ``n_outputs``, ``class_names``, ...) and
            the family's options.

    Returns:
        An uncompiled ``keras.Model``.
    """
    return get_model_family(name).build(input_shape, **kwargs)
