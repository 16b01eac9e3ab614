"""Regression errors per class of a stratifying map: the SEN12TP table of MAE per ESA WorldCover class.

The stratifying map (e.g. ESA WorldCover 10 m) is only used to group pixels; it is not an
input of the model. Inputs are arrays of the same shape, or a raster path for the strata.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np

from rskeras.data.class_schemes import WORLDCOVER_CLASSES
from rskeras.data.rasters import open_raster
from rskeras.evaluation.metrics import regression_report

def _read_strata(strata: np.ndarray | str | os.PathLike) -> np.ndarray:
    if isinstance(strata, (str, os.PathLike)):
        with open_raster(strata) as ds:
            return ds.read(1)
    return np.asarray(strata)


def mae_per_class(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    strata: np.ndarray | str | os.PathLike,
    class_names: Mapping[int, str] | None = None,
    nodata: float | None = None,
    ignore: tuple[int, ...] = (0,),
) -> dict:
    """MAE, RMSE, bias and count of ``y_pred - y_true`` per stratum value.

    Args:
        y_true, y_pred: target and predicted values, same shape (``(H, W)`` maps or vectors).
        strata: class values of the same shape (an array, or a single-band raster's path).
        class_names: stratum value -> name (default :data:`rskeras.data.WORLDCOVER_CLASSES`; unnamed
            values are reported as ``"class <value>"``).
        nodata: a target value to leave out; NaN targets and predictions are always left out.
        ignore: stratum values to leave out (WorldCover's 0 is no data).

    Returns:
        ``{"per_class": {name: {"value", "mae", "rmse", "bias", "n"}}, "overall": {...}}``, classes
        in increasing stratum value, each with at least one valid pixel.
    """
    names = WORLDCOVER_CLASSES if class_names is None else dict(class_names)
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    strata = _read_strata(strata)
    if not (y_true.shape == y_pred.shape == strata.shape):
        raise ValueError(f"y_true {y_true.shape}, y_pred {y_pred.shape} and strata {strata.shape} must have the "
                         "same shape")
    valid = np.isfinite(y_true) & np.isfinite(y_pred) & ~np.isin(strata, ignore)
    if nodata is not None:
        valid &= y_true != nodata
    per_class = {}
    for value in np.unique(strata[valid]):
        mask = valid & (strata == value)
        r = regression_report(y_true[mask], y_pred[mask])
        name = names.get(int(value), f"class {int(value)}")
        per_class[name] = {"value": int(value), "mae": r["mae"], "rmse": r["rmse"], "bias": r["bias"], "n": r["n"]}
    overall = regression_report(y_true[valid], y_pred[valid]) if valid.any() else {"n": 0}
    return {"per_class": per_class, "overall": overall}
