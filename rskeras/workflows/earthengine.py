"""Deprecated alias of :mod:`rskeras.workflows.ee_round_trip` (renamed in rskeras 0.2; removed in 0.3)."""

import warnings

from rskeras.workflows.ee_round_trip import predict_ee_export

__all__ = ["predict_ee_export"]

warnings.warn("rskeras.workflows.earthengine is renamed rskeras.workflows.ee_round_trip", DeprecationWarning,
              stacklevel=2)
