"""Per-pixel uncertainty: the mean of several predictions of each tile, and how much they disagree.

Methods (``predict_raster(..., uncertainty=...)``):

``"tta"``
    Test-time augmentation: each tile is predicted in the 8 symmetries of the square (:data:`DIHEDRAL`:
    identity, three rotations, four reflections; the parametrisation of :mod:`rskeras.data.augment`, whose
    random draws train the models), dense outputs are turned back, patch outputs (one per tile) are
    averaged as they are. A pixel model sees one pixel, which has no orientation: refused.
``"mc_dropout"``
    Monte Carlo dropout (Gal & Ghahramani 2016): ``passes`` predictions with the Dropout layers in training
    mode and everything else, batch normalisation included, in inference mode. Refused for a model without
    dropout.

The map is made from the mean prediction. The uncertainty raster has one band per band of the map:

- classification: the entropy of the mean probabilities, in **nats** (natural logarithm): 0 where every
  prediction is certain of the same class; at most ln K for K classes (1.099 for 3, 2.303 for 10), ln 2 =
  0.693 for a binary map and for each label of a multilabel map.
- regression: the standard deviation of the predictions, in the **target's units**.

Runners wrapped by :class:`UncertaintyRunner` return, per item, the mean probabilities (classification) or
the mean and the variance of each output (regression, ``2 * n`` channels), which ``predict_raster`` blends
across overlapping dense tiles like any prediction (a pixel's variance is then the weighted mean of its
tiles' variances). No TensorFlow here: the transforms are NumPy, so ONNX models get TTA too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from rskeras.inference.model_spec import ModelSpec, Runner

METHODS = ("tta", "mc_dropout")
DEFAULT_PASSES = 20  # stochastic passes of mc_dropout
#: The 8 symmetries of a square tile as (flip left-right, flip up-down, transpose), applied in that order.
DIHEDRAL = tuple((bool(lr), bool(ud), bool(tr)) for tr in (0, 1) for ud in (0, 1) for lr in (0, 1))
UNITS = {"classification": "nats", "regression": "target units"}


def dihedral(x: np.ndarray, index: int) -> np.ndarray:
    """Symmetry ``index`` of :data:`DIHEDRAL` applied to ``(n, H, W, c)`` tiles (square when it transposes)."""
    flip_lr, flip_ud, transpose = DIHEDRAL[index]
    x = x[:, :, ::-1] if flip_lr else x
    x = x[:, ::-1] if flip_ud else x
    return x.transpose(0, 2, 1, 3) if transpose else x


def undo_dihedral(y: np.ndarray, index: int) -> np.ndarray:
    """The inverse of :func:`dihedral`: ``(n, H, W, c)`` outputs of transformed tiles back in place."""
    flip_lr, flip_ud, transpose = DIHEDRAL[index]
    y = y.transpose(0, 2, 1, 3) if transpose else y
    y = y[:, ::-1] if flip_ud else y
    return y[:, :, ::-1] if flip_lr else y


def dihedral_predictions(predict: Callable[[list[np.ndarray]], np.ndarray], inputs: Sequence[np.ndarray],
                         dense: bool) -> Iterator[np.ndarray]:
    """``predict``'s output for each of the 8 symmetries (:data:`DIHEDRAL`, identity first) of the
    ``(n, H, W, c)`` arrays ``inputs``, one array at a time; ``dense`` ``(n, H, W, k)`` outputs are turned
    back into place, patch outputs ``(n, k)`` are yielded as they are."""
    for index in range(len(DIHEDRAL)):
        prediction = predict([np.ascontiguousarray(dihedral(x, index)) for x in inputs])
        yield undo_dihedral(prediction, index) if dense else prediction


def check_uncertainty(method: str | None, spec: ModelSpec, passes: int = DEFAULT_PASSES) -> None:
    """Refuse a method the model cannot take, before any work (the error names the model and says why)."""
    if method is None:
        return
    if method not in METHODS:
        raise ValueError(f"unknown uncertainty {method!r}; choose one of {', '.join(METHODS)}")
    if method == "tta" and spec.kind == "pixel":
        raise ValueError(
            f"uncertainty='tta' flips and rotates tiles, but {spec.name!r} is a pixel model: a pixel has no "
            "orientation, so every view would give the same prediction. Use uncertainty='mc_dropout' (a model "
            "with Dropout layers)"
        )
    if method == "mc_dropout" and not spec.dropout:
        where = (" (an exported file runs in inference mode only: use the .keras model)" if spec.source is not None
                 else "; train one with dropout (e.g. the builders' dropout= option)")
        raise ValueError(
            f"uncertainty='mc_dropout' needs Dropout layers, and model {spec.name!r} has none{where}, or use "
            "uncertainty='tta' (patch and dense models)"
        )
    if method == "mc_dropout" and passes < 2:
        raise ValueError(f"uncertainty='mc_dropout' needs at least 2 passes, got passes={passes}")


def is_classification(task: str | None) -> bool:
    return task not in (None, "regression")


class UncertaintyRunner:
    """A runner returning the mean of several predictions and, for regression, their variance.

    Args:
        runner: the model's runner.
        method: ``"tta"`` or ``"mc_dropout"`` (checked with :func:`check_uncertainty`).
        passes: stochastic passes of ``"mc_dropout"``.
    """

    def __init__(self, runner: Runner, method: str, passes: int = DEFAULT_PASSES):
        check_uncertainty(method, runner.spec, passes)
        self.runner, self.method, self.passes = runner, method, passes
        self.spec = runner.spec

    def __call__(self, inputs: list[np.ndarray], batch_size: int, stochastic: bool = False) -> np.ndarray:
        """``(n, ..., c)`` mean probabilities, or ``(n, ..., 2c)`` means and variances of ``c`` regression outputs."""
        mean = m2 = None
        for k, prediction in enumerate(self._predictions(inputs, batch_size), start=1):
            if mean is None:  # Welford's running mean and sum of squared deviations
                mean, m2 = prediction.astype(np.float32), np.zeros_like(prediction, np.float32)
                continue
            delta = prediction - mean
            mean += delta / k
            m2 += delta * (prediction - mean)
        if is_classification(self.spec.task):
            return mean
        return np.concatenate([mean, m2 / k], axis=-1)

    def decoding(self) -> None:
        """None: the uncertainty is computed from the probabilities, so they are decoded after averaging."""
        return None

    def _predictions(self, inputs: list[np.ndarray], batch_size: int):
        """Every prediction of ``inputs``, one array at a time."""
        if self.method == "mc_dropout":
            for _ in range(self.passes):
                yield self.runner(inputs, batch_size, stochastic=True)
            return
        yield from dihedral_predictions(lambda views: self.runner(views, batch_size), inputs,
                                        dense=self.spec.kind == "dense")


def uncertainty_bands(channels: np.ndarray, task: str | None, n_outputs: int) -> tuple[np.ndarray, np.ndarray]:
    """Split what an :class:`UncertaintyRunner` returned into the mean prediction and the uncertainty bands.

    Args:
        channels: ``(c, h, w)`` mean probabilities, or ``(2 * n, h, w)`` means and variances (regression).
        task: the model's task.
        n_outputs: ``n``, the model's outputs.

    Returns:
        ``(mean (n, h, w), uncertainty (bands, h, w))``: entropy in nats (1 band for multiclass, one per
        output for binary and multilabel) or the standard deviation in the target's units (one per output).
    """
    if not is_classification(task):
        mean, variance = channels[:n_outputs], channels[n_outputs:]
        return mean, np.sqrt(np.maximum(variance, 0)).astype(np.float32)
    p = np.clip(channels, 0.0, 1.0)
    if task == "multiclass":
        return channels, -np.sum(_p_log_p(p), axis=0, keepdims=True)
    return channels, -(_p_log_p(p) + _p_log_p(1 - p))


def uncertainty_band_names(task: str | None, names: list[str]) -> list[str]:
    """Band descriptions of the uncertainty raster for a map with band ``names``."""
    if not is_classification(task):
        return [f"standard deviation of {name}" for name in names]
    if task == "multiclass":
        return ["entropy (nats)"]
    return [f"entropy of {name} (nats)" for name in names]


def _p_log_p(p: np.ndarray) -> np.ndarray:
    """``p ln p`` with 0 at p = 0, float32."""
    return np.where(p > 0, p * np.log(np.maximum(p, np.finfo(np.float32).tiny)), 0).astype(np.float32)
