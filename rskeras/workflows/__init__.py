"""Whole workflows built from the data, model, training and inference parts."""

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.workflows.ee_round_trip": ["predict_ee_export", "upload_settings"],
        "rskeras.workflows.pixel": ["PixelTrainingResult", "train_pixel_model"],
    },
)
