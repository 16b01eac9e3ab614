"""Readers and tf.data pipelines: field data, rasters, Earth Engine exports, datasets."""

__all__: list[str] = []
