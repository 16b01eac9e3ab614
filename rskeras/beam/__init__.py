"""Past one machine: Apache Beam pipelines over many scenes (``pip install rskeras[beam]``).

- :func:`chip_scenes`: scenes and their labels -> training patches in Earth Engine's TFRecord layout (sharded)
  and ``band_stats.json``, with the window plan and patch reader of :func:`rskeras.data.raster_dataset`.
- :func:`predict_scenes`: a saved model over many scenes -> one map per scene (written atomically; a rerun skips
  the maps already there) and ``summary.csv`` (class areas, nodata share, time, failures), through Beam's
  RunInference.

Both run on this machine (``--runner DirectRunner --direct_num_workers 2``) and unchanged on Dataflow, Flink or
Spark; ``pipeline_options`` takes Beam's own flags (:func:`rskeras.beam.options.pipeline_options`).
"""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.beam.chip": ["ChipResult", "chip_scenes"],
        "rskeras.beam.predict": ["ScenesResult", "predict_scenes"],
        "rskeras.beam.options": ["pipeline_options"],
        "rskeras.beam.scene_lists": ["read_scene_list"],
    },
)
