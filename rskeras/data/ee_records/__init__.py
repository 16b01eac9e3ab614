"""Earth Engine exports <-> tf.data: the TFRecord patch layout and its one tf.Example float codec,
mixer.json, datasets, scenes, GeoTIFF chips.

This is the TensorFlow side of Earth Engine; the earthengine-api side (image stacks,
export and upload tasks, used by ``pipelines/``) is :mod:`rskeras.ee_export`.
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.data.ee_records.chips": ["ChipSummary", "geotiff_to_ee_patches"],
        "rskeras.data.ee_records.example_codec": ["encode_patch", "float_examples", "parse_float_examples",
                                                  "patch_feature_spec"],
        "rskeras.data.ee_records.layout": ["buffered_size", "kernel_margin", "write_ee_patches"],
        "rskeras.data.ee_records.mixer": ["Mixer", "read_mixer", "write_mixer"],
        "rskeras.data.ee_records.patches": ["ee_patch_dataset"],
        "rskeras.data.ee_records.scene": ["SceneExport", "assemble_scene", "crop_buffer", "predict_scene",
                                          "read_scene_export", "write_scene_predictions"],
        "rskeras.data.ee_records.stats": ["BandStats", "compute_band_stats", "load_band_stats", "save_band_stats"],
    },
)
