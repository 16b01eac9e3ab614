"""Deprecated alias of :mod:`rskeras.data.ee_records` (renamed in rskeras 0.2; removed in 0.3)."""

import warnings

from rskeras.data.ee_records import *  # noqa: F403
from rskeras.data.ee_records import __all__  # noqa: F401

warnings.warn("rskeras.data.earthengine is renamed rskeras.data.ee_records", DeprecationWarning, stacklevel=2)
