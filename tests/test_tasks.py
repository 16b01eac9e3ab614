"""The task table: one decoding rule through every consumer, and the one compile.

The rule pinned here: p = 0.5 is class 0 (binary, each multilabel label), a multiclass tie goes to the
lowest class index. The models below output exactly 0.5 (sigmoid of a zero logit) and exact softmax ties.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import rasterio
import tensorflow as tf
from rasterio.transform import Affine

from rskeras.evaluation import evaluate_model
from rskeras.heads import MaskedSparseAccuracy, TaskOutput, output_head
from rskeras.inference import predict_raster
from rskeras.serving.export import signature_spec
from rskeras.serving.signatures import default_signature
from rskeras.tasks import DECISION_THRESHOLD, LOSSES, TASKS, get_task

# logits of the constant models: binary p = 0.5; multilabel p = (0.5, 0.52, 0.48); multiclass ties 1 and 2
BIASES = {"binary": [0.0], "multilabel": [0.0, 0.1, -0.1], "multiclass": [0.0, 1.0, 1.0]}
# what the rule gives for them (binary / multiclass: one class; multilabel: one 0/1 per label)
EXPECTED = {"binary": 0, "multilabel": [0, 1, 0], "multiclass": 1}


def constant_model(task: str, n_bands: int = 2) -> keras.Model:
    """A pixel model whose output does not depend on its input: the task's activation of ``BIASES[task]``."""
    bias = np.asarray(BIASES[task], "float32")
    inputs = keras.Input((n_bands,), name="bands")
    model = keras.Model(inputs, output_head(inputs, task, len(bias)))
    model.get_layer("output_logits").set_weights([np.zeros((n_bands, len(bias)), "float32"), bias])
    return model


def test_the_models_output_exactly_the_boundary():
    p = constant_model("binary").predict(np.ones((1, 2), "float32"), verbose=0)
    assert p[0, 0] == DECISION_THRESHOLD == 0.5
    q = constant_model("multiclass").predict(np.ones((1, 2), "float32"), verbose=0)
    assert q[0, 1] == q[0, 2] > q[0, 0]


@pytest.mark.parametrize("task,outputs,classes", [
    ("binary", [[0.5], [0.5000001], [0.4999], [1.0], [0.0]], [0, 1, 0, 1, 0]),
    ("multilabel", [[0.5, 0.51, 0.49]], [[0, 1, 0]]),
    ("multiclass", [[0.2, 0.4, 0.4], [0.4, 0.2, 0.4], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.2, 0.7]], [1, 0, 0, 2]),
])
def test_decode_numpy_and_tensorflow_agree(task, outputs, classes):
    spec = get_task(task)
    y = np.asarray(outputs, "float32")
    np.testing.assert_array_equal(spec.decode(y), classes)
    assert spec.decode(y).dtype == np.int64
    in_graph = tf.function(spec.decode, input_signature=[tf.TensorSpec((None, y.shape[1]), tf.float32)])
    result = in_graph(tf.constant(y))
    assert result.dtype == tf.int64
    np.testing.assert_array_equal(result.numpy(), classes)
    np.testing.assert_array_equal(spec.decode(tf.constant(y)).numpy(), classes)  # eager tensors too


def test_decode_channel_first_rasters():
    probabilities = np.array([[[0.1, 0.5]], [[0.6, 0.25]], [[0.3, 0.25]]], "float32")  # (3 classes, 1, 2)
    np.testing.assert_array_equal(get_task("multiclass").decode(probabilities, axis=0), [[1, 0]])
    np.testing.assert_array_equal(get_task("binary").decode(np.array([[[0.5, 0.7]]]), axis=0), [[0, 1]])


@pytest.mark.parametrize("n_classes", [2, 5, 30])
def test_multiclass_decode_is_numpys_argmax_with_ties_and_nan(n_classes):
    """The decode of arrays and tensors (eager and under XLA) equals ``np.argmax`` on every axis: ties to the lowest
    class, NaN as the maximum."""
    rng = np.random.default_rng(n_classes)
    y = rng.integers(0, 3, (n_classes, 40, 50)).astype("float32")  # many ties
    y[rng.integers(0, n_classes, 30), rng.integers(0, 40, 30), rng.integers(0, 50, 30)] = np.nan
    for axis, view in ((0, y), (-1, np.moveaxis(y, 0, -1)), (1, np.moveaxis(y, 0, 1))):
        got = get_task("multiclass").decode(view, axis=axis)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, np.argmax(view, axis=axis))
        eager = get_task("multiclass").decode(tf.constant(view), axis=axis)
        assert eager.dtype == tf.int64
        np.testing.assert_array_equal(eager.numpy(), np.argmax(view, axis=axis))
        compiled = tf.function(lambda t, a=axis: get_task("multiclass").decode(t, axis=a), jit_compile=True)
        np.testing.assert_array_equal(compiled(tf.constant(view)).numpy(), np.argmax(view, axis=axis))
    one = get_task("multiclass").decode(np.array([0.2, 0.5, 0.5], "float32"))
    assert one == 1 and isinstance(one, np.int64)  # one pixel: a scalar


def test_decode_errors_name_the_problem():
    with pytest.raises(ValueError, match="task 'regression' predicts values"):
        get_task("regression").decode(np.zeros((2, 1)))
    with pytest.raises(ValueError, match=r"binary outputs have one probability on axis -1, got shape \(2, 3\)"):
        get_task("binary").decode(np.zeros((2, 3)))


def _tiny_raster(path, n_bands: int = 2, height: int = 3, width: int = 4):
    data = np.arange(n_bands * height * width, dtype="float32").reshape(n_bands, height, width)
    profile = {"driver": "GTiff", "width": width, "height": height, "count": n_bands, "dtype": "float32",
               "crs": "EPSG:32632", "transform": Affine(30, 0, 500000, 0, -30, 5000000)}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data)
    return path


@pytest.mark.parametrize("probabilities", [True, False])  # decoded in numpy / in the model's compiled call
@pytest.mark.parametrize("task", ["binary", "multilabel", "multiclass"])
def test_predict_raster_uses_the_rule(task, probabilities, tmp_path):
    src = _tiny_raster(tmp_path / "scene.tif")
    predict_raster(constant_model(task), src, tmp_path / "classes.tif", probabilities=probabilities, progress=False)
    with rasterio.open(tmp_path / "classes.tif") as ds:
        classes = ds.read()
    expected = np.asarray(EXPECTED[task], "uint8").reshape(-1, 1, 1)
    np.testing.assert_array_equal(classes, np.broadcast_to(expected, (expected.shape[0], 3, 4)))
    if probabilities:
        with rasterio.open(tmp_path / "classes_probabilities.tif") as ds:
            if task == "binary":
                assert (ds.read() == 0.5).all()


@pytest.mark.parametrize("task", ["binary", "multilabel", "multiclass"])
def test_serving_signature_uses_the_rule(task):
    model = constant_model(task)
    fn, input_signature = default_signature(model, signature_spec(model))
    served = tf.function(fn, input_signature=input_signature)
    classes = served({"pixels": tf.ones((3, 2))})["classes"].numpy()
    np.testing.assert_array_equal(classes, np.stack([EXPECTED[task]] * 3))


@pytest.mark.parametrize("task,label", [("binary", 0), ("multiclass", 1)])
def test_evaluation_uses_the_rule(task, label):
    x = np.ones((4, 2), "float32")
    y = np.full((4,), label, "int64")
    report = evaluate_model(constant_model(task), tf.data.Dataset.from_tensor_slices((x, y)).batch(2), progress=False)
    assert report["overall_accuracy"] == 1.0


def test_keras_training_accuracy_counts_one_half_as_negative():
    model = constant_model("binary")
    get_task("binary").compile(model)
    _, accuracy, _ = model.evaluate(np.ones((4, 2), "float32"), np.zeros((4, 1), "float32"), verbose=0)
    assert accuracy == 1.0


def test_earth_engine_round_trip_uses_the_rule():
    from rskeras.data.ee_records.scene import ScenePredictor

    inputs = keras.Input((2, 2, 1))
    logits = keras.layers.Conv2D(3, 1, kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant(BIASES["multiclass"]))(inputs)
    model = keras.Model(inputs, TaskOutput("multiclass")(logits))
    out = ScenePredictor(model, "classes", (2, 2)).predict_on_batch(np.zeros((1, 2, 2, 1), "float32"))
    assert out.shape == (1, 2, 2, 1) and (out == 1).all()


# ----- the one compile -------------------------------------------------------------------------

def _pixel_model(task: str, n: int) -> keras.Model:
    inputs = keras.Input((2,))
    return keras.Model(inputs, output_head(inputs, task, n))


@pytest.mark.parametrize("task,sparse,loss", [
    ("regression", True, "MaskedMeanSquaredError"),
    ("binary", True, "BinaryCrossentropy"),
    ("multilabel", True, "BinaryCrossentropy"),
    ("multiclass", True, "SparseCategoricalCrossentropy"),
    ("multiclass", False, "CategoricalCrossentropy"),
])
def test_compile_takes_the_loss_from_the_table(task, sparse, loss):
    model = get_task(task).compile(_pixel_model(task, 1 if task in ("binary", "regression") else 3),
                                   sparse_labels=sparse)
    assert type(model.loss).__name__ == loss
    assert get_task(task).loss in LOSSES


def test_compile_label_smoothing_and_its_errors():
    model = get_task("multiclass").compile(_pixel_model("multiclass", 3), sparse_labels=False, label_smoothing=0.1)
    assert model.loss.get_config()["label_smoothing"] == 0.1
    sparse = get_task("multiclass").compile(_pixel_model("multiclass", 3), label_smoothing=0.1)  # rskeras' loss
    assert type(sparse.loss).__name__ == "Crossentropy" and sparse.loss.label_smoothing == 0.1
    with pytest.raises(ValueError, match="label_smoothing=0.1 does not apply to loss 'mean_squared_error' of task "
                                         "'regression'"):
        get_task("regression").compile(_pixel_model("regression", 1), label_smoothing=0.1)
    with pytest.raises(ValueError, match="label_smoothing=0.1 does not apply to loss 'dice'.*losses of 'binary' "
                                         "that take label_smoothing: crossentropy"):
        get_task("binary").compile(_pixel_model("binary", 1), loss="dice", label_smoothing=0.1)


def test_compile_optimizer_precision_and_outputs():
    model = get_task("binary").compile(_pixel_model("binary", 1), "sgd", learning_rate=0.25, policy="mixed_float16",
                                       jit_compile=False)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert float(model.optimizer.inner_optimizer.learning_rate) == 0.25
    with pytest.raises(ValueError, match="learning_rate=0.1 applies to an optimizer given by name"):
        get_task("binary").compile(_pixel_model("binary", 1), keras.optimizers.Adam(), learning_rate=0.1)
    inputs = keras.Input((2,))
    two = keras.Model(inputs, [output_head(inputs, "multiclass", 3, name=f"o{i}") for i in range(2)])
    get_task("multiclass").compile(two, loss_weights=[1.0, 0.3])
    assert [type(loss).__name__ for loss in two.loss] == ["SparseCategoricalCrossentropy"] * 2


# probabilities of a 2x2 image with 3 classes, its targets (255 = unlabelled) and the hand-computed values
PROBABILITIES = np.array([[[[0.7, 0.2, 0.1], [0.2, 0.5, 0.3]],
                           [[0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]]], "float32")
TARGETS = np.array([[[0, 2], [255, 2]]], "int64")
# valid pixels 0, 1, 3: -ln 0.7, -ln 0.3, -ln 0.8; argmax 0, 1, 2 against 0, 2, 2 -> 2 of 3 right
HAND_LOSS = (-math.log(0.7) - math.log(0.3) - math.log(0.8)) / 3
HAND_ACCURACY = 2 / 3


def test_ignore_class_loss_and_accuracy_by_hand(tmp_path):
    loss = get_task("multiclass").loss_object(ignore_class=255, n_classes=3)
    assert float(loss(TARGETS, PROBABILITIES)) == pytest.approx(HAND_LOSS, rel=1e-5)
    metric = MaskedSparseAccuracy(ignore_class=255)
    metric.update_state(TARGETS[..., None], PROBABILITIES)
    assert float(metric.result()) == pytest.approx(HAND_ACCURACY, rel=1e-6)

    # through compile and evaluate: the model's softmax of log-probabilities gives PROBABILITIES back
    inputs = keras.Input((2, 2, 3))
    model = keras.Model(inputs, TaskOutput("multiclass")(inputs))
    get_task("multiclass").compile(model, ignore_class=255)
    logs = model.evaluate(np.log(PROBABILITIES), TARGETS, verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(HAND_LOSS, rel=1e-5) and logs["accuracy"] == pytest.approx(HAND_ACCURACY,
                                                                                                  rel=1e-6)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    again = loaded.evaluate(np.log(PROBABILITIES), TARGETS, verbose=0, return_dict=True)
    assert [again["loss"], again["accuracy"]] == pytest.approx([HAND_LOSS, HAND_ACCURACY], rel=1e-5)


def test_task_table_is_complete():
    assert set(TASKS) == {"regression", "binary", "multiclass", "multilabel"}
    for task in TASKS.values():
        assert task.loss in LOSSES and task.name in LOSSES[task.loss].tasks
