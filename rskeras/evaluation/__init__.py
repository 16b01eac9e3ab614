"""Evaluation: the accuracy tables of the field, from arrays of labels or values (NumPy only)."""

from rskeras.evaluation.metrics import classification_report, confusion_matrix, regression_report

__all__ = ["classification_report", "confusion_matrix", "regression_report"]
