"""Sensor band metadata declared as data, and spectral indices (pure numpy, no TensorFlow).

Each :class:`SensorSpec` names a raster's bands in file order, so code can ask for
``"nir"`` instead of remembering that it is band 5 of an HLS L30 file. Band names
are matched case-insensitively and may also be given by their aliases (product band
ids such as ``"B05"``, or common names such as ``"nir"`` for Sentinel-2's ``"B8"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SensorSpec:
    """Band layout and value conventions of one kind of raster.

    Attributes:
        name: registry key, e.g. ``"hls_l30"``.
        bands: band names in file order (band ``i`` of the tuple is rasterio band ``i + 1``).
        rgb_bands: names of the red, green and blue bands, for true-colour display.
        nodata: value marking missing pixels, or None when the product has none.
        scale: factor turning stored integers into surface reflectance (0-1), e.g.
            1e-4; None when the values are not reflectance (8-bit display values, dB).
        resolution_m: native ground sample distance in metres.
        description: one line on the product and its units.
        aliases: ``(alias, band name)`` pairs, e.g. ``("B05", "nir")``.
        band_scales: ``(band name, factor)`` pairs overriding ``scale`` for bands
            with other units (HLS thermal bands: 0.01 -> degrees Celsius).
    """

    name: str
    bands: tuple[str, ...]
    rgb_bands: tuple[str, str, str]
    nodata: float | None
    scale: float | None
    resolution_m: float
    description: str
    aliases: tuple[tuple[str, str], ...] = ()
    band_scales: tuple[tuple[str, float], ...] = ()

    def scale_for(self, band: str) -> float | None:
        """The factor that converts stored values of ``band`` to physical units."""
        name = self.bands[band_index(self, band)]
        return dict(self.band_scales).get(name, self.scale)


def band_index(spec: SensorSpec, name: str) -> int:
    """0-based position of band ``name`` (or an alias) in ``spec.bands``.

    Use it to index band-last arrays (``values[..., i]``); the rasterio band index is
    ``i + 1``. Raises KeyError naming the band and listing the sensor's bands.
    """
    wanted = name.lower()
    for alias, target in spec.aliases:
        if alias.lower() == wanted:
            wanted = target.lower()
            break
    for i, band in enumerate(spec.bands):
        if band.lower() == wanted:
            return i
    aliases = f"; aliases: {', '.join(a for a, _ in spec.aliases)}" if spec.aliases else ""
    raise KeyError(f"sensor {spec.name!r} has no band {name!r}; bands: {', '.join(spec.bands)}{aliases}")


_S2_IDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12")
_S2_COMMON = (
    "coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3",
    "nir", "nir08", "water_vapor", "cirrus", "swir16", "swir22",
)  # fmt: skip
_S2_L2A_IDS = tuple(b for b in _S2_IDS if b != "B10")  # L2A drops the cirrus band


def _zero_padded(ids: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """("B01", "B1") style aliases for Sentinel-2 band ids."""
    return tuple((f"B{b[1:].zfill(2)}", b) for b in ids if b[1:].isdigit() and len(b) == 2)


_HLS_L30 = ("coastal", "blue", "green", "red", "nir", "swir1", "swir2", "cirrus", "tir1", "tir2")
_HLS_L30_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B09", "B10", "B11")
_HLS_S30 = (
    "coastal", "blue", "green", "red", "rededge1", "rededge2", "rededge3",
    "nir_broad", "nir", "water_vapor", "cirrus", "swir1", "swir2",
)  # fmt: skip
_HLS_S30_IDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")

SENSORS: dict[str, SensorSpec] = {
    spec.name: spec
    for spec in (
        SensorSpec(
            name="hls_l30",
            bands=_HLS_L30,
            rgb_bands=("red", "green", "blue"),
            nodata=-9999,
            scale=1e-4,
            resolution_m=30.0,
            description="HLS v2 Landsat 8/9 surface reflectance x 10,000; tir1/tir2 brightness temperature "
            "x 100 (deg C)",
            aliases=tuple(zip(_HLS_L30_IDS, _HLS_L30)),
            band_scales=(("tir1", 0.01), ("tir2", 0.01)),
        ),
        SensorSpec(
            name="hls_s30",
            bands=_HLS_S30,
            rgb_bands=("red", "green", "blue"),
            nodata=-9999,
            scale=1e-4,
            resolution_m=30.0,
            description="HLS v2 Sentinel-2 surface reflectance x 10,000 resampled to 30 m",
            aliases=tuple(zip(_HLS_S30_IDS, _HLS_S30)),
        ),
        SensorSpec(
            name="sentinel2_l2a",
            bands=_S2_L2A_IDS,
            rgb_bands=("B4", "B3", "B2"),
            nodata=0,
            scale=1e-4,
            resolution_m=10.0,
            description="Sentinel-2 MSI Level-2A surface reflectance x 10,000 (12 bands, no B10)",
            aliases=tuple((c, b) for b, c in zip(_S2_IDS, _S2_COMMON) if b != "B10") + _zero_padded(_S2_L2A_IDS),
        ),
        SensorSpec(
            name="eurosat_ms",
            bands=_S2_IDS,
            rgb_bands=("B4", "B3", "B2"),
            nodata=None,
            scale=1e-4,
            resolution_m=10.0,
            description="EuroSAT multispectral: Sentinel-2 Level-1C top-of-atmosphere reflectance x 10,000, 13 bands",
            aliases=tuple(zip(_S2_COMMON, _S2_IDS)) + _zero_padded(_S2_IDS),
        ),
        SensorSpec(
            name="eurosat_rgb",
            bands=("red", "green", "blue"),
            rgb_bands=("red", "green", "blue"),
            nodata=None,
            scale=None,
            resolution_m=10.0,
            description="EuroSAT RGB: Sentinel-2 true-colour JPEG, 8-bit display values",
        ),
        SensorSpec(
            name="landsat7_etm_rgb",
            bands=("red", "green", "blue"),
            rgb_bands=("red", "green", "blue"),
            nodata=0,
            scale=None,
            resolution_m=30.0,
            description="Landsat 7 ETM+ true-colour composite, 8-bit display values, 0 = no data",
        ),
        SensorSpec(
            name="sentinel1_grd",
            bands=("VV", "VH"),
            rgb_bands=("VV", "VH", "VV"),
            nodata=None,
            scale=None,
            resolution_m=10.0,
            description="Sentinel-1 C-band SAR GRD backscatter in dB (Earth Engine COPERNICUS/S1_GRD)",
        ),
    )
}


def get_sensor(name: str | SensorSpec) -> SensorSpec:
    """The :class:`SensorSpec` registered as ``name`` (a spec is returned unchanged)."""
    if isinstance(name, SensorSpec):
        return name
    try:
        return SENSORS[name.lower()]
    except KeyError:
        raise KeyError(f"unknown sensor {name!r}; known sensors: {', '.join(sorted(SENSORS))}") from None


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(a - b) / (a + b)`` as float32, NaN where ``a + b == 0`` (any matching shapes)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total == 0, np.nan, (a - b) / np.where(total == 0, 1.0, total))
    return out.astype(np.float32)


def ndvi(nir: np.ndarray, red: np.ndarray) -> np.ndarray:
    """Normalised difference vegetation index, (nir - red) / (nir + red), in [-1, 1]."""
    return normalized_difference(nir, red)


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ndarray:
    """McFeeters' normalised difference water index, (green - nir) / (green + nir)."""
    return normalized_difference(green, nir)
