"""Config-driven training on real EuroSAT patches, resumed, evaluated, exported; the CLI train/evaluate; augmentation."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
import yaml

from rskeras.cli import main
from rskeras.training import dihedral, learning_rate_schedule, load_config, train


def _config(eurosat_dir, tmp_path, epochs=1):
    return {
        "data": {"root": str(eurosat_dir), "limit": 64, "validation_limit": 32, "batch_size": 16, "stats_samples": 64},
        "model": {"name": "compact_resnet", "options": {"widths": [16, 32], "blocks": [1, 1], "stem_filters": 16}},
        "task": "multiclass",
        "training": {"epochs": epochs, "label_smoothing": 0.1, "schedule": "onecycle", "verbose": 0},
        "output": {"run_dir": str(tmp_path / "run"), "export": str(tmp_path / "saved_models" / "eurosat_tiny")},
    }


def test_train_evaluate_export_and_resume(eurosat_dir, tmp_path):
    result = train(_config(eurosat_dir, tmp_path))
    assert len(result.history["loss"]) == 1 and result.model.optimizer.iterations.numpy() == 4
    run = result.run.path
    for name in ("config.yaml", "log.csv", "best.keras", "model.keras", "checkpoints/state.json",
                 "evaluation/metrics.json", "evaluation/confusion_matrix.png"):
        assert (run / name).exists(), name
    assert list((run / "tensorboard").rglob("events.out.tfevents.*"))
    metrics = json.loads((run / "evaluation" / "metrics.json").read_text())
    assert metrics["n"] == 32 and sum(map(sum, metrics["confusion_matrix"])) == 32
    assert metrics["class_names"][0] == "AnnualCrop" and len(metrics["per_class"]) == 10
    assert (tmp_path / "saved_models" / "eurosat_tiny" / "1" / "saved_model.pb").exists()
    loaded = keras.models.load_model(tmp_path / "saved_models" / "eurosat_tiny" / "eurosat_tiny.keras")
    x = np.full((1, 64, 64, 3), 120.0, "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), result.model.predict(x, verbose=0), atol=1e-5)
    # two epochs in total: the run continues after the first
    again = train(_config(eurosat_dir, tmp_path, epochs=2))
    assert len(again.history["loss"]) == 1 and again.model.optimizer.iterations.numpy() == 8
    assert [r["epoch"] for r in again.run.log_rows()] == ["0", "1"]


def test_validation_every_nth_epoch_and_resume(eurosat_dir, tmp_path):
    """training.validation_freq 2: epochs 2 and 4 (1-based) are validated, also across a resume after epoch 3;
    the other rows log NA, best.keras comes from a validated epoch, the final model is evaluated."""
    config = _config(eurosat_dir, tmp_path, epochs=3)
    config["training"]["validation_freq"] = 2
    config["output"].update(export=None, tensorboard=False)
    first = train(config)
    assert sorted(first.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(first.history["loss"]) == 3 and len(first.history["val_loss"]) == 1
    config["training"]["epochs"] = 4
    again = train(config)
    assert len(again.history["loss"]) == 1 and len(again.history["val_loss"]) == 1  # epoch 4 of 4
    rows = again.run.log_rows()
    assert [r["epoch"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["val_loss"] == "NA" for r in rows] == [True, False, True, False]
    assert all(float(r["loss"]) > 0 for r in rows)
    assert again.run.best_model.exists() and again.evaluation["n"] == 32


def test_cli_train_and_evaluate(eurosat_dir, tmp_path, capsys):
    config = _config(eurosat_dir, tmp_path)
    config["output"].update(export=None, evaluate=False, tensorboard=False)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path), "--set", "training.epochs=1", "--set", "data.limit=32"]) == 0
    model = tmp_path / "run" / "model.keras"
    assert model.exists() and "model:" in capsys.readouterr().out
    out = tmp_path / "eval"
    assert main(["evaluate", str(model), "--data", str(eurosat_dir), "--limit", "24", "--out", str(out)]) == 0
    report = json.loads((out / "metrics.json").read_text())
    assert report["n"] == 24 and (out / "confusion_matrix.png").stat().st_size > 1000
    assert "overall accuracy" in capsys.readouterr().out


def test_cli_train_refuses_a_bad_config_before_training(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  name: alexnet\n")
    assert main(["train", str(path)]) == 2
    assert "unknown model 'alexnet'; choose one of ann, cnn, compact_resnet" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_dihedral_moves_image_and_mask_together():
    tf.random.set_seed(3)
    image = tf.reshape(tf.range(2 * 4 * 4 * 1, dtype=tf.float32), (2, 4, 4, 1))
    images, masks = dihedral(tf.concat([image] * 8, 0), tf.concat([image] * 8, 0))
    np.testing.assert_array_equal(images.numpy(), masks.numpy())
    variants = {images[i].numpy().tobytes() for i in range(0, 16, 2)}
    base = image[0].numpy()[..., 0]
    group = {np.rot90(m, k).astype("float32").tobytes() for m in (base, base.T) for k in range(4)}
    assert variants <= group and len(variants) > 1
    labels = tf.constant([1, 2])
    assert dihedral(image, labels)[1] is labels


def test_onecycle_schedule_warms_up_then_decays():
    training = load_config({"training": {"epochs": 10, "learning_rate": 0.01, "schedule": "onecycle"}}).training
    lr = learning_rate_schedule(training, steps_per_epoch=10)
    values = [float(lr(step)) for step in (0, 30, 99)]
    assert values[0] == pytest.approx(0.01 / 25) and values[1] == pytest.approx(0.01) and values[2] < 1e-4


@pytest.mark.parametrize("command", ["train", "evaluate", "demo"])
def test_help_explains_every_option(command, capsys):
    from rskeras.cli import build_parser

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and action.option_strings[-1] in text
