"""Evaluation: the accuracy tables and figures of the field.

From arrays (NumPy only): :func:`classification_report` (overall accuracy, per-class precision,
recall and F1, macro and weighted averages, Cohen's kappa, confusion matrix),
:func:`regression_report` (MAE, RMSE, R², bias), :func:`iou_report` (per-class and mean IoU),
:func:`mae_per_class` (errors per class of a stratifying map such as ESA WorldCover).
From a model: :func:`evaluate_model` and :func:`write_report` (JSON and the confusion matrix PNG).
Of a map (good practice, Olofsson et al. 2014): :func:`design_sample` draws the reference points
(:class:`ReferenceSample`, :class:`SampleDesign`), :func:`assess_map` estimates accuracy and class
areas with confidence intervals (:class:`Assessment`), :func:`write_assessment` writes JSON, CSV and
a figure; they need no TensorFlow.
"""

from rskeras.evaluation.assessment import Assessment, Estimate, assess_map, write_assessment
from rskeras.evaluation.evaluate import evaluate_model, write_report
from rskeras.evaluation.figures import confusion_matrix_figure
from rskeras.evaluation.metrics import (
    classification_report,
    confusion_matrix,
    regression_report,
    report_from_confusion,
)
from rskeras.evaluation.sample_design import ReferenceSample, SampleDesign, design_sample
from rskeras.evaluation.segmentation import iou_from_confusion, iou_report
from rskeras.evaluation.stratified import WORLDCOVER_CLASSES, mae_per_class

__all__ = [
    "Assessment",
    "Estimate",
    "ReferenceSample",
    "SampleDesign",
    "WORLDCOVER_CLASSES",
    "assess_map",
    "classification_report",
    "confusion_matrix",
    "confusion_matrix_figure",
    "design_sample",
    "evaluate_model",
    "iou_from_confusion",
    "iou_report",
    "mae_per_class",
    "regression_report",
    "report_from_confusion",
    "write_assessment",
    "write_report",
]
