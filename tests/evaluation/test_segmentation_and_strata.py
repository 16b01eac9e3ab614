"""IoU for segmentation and MAE per stratum (SEN12TP's table per ESA WorldCover class), by hand."""

import numpy as np
import pytest

from rskeras.evaluation import WORLDCOVER_CLASSES, iou_report, mae_per_class


def test_iou_by_hand():
    # class 0: TP 2, FP 1, FN 1 -> 2/4; class 1: TP 1, FP 1, FN 1 -> 1/3; class 2: absent everywhere
    y_true = np.array([[0, 0, 0], [1, 1, 2]])
    y_pred = np.array([[0, 0, 1], [0, 1, 2]])
    r = iou_report(y_true, y_pred, ["water", "crop", "urban", "snow"])
    assert r["per_class"]["water"]["iou"] == pytest.approx(0.5)
    assert r["per_class"]["crop"]["iou"] == pytest.approx(1 / 3)
    assert r["per_class"]["urban"]["iou"] == pytest.approx(1.0)
    assert r["per_class"]["snow"] == {"iou": None, "support": 0}
    assert r["mean_iou"] == pytest.approx((0.5 + 1 / 3 + 1.0) / 3)
    assert r["pixel_accuracy"] == pytest.approx(4 / 6)
    assert r["frequency_weighted_iou"] == pytest.approx((3 * 0.5 + 2 / 3 + 1.0) / 6)


def test_iou_ignores_nodata_label():
    r = iou_report([0, 1, 255, 255], [0, 1, 0, 1], n_classes=2, ignore_index=255)
    assert r["mean_iou"] == pytest.approx(1.0) and r["per_class"]["0"]["support"] == 1


def test_mae_per_worldcover_class_by_hand():
    y_true = np.array([[1.0, 2.0, 3.0], [4.0, np.nan, 6.0]])
    y_pred = np.array([[1.5, 2.0, 2.0], [4.0, 9.0, 3.0]])
    strata = np.array([[10, 10, 40], [40, 40, 0]])  # 0: WorldCover no data
    r = mae_per_class(y_true, y_pred, strata)
    assert list(r["per_class"]) == ["Tree cover", "Cropland"]
    tree, crop = r["per_class"]["Tree cover"], r["per_class"]["Cropland"]
    assert (tree["mae"], tree["n"], tree["bias"]) == (pytest.approx(0.25), 2, pytest.approx(0.25))
    assert (crop["mae"], crop["n"], crop["value"]) == (pytest.approx(0.5), 2, 40)  # NaN target left out
    assert crop["rmse"] == pytest.approx(np.sqrt(0.5))
    assert r["overall"]["n"] == 4 and r["overall"]["mae"] == pytest.approx(0.375)
    assert WORLDCOVER_CLASSES[80] == "Permanent water bodies"


def test_mae_per_class_names_and_shape_errors():
    r = mae_per_class([1.0, 2.0], [2.0, 2.0], [7, 8], class_names={7: "dunes"}, ignore=())
    assert list(r["per_class"]) == ["dunes", "class 8"]
    with pytest.raises(ValueError, match=r"must have the same shape"):
        mae_per_class([1.0], [1.0, 2.0], [1, 2])
