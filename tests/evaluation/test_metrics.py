import numpy as np
import pytest

from rskeras.evaluation import classification_report, confusion_matrix, regression_report


def test_confusion_matrix_by_hand():
    cm = confusion_matrix([0, 0, 1, 1, 2, 2], [0, 1, 1, 1, 2, 0], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])


def test_classification_report_by_hand():
    # true:  a a a b b c ; pred: a a b b c c
    report = classification_report([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 2, 2], ["a", "b", "c"])
    assert report["overall_accuracy"] == pytest.approx(4 / 6)
    a, b, c = (report["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"]) == (pytest.approx(1.0), pytest.approx(2 / 3))
    assert (b["precision"], b["recall"], b["f1"]) == (pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5))
    assert (c["precision"], c["recall"], c["f1"]) == (pytest.approx(0.5), pytest.approx(1.0), pytest.approx(2 / 3))
    # kappa: po = 4/6; pe = (3*2 + 2*2 + 1*2) / 36 = 12/36
    assert report["kappa"] == pytest.approx((4 / 6 - 1 / 3) / (1 - 1 / 3))
    assert report["macro"]["f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["weighted"]["recall"] == pytest.approx(4 / 6)


def test_out_of_range_classes():
    with pytest.raises(ValueError, match="y_pred holds class indices outside 0..1"):
        confusion_matrix([0, 1], [0, 2], 2)


def test_regression_report_by_hand():
    r = regression_report([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 5.0])
    assert r["mae"] == pytest.approx(0.5)
    assert r["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 0.25 + 1) / 4))
    assert r["r2"] == pytest.approx(1 - 1.5 / 5.0)
    assert r["bias"] == pytest.approx(0.25)
