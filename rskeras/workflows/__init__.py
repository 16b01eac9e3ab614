"""Whole workflows built from the data, model, training and inference parts."""

from rskeras.workflows.pixel import PixelTrainingResult, train_pixel_model

__all__ = ["PixelTrainingResult", "train_pixel_model"]
