"""Image stacks for training patches and scenes (earthengine-api objects, built lazily on the server).

Bands, all float32 in the units given:
- Sentinel-2 L2A (``COPERNICUS/S2_SR_HARMONIZED``) median composite, clouds, shadows and cirrus
  masked with the scene classification (SCL 3, 8, 9, 10); reflectance x 10,000.
- Sentinel-1 GRD (``COPERNICUS/S1_GRD``) IW median VV and VH, dB.
- Copernicus GLO-30 DEM (``COPERNICUS/DEM/GLO30``) ``elevation``, metres.
- label: ESA WorldCover v200 classes remapped to 0..K-1, a user FeatureCollection painted by an
  integer property (both categorical), or NDVI of the Sentinel-2 composite (continuous, -1..1: the
  regression target of SAR-to-NDVI models such as SEN12TP's U-Net).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from rskeras.data.class_schemes import WORLDCOVER_CLASSES

S2_BANDS = ("B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B11", "B12")
LABEL_NODATA = 255
CATEGORICAL_LABELS = ("worldcover", "feature_collection")
CONTINUOUS_LABELS = ("ndvi",)


def _region(bbox: Sequence[float]):
    import ee

    return ee.Geometry.Rectangle(list(bbox), "EPSG:4326", False)


def sentinel2_composite(bbox: Sequence[float], start: str, end: str, bands: Sequence[str] = S2_BANDS, max_cloud: float = 60):
    """Cloud-masked median of Sentinel-2 L2A over ``bbox`` between ``start`` and ``end`` (ISO dates)."""
    import ee

    def mask(img):
        scl = img.select("SCL")
        clear = scl.neq(3).And(scl.neq(8)).And(scl.neq(9)).And(scl.neq(10))
        return img.updateMask(clear)

    coll = (
        ee.ImageCollection("COPERNICUS/S2_SR_HARMONIZED")
        .filterBounds(_region(bbox))
        .filterDate(start, end)
        .filter(ee.Filter.lt("CLOUDY_PIXEL_PERCENTAGE", max_cloud))
        .map(mask)
    )
    return coll.select(list(bands)).median().toFloat()


def sentinel1_composite(bbox: Sequence[float], start: str, end: str):
    """Median Sentinel-1 IW backscatter, bands ``VV`` and ``VH`` in dB."""
    import ee

    coll = (
        ee.ImageCollection("COPERNICUS/S1_GRD")
        .filterBounds(_region(bbox))
        .filterDate(start, end)
        .filter(ee.Filter.eq("instrumentMode", "IW"))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VV"))
        .filter(ee.Filter.listContains("transmitterReceiverPolarisation", "VH"))
    )
    return coll.select(["VV", "VH"]).median().toFloat()


def dem():
    """Copernicus GLO-30 elevation (metres), band ``elevation``."""
    import ee

    return ee.ImageCollection("COPERNICUS/DEM/GLO30").select(["DEM"], ["elevation"]).mosaic().toFloat()


def worldcover_label(name: str = "label", classes: Sequence[int] = WORLDCOVER_CLASSES.codes):
    """ESA WorldCover v200 classes ``classes`` remapped to 0..K-1 (others masked), band ``name``."""
    import ee

    wc = ee.ImageCollection("ESA/WorldCover/v200").first().select("Map")
    return wc.remap(list(classes), list(range(len(classes)))).rename(name).toInt()


def feature_collection_label(asset: str, property_name: str, name: str = "label"):
    """A user's field data (polygons or points) painted by the integer ``property_name``; elsewhere masked."""
    import ee

    fc = ee.FeatureCollection(asset)
    painted = ee.Image.constant(LABEL_NODATA).toInt().paint(fc, property_name)
    return painted.updateMask(painted.neq(LABEL_NODATA)).rename(name).toInt()


def ndvi_label(bbox: Sequence[float], start: str, end: str, name: str = "ndvi"):
    """NDVI ``(B8 - B4) / (B8 + B4)`` of the cloud-masked Sentinel-2 composite, band ``name``, float -1..1."""
    composite = sentinel2_composite(bbox, start, end, ("B4", "B8"))
    return composite.normalizedDifference(["B8", "B4"]).rename(name).toFloat()


def build_stack(cfg: Mapping[str, Any]) -> tuple[Any, list[str], Any]:
    """The input stack and the label image from a pipeline config.

    ``cfg`` keys: ``region.bbox``, ``dates.start``/``dates.end``, ``inputs`` (a list of
    ``sentinel2`` / ``sentinel1`` / ``dem``), ``sentinel2_bands``, ``label`` (``source``:
    ``worldcover``, ``feature_collection`` with ``asset`` and ``property``, or ``ndvi``; ``name``)
    or None.

    Returns:
        ``(image of float bands, band names, label image or None)``.
    """
    bbox = cfg["region"]["bbox"]
    start, end = cfg["dates"]["start"], cfg["dates"]["end"]
    parts, names = [], []
    for source in cfg.get("inputs", ["sentinel2"]):
        if source == "sentinel2":
            bands = list(cfg.get("sentinel2_bands", S2_BANDS))
            parts.append(sentinel2_composite(bbox, start, end, bands))
            names += bands
        elif source == "sentinel1":
            parts.append(sentinel1_composite(bbox, start, end))
            names += ["VV", "VH"]
        elif source == "dem":
            parts.append(dem())
            names += ["elevation"]
        else:
            raise ValueError(f"unknown input {source!r}; choose from sentinel2, sentinel1, dem")
    image = parts[0]
    for part in parts[1:]:
        image = image.addBands(part)
    label_cfg = cfg.get("label")
    label = None
    if label_cfg:
        name = label_cfg.get("name", "label")
        if label_cfg["source"] == "worldcover":
            label = worldcover_label(name, label_cfg.get("classes", WORLDCOVER_CLASSES.codes))
        elif label_cfg["source"] == "feature_collection":
            label = feature_collection_label(label_cfg["asset"], label_cfg["property"], name)
        elif label_cfg["source"] == "ndvi":
            label = ndvi_label(bbox, start, end, name)
        else:
            choices = ", ".join(CATEGORICAL_LABELS + CONTINUOUS_LABELS)
            raise ValueError(f"unknown label source {label_cfg['source']!r}; choose one of {choices}")
    return image, names, label
