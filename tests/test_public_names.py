"""Every public name resolves, packages load TensorFlow only when they must, renamed modules still import."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import rskeras
from rskeras.saving import SERIALIZABLE_MODULES

PACKAGE_DIR = Path(rskeras.__file__).parent
DEPRECATED = {"rskeras.earthengine", "rskeras.data.earthengine", "rskeras.workflows.earthengine"}


def _packages() -> list[str]:
    names = ["rskeras"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # walk_packages imports the deprecated aliases too
        for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="rskeras."):
            if info.ispkg and info.name not in DEPRECATED:
                names.append(info.name)
    return names


@pytest.mark.parametrize("package", _packages())
def test_every_name_in_all_resolves(package):
    module = importlib.import_module(package)
    assert hasattr(module, "__all__"), f"{package} has no __all__"
    assert len(set(module.__all__)) == len(module.__all__), f"{package}.__all__ repeats a name"
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize("package", ["rskeras", "rskeras.data", "rskeras.ee_export", "rskeras.inference",
                                     "rskeras.serving", "rskeras.evaluation"])
def test_light_packages_do_not_import_tensorflow(package):
    code = (f"import {package}, sys; from rskeras.data import read_points, sample_raster, SENSORS; "
            "from rskeras.inference import tiling, outputs; "
            "sys.exit(1 if 'tensorflow' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], cwd=PACKAGE_DIR.parent).returncode == 0, \
        f"importing {package} (and the pure-geo helpers) loaded TensorFlow"


def test_serializable_modules_are_complete():
    """Every module that registers a Keras object is imported by rskeras.load_model."""
    registering = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        if "register_keras_serializable" in path.read_text():
            registering.add(".".join(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts))
    assert registering == set(SERIALIZABLE_MODULES)


@pytest.mark.parametrize("package", _packages())
def test_no_exported_name_is_shadowed_by_a_module(package):
    """Importing every sub-module never turns an exported function into a module (``rskeras.training.fit``)."""
    module = importlib.import_module(package)
    folder = Path(module.__file__).parent
    for info in pkgutil.iter_modules([str(folder)]):
        if f"{package}.{info.name}" not in DEPRECATED and info.name != "__main__":
            importlib.import_module(f"{package}.{info.name}")
    intended = getattr(module, "__submodules__", ())
    shadowed = [n for n in module.__all__ if inspect.ismodule(getattr(module, n)) and n not in intended]
    assert not shadowed, f"{package}: exported names that are modules: {shadowed}"


def test_builders_win_over_their_family_folders():
    """``rskeras.models.unet`` is the builder even when a family module was imported first (a fresh process)."""
    code = ("import rskeras.models.unet.unet_segmenter, rskeras.models.ann.ann_pixel_model, inspect; "
            "import rskeras.models as m; "
            "bad = [n for n in m.__all__ if inspect.ismodule(getattr(m, n)) and n not in ('backbones',)]; "
            "assert not bad, bad; print(m.ann.__module__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=PACKAGE_DIR.parent, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "rskeras.models.ann.ann_pixel_model"


@pytest.mark.parametrize("old, new, name", [
    ("rskeras.earthengine", "rskeras.ee_export", "grid_cells"),
    ("rskeras.data.earthengine", "rskeras.data.ee_records", "read_mixer"),
    ("rskeras.workflows.earthengine", "rskeras.workflows.ee_round_trip", "predict_ee_export"),
])
def test_renamed_modules_keep_a_deprecated_alias(old, new, name):
    sys.modules.pop(old, None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        alias = importlib.import_module(old)
    assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught)
    assert getattr(alias, name) is getattr(importlib.import_module(new), name)


def test_models_ann_is_the_builder():
    """The README's ``rskeras.models.ann(...)`` (it was a module once)."""
    from rskeras import models

    assert callable(models.ann) and re.match(r"<function ann", repr(models.ann))
