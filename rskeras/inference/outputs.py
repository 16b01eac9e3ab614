"""What a prediction writes, by task: class maps, probabilities or values (no TensorFlow here).

==============  ================================  ==========================================
task            main output (``dst``)             probabilities (optional)
==============  ================================  ==========================================
multiclass      uint8 class map (argmax), 1 band  float32, one band per class
binary          uint8 0/1 map (p > 0.5), 1 band   float32, 1 band: p(positive)
multilabel      uint8 0/1, one band per label     float32, one band per label
regression      float32, one band per output      (none)
==============  ================================  ==========================================

Classes come from :meth:`rskeras.tasks.Task.decode` (p = 0.5 is class 0; ties go to the lowest class).

Nodata: class maps use 255 (:data:`CLASS_NODATA`); float32 outputs (values and
probabilities) use -9999 (:data:`FLOAT_NODATA`) unless ``nodata=`` is given.
-9999 rather than NaN because every GIS tool honours it and comparisons with it
are exact. Pixels that are nodata in the input are nodata in every output.

Class names go into the GDAL metadata of class maps (tag ``CLASS_NAMES``, a JSON
list indexed by class value) and into band descriptions; single-band class maps
get a colour map with distinct colours. Every output carries the tag
``RSKERAS_TASK``.

With ``uncertainty=`` (:mod:`rskeras.inference.uncertainty`) the map is made from the mean prediction and
``<dst stem>_uncertainty.tif`` (float32, nodata as the values) holds the uncertainty: entropy in nats for
classification (one band for multiclass, one per output for binary and multilabel), the standard deviation
in the target's units for regression (one per output); tags ``UNCERTAINTY_METHOD`` and
``UNCERTAINTY_UNITS``. With ``cog=True`` every output is a Cloud-Optimised GeoTIFF
(:mod:`rskeras.inference.cog`): overviews by mode for class maps, by average for probabilities, values and
uncertainty.
"""

from __future__ import annotations

import colorsys
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from rasterio.windows import Window

from rskeras.inference.uncertainty import UNITS, is_classification, uncertainty_band_names, uncertainty_bands
from rskeras.inference.writer import GeoTIFFOutputs, OutputSpec
from rskeras.io import check_outputs
from rskeras.tasks import get_task

GEOTIFF_SUFFIXES = (".tif", ".tiff")
CLASS_NODATA = 255
FLOAT_NODATA = -9999.0


def distinct_colors(n: int) -> list[tuple[int, int, int, int]]:
    """``n`` RGBA colours with hues spread by the golden angle (no two alike for small n)."""
    colors = []
    for i in range(n):
        hue = (i * 0.618033988749895) % 1.0
        value = 0.95 if i % 2 == 0 else 0.7
        r, g, b = colorsys.hsv_to_rgb(hue, 0.75, value)
        colors.append((round(r * 255), round(g * 255), round(b * 255), 255))
    return colors


#: Overview resampling of Cloud-Optimised outputs: the majority class for class maps, the mean for floats.
COG_RESAMPLING = {"uint8": "mode", "float32": "average"}


def probabilities_path(dst: Path) -> Path:
    """``<dst stem>_probabilities<suffix>`` beside ``dst``."""
    return dst.with_name(f"{dst.stem}_probabilities{dst.suffix or '.tif'}")


def uncertainty_path(dst: Path) -> Path:
    """``<dst stem>_uncertainty<suffix>`` beside ``dst``."""
    return dst.with_name(f"{dst.stem}_uncertainty{dst.suffix or '.tif'}")


def check_prediction_outputs(dst: str | os.PathLike, probabilities: str | os.PathLike | bool | None, src,
                             uncertainty: str | None = None) -> None:
    """Refuse, before any work, outputs that are inputs, existing folders or not GeoTIFF names (:mod:`rskeras.io`).

    ``src`` is what ``predict_raster`` takes: a path, a list of paths or a dict of paths; ``uncertainty``
    adds :func:`uncertainty_path` of ``dst``.
    """
    outputs = [(dst, GEOTIFF_SUFFIXES, "dst")]
    if probabilities:
        path = probabilities_path(Path(dst)) if probabilities is True else probabilities
        outputs.append((path, GEOTIFF_SUFFIXES, "probabilities"))
    if uncertainty:
        outputs.append((uncertainty_path(Path(dst)), GEOTIFF_SUFFIXES, "uncertainty"))
    sources = src.values() if isinstance(src, dict) else [src] if isinstance(src, (str, os.PathLike)) else src
    check_outputs(outputs, inputs=[os.fspath(s) for s in sources if isinstance(s, (str, os.PathLike))])


@dataclass
class OutputPlan:
    """The output rasters of one prediction and how model outputs become their bands.

    Attributes:
        task: the model's task (``"regression"`` for models without a task head).
        n_outputs: size of the model output's last axis.
        class_names: names of the values of the class map (index = value), or of the
            regression outputs; None when unknown.
        specs: ``[main]``, then the probabilities and the uncertainty rasters when asked for.
        roles: per spec, ``"main"``, ``"probabilities"`` or ``"uncertainty"``.
        uncertainty: the uncertainty method, or None.
        decoded: the runner returns classes, not probabilities (:meth:`rskeras.inference.model_spec.Runner.decoding`;
            only for :attr:`classes_only` plans).
    """

    task: str
    n_outputs: int
    class_names: list[str] | None
    specs: list[OutputSpec]
    roles: list[str]
    uncertainty: str | None = None
    decoded: bool = False

    def path(self, role: str) -> Path | None:
        """The path of the output with ``role``, or None when it is not written."""
        return self.specs[self.roles.index(role)].path if role in self.roles else None

    @property
    def probabilities(self) -> Path | None:
        return self.path("probabilities")

    @property
    def classes_only(self) -> bool:
        """Only the class map is written: the probabilities are needed for nothing else."""
        return is_classification(self.task) and self.roles == ["main"]

    @property
    def n_channels(self) -> int:
        """Channels of what the runner returns per pixel: the outputs, and their variances for regression
        with uncertainty (:class:`rskeras.inference.uncertainty.UncertaintyRunner`); a decoding runner's
        classes (one, or one per label for multilabel)."""
        if self.decoded:
            return self.specs[0].count  # the class map's bands
        return 2 * self.n_outputs if self.uncertainty and not is_classification(self.task) else self.n_outputs

    def bands(self, pred: np.ndarray) -> list[np.ndarray]:
        """Runner outputs ``(n_channels, ...)`` float32 -> one ``(count, ...)`` array per spec, nodata not set."""
        if self.decoded:
            return [pred.astype(np.uint8)]
        spread = None
        if self.uncertainty:
            pred, spread = uncertainty_bands(pred, self.task, self.n_outputs)
        if self.task == "regression":
            labels = pred.astype(np.float32, copy=False)
        else:
            labels = get_task(self.task).decode(pred, axis=0).astype(np.uint8)
            labels = labels if self.task == "multilabel" else labels[None]
        bands = {"main": labels, "probabilities": pred.astype(np.float32, copy=False), "uncertainty": spread}
        return [bands[role] for role in self.roles]

    def encode(self, pred: np.ndarray, invalid: np.ndarray) -> list[np.ndarray]:
        """Runner outputs ``(n_channels, h, w)`` float32 -> one ``(count, h, w)`` array per spec.

        ``invalid`` ``(h, w)`` bool marks nodata pixels; their values in ``pred``
        are ignored.
        """
        return [np.where(invalid[None], np.asarray(spec.nodata, band.dtype), band)
                for spec, band in zip(self.specs, self.bands(pred))]

    def write(self, outputs: GeoTIFFOutputs, pred: np.ndarray, invalid: np.ndarray, window: Window) -> None:
        """Encode ``pred`` ``(n_channels, h, w)`` with its nodata ``invalid`` ``(h, w)`` (:meth:`encode`) and
        write each output's part at ``window``."""
        for index, array in enumerate(self.encode(pred, invalid)):
            outputs.write(index, array, window)

    def write_pixels(self, outputs: GeoTIFFOutputs, pred: np.ndarray, invalid: np.ndarray, window: Window) -> None:
        """Encode the predictions ``pred`` ``(n, n_channels)`` of the ``n`` valid pixels of ``invalid`` ``(h, w)``
        (in row-major order) and write each output's part at ``window``, nodata elsewhere.

        Only the valid pixels are decoded; each output's bands are then scattered onto the window."""
        valid = ~invalid
        for index, (spec, band) in enumerate(zip(self.specs, self.bands(pred.T))):
            array = np.full((len(band), *invalid.shape), spec.nodata, band.dtype)
            array[:, valid] = band
            outputs.write(index, array, window)


def plan_outputs(
    task: str | None,
    n_outputs: int,
    class_names: Sequence[str] | None,
    dst: Path,
    probabilities: str | Path | bool | None = None,
    nodata: float | None = None,
    uncertainty: str | None = None,
    cog: bool = False,
) -> OutputPlan:
    """The output rasters for a model with ``task`` and ``n_outputs`` (see the module's table).

    Args:
        uncertainty: the method of :mod:`rskeras.inference.uncertainty`, or None.
        cog: write Cloud-Optimised GeoTIFFs (overviews by :data:`COG_RESAMPLING`).
    """
    task = task or "regression"
    float_nodata = FLOAT_NODATA if nodata is None else float(nodata)
    main, extra, map_names = _main_output(task, n_outputs, class_names, dst, probabilities, float_nodata)
    specs, roles = [main], ["main"]
    if extra is not None:
        specs.append(extra)
        roles.append("probabilities")
    if uncertainty:
        names = uncertainty_band_names(task, main.descriptions)
        unit = UNITS["classification" if is_classification(task) else "regression"]
        specs.append(OutputSpec(uncertainty_path(dst), "float32", len(names), float_nodata, names,
                                {"RSKERAS_TASK": task, "UNCERTAINTY_METHOD": uncertainty, "UNCERTAINTY_UNITS": unit}))
        roles.append("uncertainty")
    if cog:
        for spec in specs:
            spec.cog = COG_RESAMPLING[spec.dtype]
    return OutputPlan(task, n_outputs, map_names, specs, roles, uncertainty)


def _main_output(
    task: str, n_outputs: int, class_names: Sequence[str] | None, dst: Path, probabilities, float_nodata: float,
) -> tuple[OutputSpec, OutputSpec | None, list[str] | None]:
    """The map (class map or values), the probabilities raster when asked for (else None), and the names of
    the map's values (classification) or outputs (regression; None when the model has none)."""
    names = list(class_names) if class_names is not None else None
    tags = {"RSKERAS_TASK": task}
    if task == "regression":
        if probabilities:
            raise ValueError("a regression model has no probabilities; leave probabilities= unset")
        descriptions = names or (["value"] if n_outputs == 1 else [f"value_{i}" for i in range(n_outputs)])
        return OutputSpec(dst, "float32", n_outputs, float_nodata, descriptions,
                          dict(tags, OUTPUT_NAMES=descriptions)), None, names
    if task == "multiclass":
        if n_outputs > CLASS_NODATA:
            raise ValueError(f"a uint8 class map holds at most {CLASS_NODATA} classes, the model has {n_outputs}")
        map_names = names or [f"class_{i}" for i in range(n_outputs)]
        prob_names = map_names
        main = OutputSpec(dst, "uint8", 1, CLASS_NODATA, ["class"], dict(tags, CLASS_NAMES=map_names),
                          colormap=dict(enumerate(distinct_colors(n_outputs))))
    elif task == "binary":
        positive = names[0] if names else "positive"
        map_names = [f"not {positive}", positive] if names else ["negative", "positive"]
        prob_names = [f"p({positive})"]
        main = OutputSpec(dst, "uint8", 1, CLASS_NODATA, [positive], dict(tags, CLASS_NAMES=map_names),
                          colormap=dict(enumerate(distinct_colors(2))))
    elif task == "multilabel":
        map_names = names or [f"label_{i}" for i in range(n_outputs)]
        prob_names = map_names
        main = OutputSpec(dst, "uint8", n_outputs, CLASS_NODATA, map_names, dict(tags, CLASS_NAMES=map_names))
    else:
        raise ValueError(f"unknown task {task!r} in the model")
    if not probabilities:
        return main, None, map_names
    path = probabilities_path(dst) if probabilities is True else Path(probabilities)
    if path == dst:
        raise ValueError(f"the probabilities path {path} is the class map's path; give another")
    return main, OutputSpec(path, "float32", len(prob_names), float_nodata, prob_names,
                            dict(tags, CLASS_NAMES=prob_names)), map_names
