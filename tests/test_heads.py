import keras
import numpy as np
import pytest

from rskeras.heads import TASKS, TaskOutput, compile_arguments, get_task, output_head


def test_task_table_matches_the_lecture():
    assert {t: (TASKS[t].activation, TASKS[t].loss) for t in TASKS} == {
        "regression": ("linear", "mean_squared_error"),
        "binary": ("sigmoid", "crossentropy"),
        "multiclass": ("softmax", "crossentropy"),
        "multilabel": ("sigmoid", "crossentropy"),
    }
    assert [m.name for m in TASKS["regression"].metrics()] == ["mae", "rmse"]


def test_unknown_task_lists_the_names():
    with pytest.raises(ValueError, match="unknown task 'segmentation'.*'regression', 'binary', 'multiclass', 'multilabel'"):
        get_task("segmentation")


@pytest.mark.parametrize("task,n,bad", [("binary", 3, "one sigmoid output"), ("multiclass", 1, "n_outputs >= 2")])
def test_output_count_checked(task, n, bad):
    with pytest.raises(ValueError, match=bad):
        output_head(keras.Input((4,)), task, n)


@pytest.mark.parametrize("task", list(TASKS))
def test_head_outputs_float32_under_mixed_precision(task):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        inputs = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, padding="same")(inputs)
        n = 1 if task in ("binary", "regression") else 3
        out = output_head(x, task, n, kind="conv")
        model = keras.Model(inputs, out)
        y = model(np.random.rand(2, 8, 8, 3).astype("float32"))
        assert model.layers[-2].compute_dtype == "float16"
        assert y.dtype == "float32" and tuple(y.shape) == (2, 8, 8, n)
        y = np.asarray(y)
        if task == "multiclass":
            np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
        if task in ("binary", "multilabel"):
            assert ((y > 0) & (y < 1)).all()
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_task_output_round_trip(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, output_head(inputs, "multiclass", 2, class_names=["water", "land"]))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    head = loaded.layers[-1]
    assert isinstance(head, TaskOutput) and head.task == "multiclass" and head.class_names == ["water", "land"]
    x = np.random.rand(5, 3).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


def test_compile_arguments_are_deprecated_and_give_fresh_metrics():
    with pytest.warns(DeprecationWarning, match="compile_for_task"):
        a, b = compile_arguments("binary"), compile_arguments("binary")
    assert isinstance(a["loss"], keras.losses.BinaryCrossentropy) and a["metrics"][0] is not b["metrics"][0]
