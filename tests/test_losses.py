"""Losses and metrics for remote-sensing labels, each against a hand computation in NumPy.

The arrays: a 2x2 image with 3 classes, one pixel unlabelled (255); the same as a binary and a
multilabel problem; a regression target with a NaN and a nodata value. Every loss goes through
the task table (``get_task(task).loss_object(name, ...)``), as ``compile`` builds it.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras.heads import ClassF1, ClassIoU, MaskedBinaryAccuracy, MaskedMeanAbsoluteError, MaskedRootMeanSquaredError
from rskeras.losses import balanced_class_weights, count_labels
from rskeras.tasks import LOSSES, get_task, losses_for
from rskeras.training import compile_for_task

P = np.array([[[[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]],
               [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]]], "float32")  # (1, 2, 2, 3) softmax outputs
Y = np.array([[[0, 2], [255, 2]]], "int64")                        # pixel (1, 0) unlabelled
WEIGHTS = [1.0, 2.0, 3.0]


def hand_multiclass(y=Y, p=P, ignore=255):
    """(probabilities, one-hot targets) of the labelled pixels, flattened."""
    keep = y.ravel() != ignore
    return p.reshape(-1, 3)[keep].astype(np.float64), np.eye(3)[y.ravel()[keep]]


def hand_tversky(p, t, alpha, beta, weights=None):
    tp, fp, fn = (p * t).sum(0), (p * (1 - t)).sum(0), ((1 - p) * t).sum(0)
    present = (t.sum(0) > 0) * (np.ones(t.shape[1]) if weights is None else np.asarray(weights))
    return float((present * (1 - tp / (tp + alpha * fp + beta * fn))).sum() / present.sum())


def loss_value(task, name, y, p, **options):
    n = {"multiclass": 3, "binary": 2, "multilabel": p.shape[-1]}.get(task)
    loss = get_task(task).loss_object(name, n_classes=n, **options)
    return float(loss(y, p))


# ----- multiclass, with an unlabelled pixel and class weights --------------------------------------

@pytest.mark.parametrize("weights", [None, WEIGHTS])
def test_multiclass_crossentropy_and_focal(weights):
    p, t = hand_multiclass()
    w = (t * (np.ones(3) if weights is None else weights)).sum(1)
    ce = -(t * np.log(p)).sum(1)
    assert loss_value("multiclass", "crossentropy", Y, P, ignore_class=255, class_weights=weights) == pytest.approx(
        (w * ce).sum() / w.sum(), rel=1e-5)
    focal = -(t * (1 - p) ** 2 * np.log(p)).sum(1)
    assert loss_value("multiclass", "focal", Y, P, ignore_class=255, class_weights=weights) == pytest.approx(
        (w * focal).sum() / w.sum(), rel=1e-5)
    gamma_half = -(t * (1 - p) ** 0.5 * np.log(p)).sum(1)
    assert loss_value("multiclass", {"name": "focal", "gamma": 0.5}, Y, P, ignore_class=255,
                      class_weights=weights) == pytest.approx((w * gamma_half).sum() / w.sum(), rel=1e-5)


def test_crossentropy_by_hand_numbers():
    """The weighted mean written out: pixels of class 0, 2, 2 with p = 0.7, 0.3, 0.8 and weights 1, 3, 3."""
    expected = (1 * -np.log(0.7) + 3 * -np.log(0.3) + 3 * -np.log(0.8)) / 7
    assert loss_value("multiclass", "crossentropy", Y, P, ignore_class=255, class_weights=WEIGHTS) == pytest.approx(
        expected, rel=1e-5)
    # class 0: TP .7, FP .3, FN .3 -> Dice .7; class 1 absent; class 2: TP 1.1, FP .1, FN .9 -> Dice 2.2 / 3.2
    dice = (1 * 0.3 + 3 * (1 - 2.2 / 3.2)) / 4
    assert loss_value("multiclass", "dice", Y, P, ignore_class=255, class_weights=WEIGHTS) == pytest.approx(dice,
                                                                                                            rel=1e-5)


@pytest.mark.parametrize("weights", [None, WEIGHTS])
@pytest.mark.parametrize("name,alpha,beta", [("dice", 0.5, 0.5), ("jaccard", 1.0, 1.0), ("tversky", 0.5, 0.5),
                                             ({"name": "tversky", "alpha": 0.3, "beta": 0.7}, 0.3, 0.7)])
def test_multiclass_overlap_losses(name, alpha, beta, weights):
    p, t = hand_multiclass()
    expected = hand_tversky(p, t, alpha, beta, weights)
    assert loss_value("multiclass", name, Y, P, ignore_class=255, class_weights=weights) == pytest.approx(expected,
                                                                                                         rel=1e-5)


def test_crossentropy_dice_is_the_sum():
    p, t = hand_multiclass()
    ce = -(t * np.log(p)).sum(1).mean()
    assert loss_value("multiclass", "crossentropy_dice", Y, P, ignore_class=255) == pytest.approx(
        ce + hand_tversky(p, t, 0.5, 0.5), rel=1e-5)


def test_one_hot_targets_zero_rows_are_unlabelled():
    one_hot = np.eye(3, dtype="float32")[np.where(Y == 255, 0, Y)] * (Y != 255)[..., None]
    for name in ("crossentropy", "focal", "dice"):
        sparse = loss_value("multiclass", name, Y, P, ignore_class=255, class_weights=WEIGHTS)
        dense = loss_value("multiclass", name, one_hot, P, sparse_labels=False, ignore_class=255,
                           class_weights=WEIGHTS)
        assert dense == pytest.approx(sparse, rel=1e-5), name


def test_label_smoothing_with_integer_targets():
    p, t = hand_multiclass()
    smooth = t * 0.9 + 0.1 / 3
    assert loss_value("multiclass", "crossentropy", Y, P, ignore_class=255, label_smoothing=0.1) == pytest.approx(
        -(smooth * np.log(p)).sum(1).mean(), rel=1e-5)


# ----- binary and multilabel: the ignore value per output ------------------------------------------

PB = np.array([[0.9], [0.4], [0.2], [0.6]], "float32")
YB = np.array([1, 1, 255, 0], "float32")


@pytest.mark.parametrize("weights", [None, [1.0, 4.0]])
def test_binary_losses(weights):
    keep = YB != 255
    p, t = PB[keep, 0].astype(np.float64), YB[keep].astype(np.float64)
    w = np.ones_like(t) if weights is None else np.where(t == 1, weights[1], weights[0])
    bce = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert loss_value("binary", "crossentropy", YB, PB, ignore_class=255, class_weights=weights) == pytest.approx(
        (w * bce).sum() / w.sum(), rel=1e-5)
    p_true = t * p + (1 - t) * (1 - p)
    assert loss_value("binary", "focal", YB, PB, ignore_class=255, class_weights=weights) == pytest.approx(
        (w * bce * (1 - p_true) ** 2).sum() / w.sum(), rel=1e-5)
    # Dice of the positive class: TP .9 + .4, FP .6, FN .1 + .6
    assert loss_value("binary", "dice", YB, PB, ignore_class=255, class_weights=weights) == pytest.approx(
        1 - 2 * 1.3 / (2 * 1.3 + 0.6 + 0.7), rel=1e-5)


def test_multilabel_ignores_single_labels():
    p = np.array([[0.8, 0.3], [0.4, 0.9]], "float32")
    y = np.array([[1, 255], [0, 1]], "float32")
    keep = y != 255
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    w = np.array([2.0, 1.0])[None, :] * keep
    assert loss_value("multilabel", "crossentropy", y, p, ignore_class=255, class_weights=[2.0, 1.0]) == \
        pytest.approx((w * np.where(keep, bce, 0)).sum() / w.sum(), rel=1e-5)
    t = np.where(keep, y, 0)
    tp, fp, fn = (keep * p * t).sum(0), (keep * p * (1 - t)).sum(0), (keep * (1 - p) * t).sum(0)
    assert loss_value("multilabel", "jaccard", y, p, ignore_class=255) == pytest.approx(
        (1 - tp / (tp + fp + fn)).mean(), rel=1e-5)


def test_regression_masks_nan_and_nodata():
    y = np.array([[1.0], [np.nan], [-9999.0], [3.0]], "float32")
    p = np.array([[2.0], [5.0], [0.0], [1.0]], "float32")
    assert loss_value("regression", None, y, p, ignore_class=-9999) == pytest.approx((1 + 4) / 2)
    assert loss_value("regression", None, y[[0, 1, 3]], p[[0, 1, 3]]) == pytest.approx((1 + 4) / 2)
    mae, rmse = MaskedMeanAbsoluteError(-9999), MaskedRootMeanSquaredError(-9999)
    for metric in (mae, rmse):
        metric.update_state(y, p)
    assert float(mae.result()) == pytest.approx(1.5) and float(rmse.result()) == pytest.approx(np.sqrt(2.5))


# ----- metrics that respect the ignore value ----------------------------------------------------

def test_iou_and_f1_by_hand():
    # decoded classes 0, 1, 2 against targets 0, 2, 2 (pixel (1, 0) unlabelled):
    # IoU 1, 0, 1/2 -> mean 1/2; F1 1, 0, 2/3
    iou = ClassIoU(3, ignore_class=255)
    f1 = [ClassF1(3, k, ignore_class=255) for k in range(3)]
    for metric in (iou, *f1):
        metric.update_state(Y[..., None], P)
    assert float(iou.result()) == pytest.approx(0.5)
    assert [float(m.result()) for m in f1] == pytest.approx([1.0, 0.0, 2 / 3])
    binary = MaskedBinaryAccuracy(255)
    binary.update_state(YB, PB)  # 0.9 -> 1 right, 0.4 -> 0 wrong, 0.6 -> 1 wrong
    assert float(binary.result()) == pytest.approx(1 / 3)


def segmentation_model(n_classes: int = 3, task: str = "multiclass", class_names=None) -> keras.Model:
    from rskeras.heads import output_head

    inputs = keras.Input((4, 4, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, output_head(x, task, n_classes, class_names=class_names, kind="conv"))


def test_compile_gives_dense_outputs_iou_and_f1_per_class():
    model = compile_for_task(segmentation_model(class_names=["Forest", "water", "Bare soil"]), loss="dice",
                             class_weights=WEIGHTS, ignore_class=255)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, (2, 4, 4)).astype("int32")
    y[:, 0] = 255
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "accuracy", "mean_iou", "f1_forest", "f1_water", "f1_bare_soil"}
    p = model.predict(x, verbose=0)
    keep = y != 255
    expected = hand_tversky(p[keep].astype(np.float64), np.eye(3)[y[keep]], 0.5, 0.5, WEIGHTS)
    assert logs["loss"] == pytest.approx(expected, rel=1e-4)
    assert logs["accuracy"] == pytest.approx(float((p.argmax(-1) == y)[keep].mean()), rel=1e-6)


def test_compiled_losses_round_trip(tmp_path):
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, (2, 4, 4)).astype("int32")
    y[:, :, 0] = 255
    for name in losses_for("multiclass"):
        model = compile_for_task(segmentation_model(), loss=name, class_weights=WEIGHTS, ignore_class=255)
        before = model.evaluate(x, y, verbose=0, return_dict=True)
        model.save(tmp_path / "m.keras")
        loaded = keras.saving.load_model(tmp_path / "m.keras")
        assert loaded.loss.get_config() == model.loss.get_config()
        assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(before, rel=1e-5)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("name", ["focal", "crossentropy_dice"])  # every rskeras loss class in one of them
def test_losses_are_float32_under_mixed_precision(policy, name):
    x = np.random.default_rng(0).normal(size=(4, 4, 4, 2)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, (4, 4, 4)).astype("int32")
    y[:, 0] = 255
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        model = compile_for_task(segmentation_model(), loss=name, class_weights=WEIGHTS, ignore_class=255)
        assert model.layers[1].compute_dtype != "float32"
        outputs = model(x)
        loss = model.loss(tf.constant(y), outputs)
        history = model.fit(x, y, batch_size=2, epochs=1, verbose=0).history
    finally:
        keras.mixed_precision.set_dtype_policy(previous)
    assert outputs.dtype == loss.dtype == tf.float32 and np.isfinite(history["loss"][0])
    reference = get_task("multiclass").loss_object(name, class_weights=WEIGHTS, ignore_class=255, n_classes=3)
    assert float(loss) == pytest.approx(float(reference(y, outputs.numpy())), rel=1e-6)  # the float32 value


# ----- class weights from the sampled labels ----------------------------------------------------

def test_count_labels_and_balanced_weights():
    batches = [(None, np.array([[0, 0, 1], [255, 0, 2]])), (None, np.array([[0, 255, 2], [2, 2, 0]]))]
    counts = count_labels(batches, "multiclass", 4, ignore_class=255)
    np.testing.assert_array_equal(counts, [5, 1, 4, 0])
    # n / (k * n_c) over the k = 3 classes present: 10 / (3 * 5), 10 / 3, 10 / 12; absent class 3 -> 0
    assert balanced_class_weights(counts) == pytest.approx([2 / 3, 10 / 3, 10 / 12, 0.0])
    dataset = tf.data.Dataset.from_tensor_slices((np.zeros((4, 1)), np.eye(3)[[0, 1, 1, 2]])).batch(2)
    np.testing.assert_array_equal(count_labels(dataset, "multiclass", 3), [1, 2, 1])
    with pytest.raises(ValueError, match="class value 7, outside 0..3"):
        count_labels([(None, np.array([7]))], "multiclass", 4, ignore_class=255)


def test_every_loss_serves_its_tasks():
    assert losses_for("multiclass") == ["crossentropy", "focal", "dice", "jaccard", "tversky", "crossentropy_dice"]
    assert losses_for("regression") == ["mean_squared_error"]
    assert set(LOSSES) == {"mean_squared_error", *losses_for("binary")}


def test_training_config_loss_class_weights_and_augmentation(eurosat_dir, tmp_path):
    """``training.loss``, ``class_weights: balanced`` (written to the run folder) and ``augment`` steps, on EuroSAT."""
    import json

    from rskeras.training import train

    config = {
        "data": {"root": str(eurosat_dir), "limit": 64, "validation_limit": 32, "batch_size": 16, "stats_samples": 64},
        "model": {"name": "cnn", "options": {"filters": [8], "dense_units": [16]}},
        "task": "multiclass",
        "training": {"epochs": 1, "verbose": 0, "loss": {"name": "focal", "gamma": 1.0}, "class_weights": "balanced",
                     "augment": ["flip", {"crop": {"min_scale": 0.8}}, {"brightness": {"gain": 0.05}}, "mixup"]},
        "output": {"run_dir": str(tmp_path / "run"), "evaluate": False, "tensorboard": False},
    }
    result = train(config)
    saved = json.loads((result.run.path / "class_weights.json").read_text())
    assert saved["source"] == "balanced" and sum(saved["counts"]) == 64 and saved["class_names"][0] == "AnnualCrop"
    assert saved["weights"] == pytest.approx(balanced_class_weights(saved["counts"]))
    loss = result.model.loss
    assert type(loss).__name__ == "FocalCrossentropy" and loss.gamma == 1.0 and not loss.sparse  # one-hot for mixup
    assert loss.class_weights == pytest.approx(saved["weights"]) and np.isfinite(result.history["loss"][0])
