"""Opening rasters and resolving their bands by index or name (rasterio, no TensorFlow)."""

from __future__ import annotations

import contextlib
import numbers
import os
from collections.abc import Iterator, Sequence

import rasterio
from rasterio.errors import RasterioIOError
from rasterio.io import DatasetReaderBase

from rskeras.data.sensors import SensorSpec, band_index, get_sensor

RasterLike = str | os.PathLike | DatasetReaderBase


@contextlib.contextmanager
def open_raster(raster: RasterLike) -> Iterator[DatasetReaderBase]:
    """Yield an open rasterio dataset; a path is opened and closed, a dataset is left open.

    Raises FileNotFoundError for a missing path and ValueError naming the path when
    GDAL cannot open it as a raster.
    """
    if isinstance(raster, DatasetReaderBase):
        yield raster
        return
    path = os.fspath(raster)
    if not os.path.exists(path) and "://" not in path and not path.startswith("/vsi"):
        raise FileNotFoundError(f"raster not found: {path}")
    try:
        ds = rasterio.open(path)
    except RasterioIOError as err:
        raise ValueError(f"cannot open raster {path}: {err}") from err
    with ds:
        yield ds


def band_names(ds: DatasetReaderBase, sensor: str | SensorSpec | None = None) -> list[str]:
    """Names of all bands of ``ds``: its band descriptions when every band has one,
    else the sensor's band names, else ``band_1``, ``band_2``, ... (rasterio numbering)."""
    if all(ds.descriptions):
        return list(ds.descriptions)
    if sensor is not None:
        spec = get_sensor(sensor)
        if len(spec.bands) != ds.count:
            raise ValueError(
                f"raster {ds.name} has {ds.count} bands but sensor {spec.name!r} has {len(spec.bands)} "
                f"({', '.join(spec.bands)})"
            )
        return list(spec.bands)
    return [f"band_{i}" for i in range(1, ds.count + 1)]


def resolve_bands(
    ds: DatasetReaderBase,
    bands: Sequence[int | str] | None = None,
    sensor: str | SensorSpec | None = None,
) -> tuple[list[int], list[str]]:
    """Rasterio band indexes (1-based) and names for a band selection.

    ``bands`` items are rasterio band indexes (1 = first band) or names: a band
    description, a sensor band name or alias (with ``sensor``), or ``band_<i>``.
    None selects all bands. Raises KeyError naming a missing band and listing the
    raster's bands.
    """
    names = band_names(ds, sensor)
    if bands is None:
        return list(range(1, ds.count + 1)), names
    if isinstance(bands, (str, numbers.Integral)):
        bands = [bands]
    lowered = [n.lower() for n in names]
    available = ", ".join(f"{i}={n}" for i, n in enumerate(names, start=1))
    indexes = []
    for band in bands:
        if isinstance(band, numbers.Integral):
            band = int(band)
            if not 1 <= band <= ds.count:
                raise KeyError(f"raster {ds.name} has no band {band} (bands are numbered from 1): {available}")
            indexes.append(band)
        elif band.lower() in lowered:
            indexes.append(lowered.index(band.lower()) + 1)
        elif band.lower().startswith("band_") and band[5:].isdigit() and 1 <= int(band[5:]) <= ds.count:
            indexes.append(int(band[5:]))
        elif sensor is not None and not all(ds.descriptions):
            try:
                indexes.append(band_index(get_sensor(sensor), band) + 1)
            except KeyError as err:
                raise KeyError(f"raster {ds.name}: {err.args[0]}") from None
        else:
            hint = "" if sensor is not None or all(ds.descriptions) else " (pass sensor= to use sensor band names)"
            raise KeyError(f"raster {ds.name} has no band {band!r}; bands: {available}{hint}")
    return indexes, [names[i - 1] for i in indexes]
