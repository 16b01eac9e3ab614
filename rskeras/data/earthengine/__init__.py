"""Earth Engine exports <-> tf.data: the TFRecord patch layout, mixer.json, datasets, scenes, GeoTIFF chips."""

from rskeras.data.earthengine.chips import ChipSummary, geotiff_to_ee_patches
from rskeras.data.earthengine.layout import buffered_size, encode_patch, kernel_margin, patch_feature_spec, write_ee_patches
from rskeras.data.earthengine.mixer import Mixer, read_mixer, write_mixer
from rskeras.data.earthengine.patches import ee_patch_dataset
from rskeras.data.earthengine.scene import (
    SceneExport,
    assemble_scene,
    crop_buffer,
    predict_scene,
    read_scene_export,
    write_scene_predictions,
)
from rskeras.data.earthengine.stats import BandStats, compute_band_stats, load_band_stats, save_band_stats

__all__ = [
    "BandStats",
    "ChipSummary",
    "Mixer",
    "SceneExport",
    "assemble_scene",
    "buffered_size",
    "compute_band_stats",
    "crop_buffer",
    "ee_patch_dataset",
    "encode_patch",
    "geotiff_to_ee_patches",
    "kernel_margin",
    "load_band_stats",
    "patch_feature_spec",
    "predict_scene",
    "read_mixer",
    "read_scene_export",
    "save_band_stats",
    "write_ee_patches",
    "write_mixer",
    "write_scene_predictions",
]
