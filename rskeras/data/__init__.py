"""Readers and tf.data pipelines: field data, rasters, Earth Engine exports, datasets.

The pure-geo readers (points, rasters, sampling, sensors, class schemes, raster scenes, samplers,
vector labels) never load TensorFlow; ``raster_dataset`` (:mod:`rskeras.data.raster_patches`), the
Earth Engine record readers (:mod:`rskeras.data.ee_records`) and EuroSAT
(:mod:`rskeras.data.eurosat_dataset`) do, when one of their names is first used.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.data.class_schemes": ["ClassScheme", "WORLDCOVER_CLASSES"],
        "rskeras.data.locate": ["find_data"],
        "rskeras.data.points": ["Points", "read_points"],
        "rskeras.data.raster_patches": ["raster_dataset"],
        "rskeras.data.rasters": ["BandError", "band_names", "open_raster", "resolve_bands"],
        "rskeras.data.samplers": ["BlockSplit", "GridSampler", "RandomSampler", "RegionSplit"],
        "rskeras.data.sampling": ["Samples", "sample_raster"],
        "rskeras.data.sensors": ["SENSORS", "SensorSpec", "get_sensor"],
        "rskeras.data.ee_records.chips": ["ChipSummary", "geotiff_to_ee_patches"],
        "rskeras.data.ee_records.layout": ["write_ee_patches"],
        "rskeras.data.ee_records.mixer": ["Mixer", "read_mixer", "write_mixer"],
        "rskeras.data.ee_records.patches": ["ee_patch_dataset"],
        "rskeras.data.ee_records.scene": ["SceneExport", "assemble_scene", "crop_buffer", "predict_scene",
                                          "read_scene_export", "write_scene_predictions"],
        "rskeras.data.ee_records.stats": ["BandStats", "compute_band_stats", "load_band_stats", "save_band_stats"],
        "rskeras.data.ee_records.tables": ["SampleTable", "read_sample_table", "write_sample_table"],
        "rskeras.data.eurosat_dataset": ["EUROSAT_CLASSES", "eurosat", "eurosat_class_names", "eurosat_files"],
    },
    submodules=["ee_records"],
)
