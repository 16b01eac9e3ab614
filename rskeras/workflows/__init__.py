"""Whole workflows built from the data, model, training and inference parts."""

from rskeras.workflows.earthengine import predict_ee_export
from rskeras.workflows.pixel import PixelTrainingResult, train_pixel_model

__all__ = ["PixelTrainingResult", "predict_ee_export", "train_pixel_model"]
