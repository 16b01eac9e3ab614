"""evaluate_model on models whose predictions are known, and the written JSON and PNG."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from rskeras.evaluation import confusion_matrix_figure, evaluate_model, write_report
from rskeras.heads import TaskOutput


def _argmax_model(task="multiclass", shape=(3,), class_names=("a", "b", "c")):
    """A model whose output is the task activation of its input: predictions are known in advance."""
    inputs = keras.Input(shape)
    return keras.Model(inputs, TaskOutput(task, class_names=class_names)(inputs))


def test_classification_report_from_a_model():
    x = np.eye(3, dtype="float32")[[0, 0, 1, 2, 2, 1]] * 5  # predicted a a b c c b
    y = np.array([0, 1, 1, 2, 0, 1])
    report = evaluate_model(_argmax_model(), tf.data.Dataset.from_tensor_slices((x, y)).batch(4), progress=False)
    assert report["confusion_matrix"] == [[1, 0, 1], [1, 2, 0], [0, 0, 1]]
    assert report["overall_accuracy"] == pytest.approx(4 / 6) and report["n"] == 6
    assert report["per_class"]["b"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8),
                                        "support": 3}
    # one-hot targets (label smoothing pipelines) give the same report
    onehot = tf.data.Dataset.from_tensor_slices((x, np.eye(3, dtype="float32")[y])).batch(4)
    assert evaluate_model(_argmax_model(), onehot, progress=False)["confusion_matrix"] == report["confusion_matrix"]


def test_segmentation_report_has_iou():
    model = _argmax_model(shape=(2, 2, 2), class_names=("land", "water"))
    x = np.zeros((1, 2, 2, 2), "float32")
    x[0, :, :, 1] = [[1, 1], [0, 0]]  # predicted water on the top row
    y = np.array([[[1], [0]], [[0], [0]]])[None]
    report = evaluate_model(model, [(x, y)], progress=False)
    assert report["confusion_matrix"] == [[2, 1], [0, 1]]
    assert report["iou"]["per_class"]["water"]["iou"] == pytest.approx(0.5)
    assert report["iou"]["mean_iou"] == pytest.approx((2 / 3 + 0.5) / 2)


def test_regression_report_from_a_model():
    model = _argmax_model(task="regression", shape=(1,), class_names=None)
    x = np.array([[1.0], [2.0], [4.0]], "float32")
    report = evaluate_model(model, [(x, np.array([1.0, 3.0, 4.0]))], progress=False)
    assert report["mae"] == pytest.approx(1 / 3) and report["task"] == "regression"


def test_write_report_and_figure(tmp_path):
    report = {"confusion_matrix": [[8, 2], [1, 9]], "class_names": ["Forest", "River"], "overall_accuracy": 0.85}
    paths = write_report(report, tmp_path / "out")
    assert json.loads(paths["metrics"].read_text())["overall_accuracy"] == 0.85
    with Image.open(paths["confusion_matrix"]) as png:
        assert png.format == "PNG" and png.size[0] > 300
    fig = confusion_matrix_figure(np.array([[8, 2], [1, 9]]), ["Forest", "River"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Forest", "River"]
    assert ax.images[0].get_array()[0, 0] == pytest.approx(0.8)  # normalised per row (true class)
    assert [p.name for p in (tmp_path / "out").iterdir()] and not list((tmp_path / "out").glob(".*tmp*"))
    with pytest.raises(ValueError, match="confusion matrix of shape"):
        confusion_matrix_figure(np.ones((2, 2)), ["a", "b", "c"])


def test_tta_on_eurosat_images_with_the_committed_model(eurosat_dir, tmp_path):
    """evaluate_model(tta=True) and rskeras evaluate --tta: the classes of the mean over the 8 views (np.rot90 and
    flips spelled here), on 16 real validation images."""
    from pathlib import Path

    from rskeras.cli import main
    from rskeras.data.eurosat_dataset import eurosat
    from rskeras.saving import load_model

    model_path = Path(__file__).parents[2] / "saved_models" / "eurosat_compact_resnet" / "eurosat_compact_resnet.keras"
    model = load_model(model_path)
    data = eurosat(eurosat_dir, split="validation", batch_size=8, limit=16, shuffle=False)
    report = evaluate_model(model, data, tta=True, progress=False)
    x, y = (np.concatenate(parts) for parts in zip(*[(np.asarray(a), np.asarray(b)) for a, b in data]))
    views = [np.rot90(x[:, :, ::-1] if flip else x, k, axes=(1, 2)) for k in range(4) for flip in (False, True)]
    mean = np.mean([model.predict_on_batch(np.ascontiguousarray(v)) for v in views], axis=0)
    expected = np.zeros((10, 10), int)
    np.add.at(expected, (y, mean.argmax(-1)), 1)
    assert report["tta"] is True and report["confusion_matrix"] == expected.tolist()
    command = ["evaluate", str(model_path), "--data", str(eurosat_dir), "--limit", "16", "--tta", "--out", str(tmp_path)]
    assert main(command) == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["tta"] is True
    with pytest.raises(ValueError, match="tta flips and rotates square image patches; model .* takes \\[\\(3,\\)\\]"):
        evaluate_model(_argmax_model(), [(np.eye(3, dtype="float32"), np.arange(3))], tta=True, progress=False)
