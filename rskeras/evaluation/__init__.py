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

from rskeras._lazy import lazy_exports

__all__, __getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "rskeras.evaluation.assessment": ["Assessment", "Estimate", "assess_map", "write_assessment"],
        "rskeras.evaluation.evaluate": ["evaluate_model", "write_report"],
        "rskeras.evaluation.figures": ["confusion_matrix_figure"],
        "rskeras.evaluation.metrics": ["classification_report", "confusion_matrix", "regression_report",
                                       "report_from_confusion"],
        "rskeras.evaluation.sample_design": ["ReferenceSample", "SampleDesign", "design_sample"],
        "rskeras.evaluation.segmentation": ["iou_from_confusion", "iou_report"],
        "rskeras.evaluation.stratified": ["WORLDCOVER_CLASSES", "mae_per_class"],
    },
)
