"""The builder contract, checked for every family of the registry.

For each family: the leading keyword-only signature, the output shape per task (the models of the
first two tasks built under ``mixed_float16`` and ``mixed_bfloat16``: float32 outputs), a ``.keras``
round trip with identical outputs and the stored class and band names, and the parameter count its
docstring states. Small inputs and options keep it fast; the documented sizes are only built.
"""

from __future__ import annotations

import inspect
import warnings

import keras
import numpy as np
import pytest

import rskeras
from rskeras.data import BandStats
from rskeras.models import MODELS, build_model, default_outputs, get_model_family, image_input, model_metadata
from rskeras.models.contract import CONTRACT_ARGUMENTS, builder_contract
from tests.models.helpers import dtype_policy

#: per family: a small input shape and small options (the documented sizes are in the registry)
SMALL: dict[str, tuple] = {
    "ann": ((6,), {"hidden": (8,)}),
    "cnn": ((16, 16, 3), {"widths": (4, 8), "hidden": (8,)}),
    "compact_resnet": ((16, 16, 3), {"widths": (4, 8), "blocks": (1, 1), "stem_filters": 4}),
    "resnet50": ((32, 32, 3), {}),
    "googlenet": ((32, 32, 3), {}),
    "unet": ((16, 16, 3), {"depth": 2, "filters": 4}),
    "pspnet": ((32, 32, 3), {"backbone": "googlenet", "pyramid_filters": 4, "head_filters": 8}),
    "deeplabv3": ((32, 32, 3), {"backbone": "googlenet", "aspp_filters": 8}),
    "m3net": ({"multispectral": (16, 16, 3), "multiview": (16, 16, 2)}, {"depth": 2, "filters": 4}),
}
CLASSES = ["water", "forest", "urban"]


def test_every_family_has_small_options():
    assert set(SMALL) == set(MODELS)


def _inputs(family, input_shape, batch: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    if family.inputs:
        return {key: rng.uniform(0, 100, (batch, *input_shape[key])).astype("float32") for key in family.inputs}
    return rng.uniform(0, 100, (batch, *input_shape)).astype("float32")


def _task_output(family, outputs):
    """The output that ``task=`` shapes (the building output of M3Net)."""
    return outputs[family.task_output] if family.task_output else outputs


def _band_names(family, input_shape):
    if family.inputs:
        return {key: [f"{key}_{i}" for i in range(input_shape[key][-1])] for key in family.inputs}
    return [f"b{i}" for i in range(input_shape[-1])]


def _band_stats(family, input_shape):
    def pair(n):
        return [10.0 * (i + 1) for i in range(n)], [5.0] * n

    if family.inputs:
        return {key: pair(input_shape[key][-1]) for key in family.inputs}
    return pair(input_shape[-1])


@pytest.mark.parametrize("name", list(MODELS))
def test_leading_signature_is_keyword_only(name):
    builder = get_model_family(name).builder
    parameters = list(inspect.signature(builder).parameters.values())
    assert tuple(p.name for p in parameters[:len(CONTRACT_ARGUMENTS)]) == CONTRACT_ARGUMENTS
    assert parameters[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters[1:]), name
    assert getattr(rskeras.models, name) is builder
    input_shape, options = SMALL[name]
    with pytest.raises(TypeError, match="input_shape as its only positional argument"):
        builder(input_shape, "multiclass", 3, **options)


def _spatial_size(family, input_shape) -> tuple:
    """``(H, W)`` of a dense model's outputs, ``()`` for pixel and patch models."""
    if family.kind in ("pixel", "patch"):
        return ()
    shape = input_shape[family.inputs[0]] if family.inputs else input_shape
    return tuple(shape[:2])


def _classes_for(task):
    return CLASSES if task in ("multiclass", "multilabel") else None


def _policy_for(family, task: str) -> str:
    """The dtype policy each task's model is built under: the first two tasks of a family cover the mixed ones."""
    return {0: "mixed_float16", 1: "mixed_bfloat16"}.get(family.tasks.index(task), "float32")


@pytest.mark.parametrize("name, task", [(n, t) for n, f in MODELS.items() for t in f.tasks])
def test_output_shape_per_task_and_float32_under_mixed_precision(name, task):
    family = get_model_family(name)
    input_shape, options = SMALL[name]
    policy = _policy_for(family, task)
    with dtype_policy(policy):
        model = build_model(name, input_shape, task=task, class_names=_classes_for(task), **options)
        outputs = model(_inputs(family, input_shape))
    if policy != "float32":
        assert any(layer.compute_dtype == policy.split("_")[1] for layer in model.layers if layer.weights)
    for tensor in keras.tree.flatten(outputs):
        assert tensor.dtype == "float32" and np.isfinite(keras.ops.convert_to_numpy(tensor)).all()
    main = _task_output(family, outputs[0] if isinstance(outputs, list) else outputs)
    n = default_outputs(task, None, _classes_for(task))
    assert tuple(main.shape) == (2, *_spatial_size(family, input_shape), n)
    values = keras.ops.convert_to_numpy(main)
    if task == "multiclass":
        np.testing.assert_allclose(values.sum(axis=-1), 1.0, rtol=1e-5)
    elif task in ("binary", "multilabel"):
        assert 0.0 <= values.min() and values.max() <= 1.0
    assert model_metadata(model).outputs.get(family.task_output or "output") == task


def test_each_family_meets_both_mixed_policies():
    for family in MODELS.values():
        assert {_policy_for(family, t) for t in family.tasks} >= {"mixed_float16", "mixed_bfloat16"}, family.name


@pytest.mark.parametrize("name", [n for n, f in MODELS.items() if set(f.tasks) != set(rskeras.tasks.TASKS)])
def test_unsupported_tasks_are_refused(name):
    family = get_model_family(name)
    input_shape, options = SMALL[name]
    for task in set(rskeras.tasks.TASKS) - set(family.tasks):
        with pytest.raises(ValueError, match=task):
            build_model(name, input_shape, task=task, **options)


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_round_trip_keeps_outputs_and_names(name, tmp_path):
    family = get_model_family(name)
    input_shape, options = SMALL[name]
    task = "multiclass"
    names, stats = _band_names(family, input_shape), _band_stats(family, input_shape)
    model = build_model(name, input_shape, task=task, class_names=CLASSES, band_names=names, band_stats=stats,
                        **options)
    x = _inputs(family, input_shape, seed=1)
    before = keras.tree.map_structure(keras.ops.convert_to_numpy, model(x))
    model.save(tmp_path / f"{name}.keras")
    loaded = rskeras.load_model(tmp_path / f"{name}.keras")
    after = keras.tree.map_structure(keras.ops.convert_to_numpy, loaded(x))
    keras.tree.map_structure(np.testing.assert_array_equal, after, before)
    meta = model_metadata(loaded)
    expected_names = [names[key] for key in family.inputs] if family.inputs else [names]
    assert meta.band_names == expected_names and all(meta.normalized)
    head = loaded.get_layer(family.task_output or "output")
    assert head.task == task and head.class_names == CLASSES


@pytest.mark.parametrize("name", list(MODELS))
def test_parameter_count_stated_in_the_docstring(name):
    family = get_model_family(name)
    size = family.documented_size
    model = build_model(name, size.input_shape, **size.arguments)
    assert model.count_params() == size.parameters
    assert f"{size.parameters:,}" in family.builder.__doc__


def test_compact_resnet_of_the_eurosat_recipe_has_the_committed_size():
    """The configuration of ``saved_models/eurosat_compact_resnet`` (benchmarks/eurosat.py)."""
    from rskeras.training.recipes import EUROSAT_MODELS

    recipe = EUROSAT_MODELS["compact_resnet"]
    model = build_model(recipe.family, (64, 64, 3), class_names=[str(i) for i in range(10)], **recipe.options)
    assert model.count_params() == 1_233_002


def test_default_outputs_is_one_rule():
    assert default_outputs("regression") == 1 and default_outputs("binary", class_names=["no", "yes"]) == 1
    assert default_outputs("multiclass", class_names=CLASSES) == 3 and default_outputs("multilabel", 5) == 5
    with pytest.raises(ValueError, match="task 'multiclass' needs the number of classes: give class_names"):
        default_outputs("multiclass")
    with pytest.raises(ValueError, match="needs the number of classes"):
        rskeras.models.cnn((16, 16, 3))


def test_band_stats_as_pair_or_dataclass():
    stats = BandStats(("blue", "green", "red", "nir"), (1.0, 2.0, 3.0, 4.0), (0.5, 0.5, 0.5, 2.0))
    _, x = image_input((8, 8, 2), band_names=["nir", "red"], band_stats=stats)
    norm = x._keras_history.operation
    assert norm.mean == [4.0, 3.0] and norm.std == [2.0, 0.5] and norm.band_names == ["nir", "red"]
    _, x = image_input((4,), band_stats=stats)
    assert x._keras_history.operation.band_names == ["blue", "green", "red", "nir"]
    model = rskeras.models.ann((2,), task="regression", band_names=["red", "nir"], band_stats=stats)
    assert model_metadata(model).band_names == [["red", "nir"]]
    with pytest.raises(ValueError, match=r"band statistics hold no \['swir'\]"):
        image_input((8, 8, 1), band_names=["swir"], band_stats=stats)
    with pytest.raises(ValueError, match="has 3 bands but band_stats holds 4 means"):
        image_input((8, 8, 3), band_stats=stats)
    with pytest.raises(ValueError, match="has 3 bands but 2 band names"):
        image_input((8, 8, 3), band_names=["a", "b"], band_stats=([0, 0, 0], [1, 1, 1]))


def test_old_option_names_still_work_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"cnn\(filters=...\) is deprecated; use widths="):
        old = rskeras.models.cnn((16, 16, 3), n_outputs=2, filters=(4, 8), dense_units=(8,))
    assert old.count_params() == rskeras.models.cnn((16, 16, 3), n_outputs=2, widths=(4, 8), hidden=(8,)).count_params()
    with pytest.warns(DeprecationWarning, match="use input_shape="):
        assert rskeras.models.ann(n_bands=3, task="regression").input_shape == (None, 3)
    with pytest.raises(TypeError, match="'filters' is the deprecated name of 'widths'"):
        rskeras.models.cnn((16, 16, 3), n_outputs=2, filters=(4,), widths=(4,))
    assert get_model_family("unet").renamed_options == {"backbone_weights": "weights"}
    assert get_model_family("deeplabv3").renamed_options == {"backbone_weights": "weights", "filters": "aspp_filters"}


def test_m3net_old_positional_form_still_works_with_a_warning():
    with pytest.warns(DeprecationWarning, match=r"m3net\(multispectral_shape, multiview_shape"):
        old = rskeras.models.m3net((16, 16, 3), (16, 16, 2), 2, 4, multispectral_band_names=["b", "g", "r"],
                                   multiview_stats=([1.0, 2.0], [1.0, 1.0]))
    new = rskeras.models.m3net({"multispectral": (16, 16, 3), "multiview": (16, 16, 2)}, depth=2, filters=4,
                               band_names={"multispectral": ["b", "g", "r"]},
                               band_stats={"multiview": ([1.0, 2.0], [1.0, 1.0])})
    assert old.count_params() == new.count_params()
    assert model_metadata(old) == model_metadata(new)
    with pytest.raises(ValueError, match="band_names names unknown input"):
        rskeras.models.m3net({"multispectral": (16, 16, 3), "multiview": (16, 16, 2)}, depth=2, filters=4,
                             band_names={"optical": ["b", "g", "r"]})


def test_weights_file_for_families_without_a_backbone(tmp_path):
    from rskeras.models import adapt_first_conv_kernel, save_weights

    rgb = rskeras.models.cnn((16, 16, 3), n_outputs=2, widths=(4,), hidden=(4,))
    rgb.set_weights([np.random.default_rng(0).normal(size=w.shape).astype("float32") for w in rgb.get_weights()])
    path = save_weights(rgb, tmp_path / "rgb.weights.h5")
    five = rskeras.models.cnn((16, 16, 5), n_outputs=2, widths=(4,), hidden=(4,), weights=path)
    np.testing.assert_allclose(five.get_layer("block1_conv1").kernel.numpy(),
                               adapt_first_conv_kernel(rgb.get_layer("block1_conv1").kernel.numpy(), 5), rtol=1e-6)
    np.testing.assert_array_equal(five.get_layer("fc1").kernel.numpy(), rgb.get_layer("fc1").kernel.numpy())
    with pytest.raises(ValueError, match="has no ImageNet weights"):
        rskeras.models.cnn((16, 16, 3), n_outputs=2, weights="imagenet")


def test_registry_lists_kinds_papers_and_names_what_exists():
    assert {f.kind for f in MODELS.values()} == {"pixel", "patch", "dense", "multi-input"}
    assert all(f.paper and f.description for f in MODELS.values())
    with pytest.raises(ValueError, match="unknown model 'vgg99'; choose one of ann, cnn, compact_resnet"):
        get_model_family("vgg99")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_model_family("ann").options()["hidden"] == (64, 64)


def test_builder_contract_keeps_the_signature():
    @builder_contract(renamed={"old": "new"})
    def toy(input_shape, *, new: int = 1):
        """Toy."""
        return input_shape, new

    assert list(inspect.signature(toy).parameters) == ["input_shape", "new"] and toy.__doc__ == "Toy."
    with pytest.warns(DeprecationWarning):
        assert toy(3, old=2) == (3, 2)
