"""The one raster layer: opening rasters and resolving their bands (rasterio, no TensorFlow).

Every part of rskeras that reads a raster (sampling, prediction, chips for Earth
Engine records, reference points) opens it with :func:`open_raster` and picks its
bands with :func:`resolve_bands` or, for a model's input, :func:`match_model_bands`.

Band names. A raster's bands are named, in this order of preference:

1. its band descriptions, when every band has one;
2. else the names of a sensor (``sensor="hls_l30"``, see :data:`rskeras.data.SENSORS`),
   whose band count must equal the raster's;
3. else ``band_1``, ``band_2``, ... (:func:`default_band_names`, rasterio numbering).

A band is selected by its 1-based index, by its name (case-insensitive), by
``band_<i>`` on any raster, or by a sensor band name or alias (``"B05"``) when a
sensor names an undescribed raster. A band that is not there raises
:class:`BandError`, naming the raster and listing its bands.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import MaskFlags
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReaderBase
from rasterio.vrt import WarpedVRTReaderBase
from rasterio.windows import Window

from rskeras.data.sensors import SensorSpec, band_index, get_sensor

RasterLike = str | os.PathLike | DatasetReaderBase
_HAS_PLAIN_READ = hasattr(DatasetReaderBase, "_read")  # rasterio's read step, in every release since 1.0
BandLike = int | str


class BandError(KeyError, ValueError):
    """A band that a raster does not have, or a band list that does not fit a model.

    A ``KeyError`` (a band looked up by name or index) and a ``ValueError`` (a bad
    argument); its text is the plain message, without the quotes ``KeyError`` adds.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@contextlib.contextmanager
def open_raster(raster: RasterLike) -> Iterator[DatasetReaderBase]:
    """Yield an open rasterio dataset; a path is opened and closed, a dataset is left open.

    Raises FileNotFoundError for a missing path and ValueError naming the path when
    GDAL cannot open it as a raster.
    """
    if isinstance(raster, DatasetReaderBase):
        yield raster
        return
    with open_dataset(raster) as ds:
        yield ds


def open_dataset(path: str | os.PathLike) -> DatasetReaderBase:
    """Open the raster at ``path`` for reading; the caller closes it (prefer :func:`open_raster`).

    Raises FileNotFoundError for a missing path and ValueError naming the path when
    GDAL cannot open it as a raster.
    """
    path = os.fspath(path)
    if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
        raise FileNotFoundError(f"raster not found: {path}")
    try:
        return rasterio.open(path)
    except RasterioIOError as err:
        raise ValueError(f"cannot open raster {path}: {err}") from err


@dataclass(frozen=True)
class Masking:
    """How a raster marks invalid pixels, read once from its header.

    Attributes:
        kind: ``"none"`` (every pixel valid), ``"nodata"`` (a nodata value per band) or ``"masks"`` (mask bands).
        nodata: each band's nodata value (None: none), in band order.
    """

    kind: str
    nodata: tuple[float | None, ...]


def mask_kind(ds: DatasetReaderBase) -> Masking:
    """How ``ds`` marks invalid pixels (its :class:`Masking`)."""
    flags = ds.mask_flag_enums
    if all(f == [MaskFlags.all_valid] for f in flags):
        kind = "none"
    else:
        kind = "nodata" if all(MaskFlags.nodata in f for f in flags) else "masks"
    return Masking(kind, tuple(ds.nodatavals))


def bands_dtype(ds: DatasetReaderBase, indexes: Sequence[int]) -> np.dtype:
    """The dtype that holds every value of ``ds``'s bands ``indexes`` (a VRT's bands may differ)."""
    return np.result_type(*(ds.dtypes[i - 1] for i in indexes))


def read_bands(ds: DatasetReaderBase, indexes: Sequence[int], window: Window, out: np.ndarray) -> np.ndarray:
    """Read ``ds``'s bands ``indexes`` at ``window`` into ``out`` ``(bands, h, w)`` (any strides, e.g. a transposed
    pixel-interleaved buffer) and return it. GDAL converts the values to ``out``'s dtype (:func:`bands_dtype`
    holds them all).

    A window of whole pixels inside a file is read by rasterio's own read step (``_read``, GDAL's RasterIO into
    ``out``) without the checks of ``DatasetReader.read`` around it: nodata ranges, mask flags and debug logs of
    every band, about 35 µs a call, which is most of the time of a 64 px window of 7 bands. Any other window, and
    a ``WarpedVRT``, goes through ``read``: bands of one dtype in one call, bands that differ (a VRT) band by band.
    """
    indexes = list(indexes)
    if _plain_read(ds, window, out, len(indexes)):
        return ds._read(indexes, out, window, out.dtype)
    if len({ds.dtypes[i - 1] for i in indexes}) == 1:
        return ds.read(indexes, window=window, out=out)
    for band, index in zip(out, indexes):
        ds.read(index, window=window, out=band)
    return out


def _plain_read(ds: DatasetReaderBase, window: Window, out: np.ndarray, bands: int) -> bool:
    """Whether ``read_bands`` may read ``window`` with ``ds._read``: a plain dataset (not a ``WarpedVRT``,
    whose ``read`` differs), a window of whole pixels wholly inside it, and ``out`` of its shape."""
    if isinstance(ds, WarpedVRTReaderBase) or not _HAS_PLAIN_READ:
        return False
    col, row, w, h = window.col_off, window.row_off, window.width, window.height
    if not all(float(v).is_integer() for v in (col, row, w, h)):
        return False
    return (0 <= col and 0 <= row and col + w <= ds.width and row + h <= ds.height
            and out.shape == (bands, int(h), int(w)))


def valid_pixels(ds: DatasetReaderBase, indexes: Sequence[int], values: np.ndarray, window: Window | None,
                 masking: Masking) -> np.ndarray:
    """``(..., h, w)`` bool: pixels not nodata, not masked and not NaN in any band of ``values``.

    ``values`` ``(..., bands, h, w)`` (any dtype; leading axes for several windows) were read from ``ds``'s
    bands ``indexes``; ``masking`` is :func:`mask_kind` of ``ds``. Each band's nodata value is compared with its
    values (one outside their dtype's range marks nothing, as GDAL's nodata mask); mask bands are read only for
    kind ``"masks"``, at ``window`` (one window: ``values`` ``(bands, h, w)``).
    """
    if masking.kind == "none":
        valid = np.ones(values.shape[:-3] + values.shape[-2:], dtype=bool)
    elif masking.kind == "nodata":
        nodata = {masking.nodata[i - 1] for i in indexes}
        if len(nodata) == 1:  # one comparison for all bands (the usual file), in the values' own dtype
            value = _in_dtype(nodata.pop(), values.dtype)
            valid = ~_any_band(values == value) if value is not None else np.ones(
                values.shape[:-3] + values.shape[-2:], dtype=bool)
        else:  # each band against its own nodata value (a VRT may have one per band)
            valid = ~np.logical_or.reduce([values[..., b, :, :] == masking.nodata[i - 1]
                                           for b, i in enumerate(indexes)])
    else:
        valid = (ds.read_masks(list(indexes), window=window) > 0).all(axis=0)
    if values.dtype.kind == "f":
        valid &= ~_any_band(np.isnan(values))
    return valid


def _any_band(flags: np.ndarray) -> np.ndarray:
    """``(..., bands, h, w)`` bool -> ``(..., h, w)``: True where any band is.

    A pixel-interleaved view (each pixel's bands side by side in memory, as :meth:`Source.read_pixels` reads) of
    2, 4 or 8 bands is reduced by reading each pixel's flags as one integer: NumPy's reduction over a short
    innermost axis costs about 10x that (4.3 against 0.4 ms for 512 x 512 px of 8 bands).
    """
    bands = flags.shape[-3]
    interleaved = np.moveaxis(flags, -3, -1)
    if bands in (2, 4, 8) and interleaved.flags.c_contiguous:
        return interleaved.view(f"u{bands}")[..., 0] != 0
    return flags.any(axis=-3)


def _in_dtype(value: float, dtype: np.dtype):
    """``value`` as a scalar of ``dtype``, or None when no value of that dtype equals it (out of range, a fraction
    for integers, NaN)."""
    if np.isnan(value):
        return None
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return dtype.type(value) if float(value).is_integer() and info.min <= value <= info.max else None
    return dtype.type(value) if dtype.kind == "f" else value


def default_band_names(count: int) -> list[str]:
    """``band_1`` ... ``band_<count>``: the names of bands that have no other name."""
    return [f"band_{i}" for i in range(1, count + 1)]


def is_described(ds: DatasetReaderBase) -> bool:
    """Whether every band of ``ds`` has a description."""
    return all(ds.descriptions)


def band_names(ds: DatasetReaderBase, sensor: str | SensorSpec | None = None) -> list[str]:
    """Names of all bands of ``ds``: descriptions, else the sensor's names, else ``band_<i>``.

    Raises ValueError when ``sensor`` is needed and its band count differs from the raster's.
    """
    if is_described(ds):
        return list(ds.descriptions)
    if sensor is not None:
        spec = get_sensor(sensor)
        if len(spec.bands) != ds.count:
            raise ValueError(
                f"raster {ds.name} has {ds.count} bands but sensor {spec.name!r} has {len(spec.bands)} "
                f"({', '.join(spec.bands)}); choose the sensor of this file, or its bands by index"
            )
        return list(spec.bands)
    return default_band_names(ds.count)


def band_listing(ds: DatasetReaderBase, sensor: str | SensorSpec | None = None) -> str:
    """``"1=red, 2=green, 3=blue"``: the raster's bands for error messages."""
    return ", ".join(f"{i}={n}" for i, n in enumerate(band_names(ds, sensor), start=1))


def _band_number(ds: DatasetReaderBase, band: int, sensor) -> int:
    """A 1-based band index checked against the raster."""
    if not 1 <= band <= ds.count:
        raise BandError(
            f"raster {ds.name} has no band {band} (bands are numbered from 1): {band_listing(ds, sensor)}"
        )
    return band


def _band_by_name(ds: DatasetReaderBase, band: str, names: list[str], sensor) -> int:
    """The 1-based index of band ``band`` (see the module's naming rules)."""
    lowered = [n.lower() for n in names]
    if band.lower() in lowered:
        return lowered.index(band.lower()) + 1
    suffix = band[5:]
    if band.lower().startswith("band_") and suffix.isdigit() and 1 <= int(suffix) <= ds.count:
        return int(suffix)
    if sensor is not None and not is_described(ds):
        try:
            return band_index(get_sensor(sensor), band) + 1
        except KeyError as err:
            raise BandError(f"raster {ds.name}: {err.args[0]}") from None
    hint = "" if sensor is not None or is_described(ds) else " (pass sensor= to use sensor band names)"
    raise BandError(f"raster {ds.name} has no band {band!r}; bands: {band_listing(ds, sensor)}{hint}")


def resolve_bands(
    ds: DatasetReaderBase,
    bands: Sequence[BandLike] | BandLike | None = None,
    sensor: str | SensorSpec | None = None,
) -> tuple[list[int], list[str]]:
    """Rasterio band indexes (1-based) and names for a band selection.

    ``bands`` items are rasterio band indexes (1 = first band) or names (see the
    module's rules); None selects all bands. Raises :class:`BandError` naming a
    missing band and listing the raster's bands, TypeError for another kind of item.
    """
    names = band_names(ds, sensor)
    if bands is None:
        return list(range(1, ds.count + 1)), names
    if isinstance(bands, (str, numbers.Integral)):
        bands = [bands]
    indexes = []
    for band in bands:
        if isinstance(band, numbers.Integral) and not isinstance(band, bool):
            indexes.append(_band_number(ds, int(band), sensor))
        elif isinstance(band, str):
            indexes.append(_band_by_name(ds, band, names, sensor))
        else:
            raise TypeError(f"bands are 1-based band numbers or band names, got {band!r}")
    return indexes, [names[i - 1] for i in indexes]


def match_model_bands(
    ds: DatasetReaderBase,
    model_bands: Sequence[str] | None,
    n_model_bands: int | None,
    bands: Sequence[BandLike] | None = None,
    sensor: str | SensorSpec | None = None,
) -> tuple[list[int], list[str]]:
    """The bands of ``ds`` that feed a model input, as 1-based indexes and names.

    One rule for every model:

    1. ``bands`` given: those bands (:func:`resolve_bands`); their number must be
       the model's.
    2. Else, when the model carries band names (``model_bands``) and the raster's
       bands are named (descriptions, or ``sensor``) or the model's names are
       ``band_<i>`` names: the bands of those names, in the model's order. A name
       the raster lacks is an error naming both lists.
    3. Else all bands, whose number must be the model's. A model with band names on
       an undescribed raster without a sensor gets its bands in file order, with a
       warning that says so.

    Args:
        model_bands: the names the model's normalisation holds, or None.
        n_model_bands: the size of the model input's band axis, or None when free.

    Raises:
        BandError naming the raster, the model's bands and the raster's bands.
    """
    if bands is not None:
        try:
            indexes, names = resolve_bands(ds, bands, sensor)
        except BandError as err:
            trained = f"; the model was trained on bands {', '.join(model_bands)}" if model_bands else ""
            raise BandError(f"{err}{trained}") from None
        _check_count(ds, names, n_model_bands, bands, model_bands, sensor)
        return indexes, names
    named = is_described(ds) or sensor is not None
    if model_bands and (named or all(_is_default_name(b, ds.count) for b in model_bands)):
        return _by_model_names(ds, list(model_bands), sensor)
    names = band_names(ds, sensor)
    _check_count(ds, names, n_model_bands, None, model_bands, sensor)
    if model_bands and list(model_bands) != names:
        warnings.warn(
            f"raster {ds.name} has no band descriptions; its {ds.count} bands are fed to the model as "
            f"{', '.join(model_bands)} in file order (pass sensor= to match them by name)",
            UserWarning,
            stacklevel=3,
        )
    return list(range(1, ds.count + 1)), names


def _is_default_name(name: str, count: int) -> bool:
    return name.lower().startswith("band_") and name[5:].isdigit() and 1 <= int(name[5:]) <= count


def _by_model_names(ds: DatasetReaderBase, model_bands: list[str], sensor) -> tuple[list[int], list[str]]:
    """The raster's bands named like the model's, or a BandError naming both lists."""
    try:
        return resolve_bands(ds, model_bands, sensor)
    except BandError:
        missing = [b for b in model_bands if not _has_band(ds, b, sensor)]
        raise BandError(
            f"the model was trained on bands {', '.join(model_bands)}, but raster {ds.name} has bands "
            f"{band_listing(ds, sensor)}: no {', '.join(missing)}. Choose the raster's bands for the model "
            "with bands= (1-based numbers or names, in the model's order), or the sensor= that names them"
        ) from None


def _has_band(ds: DatasetReaderBase, band: str, sensor) -> bool:
    try:
        resolve_bands(ds, [band], sensor)
    except BandError:
        return False
    return True


def _check_count(
    ds: DatasetReaderBase, names: list[str], n_model_bands: int | None, selection: Sequence[BandLike] | None,
    model_bands: Sequence[str] | None, sensor: str | SensorSpec | None,
) -> None:
    """Raise BandError unless ``names`` (the bands chosen by ``selection``, or all) fit the model's band count."""
    if n_model_bands is None or len(names) == n_model_bands:
        return
    wanted = f" ({', '.join(model_bands)})" if model_bands else ""
    if selection is None:
        chosen = f"raster {ds.name} has {len(names)} band(s) ({band_listing(ds, sensor)})"
        listing = ""
    else:
        chosen = f"bands={list(selection)} selects {len(names)} band(s) ({', '.join(names)})"
        listing = f"; raster {ds.name} has {band_listing(ds, sensor)}"
    hint = " or name them with sensor=" if model_bands and sensor is None and not is_described(ds) else ""
    raise BandError(
        f"{chosen} but the model takes {n_model_bands}{wanted}; choose its bands with bands= (1-based numbers or "
        f"names){hint}{listing}"
    )
