"""The one way rskeras packages export public names: a table of name -> defining module, imported on first use.

Every package ``__init__`` declares its public names as data (defining module -> names)
and gets ``__all__``, ``__getattr__`` and ``__dir__`` from :func:`lazy_exports`::

    __all__, __getattr__, __dir__ = lazy_exports(__name__, {
        "rskeras.inference.predict": ["PredictionResult", "predict_raster"],
    }, submodules=["tiling"])

A name's module is imported only when the name is first looked up, so ``import
rskeras.data`` does not load TensorFlow, and the pure-geo helpers stay light.
Deprecated names (``deprecated={"old": "new_module:new_name"}``) still resolve, with a
:class:`DeprecationWarning` naming the new spelling; they are not in ``__all__``.

``eager=True`` resolves every name at once. :mod:`rskeras.models` needs it: its family
folders are named like the builders they export (``models/unet/`` builds ``unet``), and
Python binds a sub-package to its parent's attribute when the sub-package is first
imported; binding the builders after all families are loaded makes the builder win.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping


def lazy_exports(
    package: str,
    exports: Mapping[str, Iterable[str]],
    submodules: Iterable[str] = (),
    deprecated: Mapping[str, str] | None = None,
    eager: bool = False,
) -> tuple[list[str], Callable[[str], object], Callable[[], list[str]]]:
    """``(__all__, __getattr__, __dir__)`` for ``package``.

    Args:
        package: the package's ``__name__``.
        exports: module (absolute name) -> the public names it defines.
        submodules: sub-packages or modules exposed as attributes (``rskeras.data``).
        deprecated: old name -> ``"module:name"`` of its replacement.
        eager: import every module and bind every name now.

    Returns:
        The sorted public names and the module-level ``__getattr__`` / ``__dir__``.
    """
    where = {name: module for module, names in exports.items() for name in names}
    submodules = tuple(submodules)
    deprecated = dict(deprecated or {})
    public = sorted(where) + sorted(submodules)

    def __getattr__(name: str):
        if name in where:
            value = getattr(importlib.import_module(where[name]), name)
        elif name in submodules:
            value = importlib.import_module(f"{package}.{name}")
        elif name in deprecated:
            target = deprecated[name]
            warnings.warn(f"{package}.{name} is deprecated; use {target.replace(':', '.')}",
                          DeprecationWarning, stacklevel=2)
            module, _, new = target.partition(":")
            value = importlib.import_module(module)
            return getattr(value, new) if new else value
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return list(public)

    sys.modules[package].__submodules__ = submodules  # for the test that no exported name is a stray module
    if eager:
        for name in where:
            __getattr__(name)
    return public, __getattr__, __dir__
