"""Readers and tf.data pipelines: field data, rasters, Earth Engine exports, datasets."""

from rskeras.data.locate import find_data
from rskeras.data.points import Points, read_points
from rskeras.data.sampling import Samples, sample_raster
from rskeras.data.sensors import SENSORS, SensorSpec, get_sensor

__all__: list[str] = ["find_data", "Points", "read_points", "Samples", "sample_raster", "SENSORS", "SensorSpec", "get_sensor"]

# Earth Engine <-> tf.data (rskeras.data.earthengine) loads TensorFlow, so its names are imported on first use.
_EARTHENGINE = (
    "BandStats", "ChipSummary", "Mixer", "SceneExport", "assemble_scene", "compute_band_stats", "crop_buffer",
    "ee_patch_dataset", "geotiff_to_ee_patches", "load_band_stats", "predict_scene", "read_mixer",
    "read_scene_export", "save_band_stats", "write_ee_patches", "write_mixer", "write_scene_predictions",
)
__all__ += list(_EARTHENGINE)
# EuroSAT as tf.data (rskeras.data.eurosat) loads TensorFlow too; the module is callable: rskeras.data.eurosat(...)
_EUROSAT = ("eurosat", "eurosat_files", "eurosat_class_names", "EUROSAT_CLASSES")
__all__ += list(_EUROSAT)


def __getattr__(name: str):
    if name in _EARTHENGINE:
        from rskeras.data import earthengine

        return getattr(earthengine, name)
    if name in _EUROSAT:
        import importlib

        module = importlib.import_module("rskeras.data.eurosat")
        return module if name == "eurosat" else getattr(module, name)
    raise AttributeError(f"module 'rskeras.data' has no attribute {name!r}")
