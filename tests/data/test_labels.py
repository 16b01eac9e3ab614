import numpy as np
import pytest

from rskeras.data.labels import encode_labels, split_indices


def test_classes_sorted_naturally_and_encoded():
    enc = encode_labels(np.array(["water", "forest", "water", "urban"]), "multiclass")
    assert enc.class_names == ["forest", "urban", "water"]
    np.testing.assert_array_equal(enc.y, [2, 0, 2, 1])
    enc = encode_labels(np.array([10, 2, 2]), "multiclass")
    assert enc.class_names == ["2", "10"]


def test_errors_name_the_column():
    with pytest.raises(ValueError, match="column 'lc' has labels \\['sand'\\] not in class_names"):
        encode_labels(np.array(["water", "sand"]), "multiclass", class_names=["water"], field="lc")
    with pytest.raises(ValueError, match="regression needs numeric labels, but column 'ndvi'"):
        encode_labels(np.array(["a", "b"]), "regression", field="ndvi")
    with pytest.raises(ValueError, match="'binary' needs exactly 2 classes, column 'c' has 3"):
        encode_labels(np.array(["a", "b", "c"]), "binary", field="c")


def test_regression_targets_are_columns():
    assert encode_labels(np.array([0.1, 0.5]), "regression").y.shape == (2, 1)


def test_stratified_split_keeps_every_class_on_both_sides():
    labels = np.array([0] * 20 + [1] * 5 + [2] * 2)
    train, test = split_indices(len(labels), 0.3, stratify=labels, seed=3)
    assert set(labels[train]) == {0, 1, 2} and set(labels[test]) == {0, 1, 2}
    assert len(np.intersect1d(train, test)) == 0 and len(train) + len(test) == len(labels)
    np.testing.assert_array_equal(split_indices(27, 0.3, stratify=labels, seed=3)[1], test)
