"""Deprecated alias of :mod:`rskeras.ee_export` (renamed in rskeras 0.2; removed in 0.3)."""

import warnings

from rskeras.ee_export import *  # noqa: F403
from rskeras.ee_export import __all__  # noqa: F401

warnings.warn("rskeras.earthengine is renamed rskeras.ee_export", DeprecationWarning, stacklevel=2)
