"""Hostile cases of ``rskeras evaluate``, ``evaluate_model`` and ``write_report``, with the committed EuroSAT
classifier (``saved_models/eurosat_compact_resnet``) on real EuroSAT patches."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from rskeras.evaluation import evaluate_model, write_report
from tests.hostile.conftest import REPO, assert_cli_error, leftovers

MODEL = REPO / "saved_models" / "eurosat_compact_resnet" / "eurosat_compact_resnet.keras"


@pytest.fixture(scope="module")
def model():
    from rskeras.saving import load_model

    if not MODEL.exists():
        pytest.skip(f"{MODEL} is not in this checkout")
    return load_model(MODEL)


def _evaluate(cli, eurosat_dir, out, *extra):
    return cli("evaluate", MODEL, "--data", eurosat_dir, "--out", out, *extra)


@pytest.mark.parametrize("option, value, needle", [
    ("--limit", "0", "--limit 0 must be an integer >= 1"),
    ("--limit", "-5", "--limit -5 must be an integer >= 1"),
    ("--batch-size", "0", "--batch-size 0 must be an integer >= 1"),
])
def test_sizes_below_one_are_refused_before_work(cli, eurosat_dir, tmp_path, option, value, needle):
    assert_cli_error(_evaluate(cli, eurosat_dir, tmp_path / "eval", option, value), needle)
    assert list(tmp_path.iterdir()) == []


def test_a_small_evaluation_into_a_folder_with_spaces_and_non_ascii(cli, eurosat_dir, tmp_path, unchanged):
    out = tmp_path / "Auswertung über EuroSAT"
    with unchanged(MODEL, eurosat_dir / "validation.csv"):
        result = _evaluate(cli, eurosat_dir, out, "--limit", "16", "--batch-size", "8")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((out / "metrics.json").read_text())
    assert report["n"] == 16 and sum(map(sum, report["confusion_matrix"])) == 16
    assert (out / "confusion_matrix.png").stat().st_size > 1000 and leftovers(tmp_path) == []
    assert "on 16 samples" in result.stdout


def test_a_missing_or_broken_model_is_named(cli, eurosat_dir, tmp_path):
    assert_cli_error(cli("evaluate", tmp_path / "none.keras", "--data", eurosat_dir, "--out", tmp_path / "e"),
                     f"model file {tmp_path / 'none.keras'} does not exist")
    broken = tmp_path / "cut.keras"
    broken.write_bytes(MODEL.read_bytes()[:4000])  # a copy cut short
    result = cli("evaluate", broken, "--data", eurosat_dir, "--out", tmp_path / "e", "--limit", "4")
    assert_cli_error(result, f"model file {broken} is not a Keras model")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.keras"]


def test_an_out_folder_that_is_a_file_or_the_model(cli, eurosat_dir, tmp_path, unchanged):
    (tmp_path / "report").write_text("a file")
    assert_cli_error(_evaluate(cli, eurosat_dir, tmp_path / "report"), "--out", "is an existing file; give a folder")
    with unchanged(MODEL):
        assert_cli_error(_evaluate(cli, eurosat_dir, MODEL), f"--out {MODEL} is an existing file")
    with unchanged(eurosat_dir / "train.csv", eurosat_dir / "label_map.json"):
        assert_cli_error(_evaluate(cli, eurosat_dir, eurosat_dir / "evaluation"), "would be inside each other")
    assert not (eurosat_dir / "evaluation").exists()


def test_bands_the_folder_lacks(cli, eurosat_dir, tmp_path):
    result = _evaluate(cli, eurosat_dir, tmp_path / "e", "--bands", "all", "--limit", "4")
    assert_cli_error(result, "--bands 'all' need the 13-band archive (.tif)", f"{eurosat_dir} holds the RGB archive")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_without_images_and_an_unknown_split(cli, eurosat_dir, tmp_path):
    (tmp_path / "data" / "Forest").mkdir(parents=True)
    result = cli("evaluate", MODEL, "--data", tmp_path / "data", "--out", tmp_path / "e", "--limit", "4")
    assert_cli_error(result, f"no .jpg/.jpeg/.png images in the class folders of {tmp_path / 'data'}")
    result = _evaluate(cli, eurosat_dir, tmp_path / "e", "--split", "test")
    assert_cli_error(result, "unknown EuroSAT split 'test'; choose one of train, validation, all")
    assert not (tmp_path / "e").exists()


def test_a_config_without_validation_data(cli, eurosat_dir, tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(f"data:\n  root: {eurosat_dir}\n  validation_split: null\n")
    result = cli("evaluate", MODEL, "--config", config, "--out", tmp_path / "e", "--limit", "4")
    assert_cli_error(result, f"{config} has no validation data")


def test_evaluate_model_on_nothing_or_on_the_wrong_labels(model):
    empty = tf.data.Dataset.from_tensor_slices((np.zeros((0, 64, 64, 3), "float32"), np.zeros(0, "int32"))).batch(4)
    with pytest.raises(ValueError, match="the dataset is empty: nothing to evaluate"):
        evaluate_model(model, empty, progress=False)
    wrong = tf.data.Dataset.from_tensor_slices((np.full((4, 64, 64, 3), 90.0, "float32"), [0, 3, 12, 1])).batch(4)
    with pytest.raises(ValueError, match=r"y_true holds class indices outside 0\.\.9"):
        evaluate_model(model, wrong, progress=False)


def test_evaluate_model_needs_a_task(tmp_path):
    import keras

    inputs = keras.Input((4,))
    plain = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    with pytest.raises(ValueError, match="has no rskeras TaskOutput layer; pass task="):
        evaluate_model(plain, [(np.zeros((2, 4), "float32"), np.zeros(2))], progress=False)


def test_write_report_into_a_file_or_interrupted(tmp_path, monkeypatch):
    report = {"confusion_matrix": [[3, 1], [0, 4]], "class_names": ["a", "b"], "overall_accuracy": 0.875}
    (tmp_path / "report").write_text("a file")
    with pytest.raises(ValueError, match="folder .*report is an existing file; give a folder"):
        write_report(report, tmp_path / "report")

    from matplotlib.figure import Figure

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Figure, "savefig", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(report, tmp_path / "evaluation")
    assert list((tmp_path / "evaluation").iterdir()) == []  # neither metrics.json nor the figure
