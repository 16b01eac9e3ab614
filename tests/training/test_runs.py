"""Resumable runs: SIGKILL mid-epoch and restart, the CSV log, the best model, the non-finite loss guard."""

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras.models.ann import ann
from rskeras.training import (
    NonFiniteLossError,
    RunFolder,
    compile_for_task,
    fit,
    truncate_log,
)

SCRIPT = Path(__file__).with_name("resumable_fit.py")
EPOCHS, STEPS = 5, 6  # as in resumable_fit.py


def _run(run_dir, *extra, timeout=120):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_resume_after_sigkill_mid_epoch(tmp_path):
    run_dir = tmp_path / "run"
    proc = _run(run_dir, "--stall-at", "2")
    deadline = time.time() + 120
    while not (run_dir / "stalled").exists():
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.time() < deadline, "the training subprocess never reached epoch 3"
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    run = RunFolder(run_dir)
    assert run.saved_epoch() == 2  # epochs 0 and 1 finished, epoch 2 was killed at batch 3
    assert [r["epoch"] for r in run.log_rows()] == ["0", "1"]
    # a kill between writing the log row and the checkpoint leaves a row the checkpoint lacks
    with open(run.log, "a") as f:
        f.write("2,0.5,0.5\n")
    proc = _run(run_dir)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"restored_iterations": 2 * STEPS, "iterations": EPOCHS * STEPS, "epochs_run": EPOCHS - 2}
    rows = run.log_rows()
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    assert run.saved_epoch() == EPOCHS and run.best_model.exists()
    assert [p.name for p in run.checkpoints.iterdir() if p.name.startswith(".tmp")] == []
    # started again when finished: nothing more to train, nothing appended
    proc = _run(run_dir)
    out, _ = proc.communicate(timeout=120)
    assert json.loads(out.strip().splitlines()[-1])["epochs_run"] == 0
    assert len(run.log_rows()) == EPOCHS


def test_truncate_log_drops_unsaved_and_cut_rows(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text("epoch,loss\n0,1.0\n1,0.8\n2,0.7\n3,0.")
    rows = truncate_log(log, 2)
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert log.read_text() == "epoch,loss\n0,1.0\n1,0.8\n"
    assert truncate_log(tmp_path / "missing.csv", 3) == []


def _tiny_model(hidden=(4,)):
    keras.utils.set_random_seed(1)
    model = compile_for_task(ann(3, task="multiclass", n_outputs=2, hidden=hidden), "multiclass")
    model.build((None, 3))
    return model


def test_non_finite_loss_names_the_batch_and_keeps_the_last_checkpoint(tmp_path):
    x = np.ones((24, 3), "float32")
    y = np.zeros(24, "int32")
    x_bad = x.copy()
    x_bad[8:12] = np.nan  # batch index 2 of each epoch (batches of 4)
    model = _tiny_model(hidden=())  # NaN inputs reach the logits (ReLU may map NaN to 0)
    run = RunFolder(tmp_path / "run")
    fit(model, tf.data.Dataset.from_tensor_slices((x, y)).batch(4), None, run, 1, verbose=0, tensorboard=False)
    good = [w.copy() for w in model.get_weights()]
    data = tf.data.Dataset.from_tensor_slices((x_bad, y)).batch(4)
    with pytest.raises(NonFiniteLossError, match=r"loss is nan at epoch 2 \(index 1\), batch index 2"):
        fit(model, data, None, run, 3, verbose=0, tensorboard=False)
    assert run.saved_epoch() == 1 and len(run.log_rows()) == 1
    restored = _tiny_model(hidden=())
    restored.optimizer.build(restored.trainable_variables)
    state = json.loads((run.checkpoints / "state.json").read_text())
    restored.load_weights(run.checkpoints / state["weights"])
    for a, b in zip(restored.get_weights(), good):
        np.testing.assert_allclose(a, b)


def test_best_model_survives_resume_with_threshold(tmp_path):
    run = RunFolder(tmp_path / "run")
    run.log.write_text("epoch,loss\n0,0.5\n1,0.2\n")
    (run.checkpoints).mkdir(parents=True)
    model = _tiny_model()
    model.optimizer.build(model.trainable_variables)
    model.save_weights(run.checkpoints / "epoch-0002.weights.h5")
    (run.checkpoints / "state.json").write_text(json.dumps({"epoch": 2, "batch": 0, "weights": "epoch-0002.weights.h5"}))
    callbacks = run.callbacks(monitor="loss", tensorboard=False)
    best = next(c for c in callbacks if isinstance(c, keras.callbacks.ModelCheckpoint))
    assert best.best == pytest.approx(0.2)  # a resumed run only replaces best.keras with a better epoch
    assert [type(c).__name__ for c in callbacks] == ["NonFiniteLossGuard", "CSVLogger", "AtomicModelCheckpoint",
                                                     "AtomicBackupAndRestore"]
    with open(run.log) as f:
        assert list(csv.reader(f))[-1] == ["1", "0.2"]


def test_config_changes_list_what_changed_except_resumable_keys():
    from rskeras.training.runs import config_changes

    old = {"model": {"name": "cnn", "options": {"widths": [32, 64]}}, "training": {"epochs": 10, "seed": 0},
           "output": {"run_dir": "runs/a"}}
    new = {"model": {"name": "cnn", "options": {"widths": [16, 32], "dropout": 0.2}}, "training": {"epochs": 20,
           "seed": 0}, "output": {"run_dir": "runs/b"}}
    assert config_changes(old, new) == [("model.options.widths", "[32, 64] -> [16, 32]"),
                                        ("model.options.dropout", "(unset) -> 0.2")]
