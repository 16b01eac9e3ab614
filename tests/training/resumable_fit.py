"""A small resumable fit for tests/training/test_runs.py, run as a subprocess.

    python resumable_fit.py RUN_DIR [--stall-at EPOCH]

With ``--stall-at`` it writes RUN_DIR/stalled at batch 3 of that epoch and sleeps there, so
the test can SIGKILL it mid-epoch. It prints one JSON line: the optimizer iterations after
restoring, at the end, and the epochs this process ran.
"""

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import rskeras  # noqa: F401
from rskeras.models.ann import ann
from rskeras.training import RunFolder, compile_for_task, fit

EPOCHS, STEPS, BATCH = 5, 6, 8


class Stall(keras.callbacks.Callback):
    def __init__(self, epoch, marker):
        super().__init__()
        self.epoch, self.marker, self.current = epoch, marker, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == 3:
            self.marker.write_text("stalled")
            time.sleep(600)


class Probe(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.restored = int(self.model.optimizer.iterations.numpy())


def main():
    run_dir = Path(sys.argv[1])
    stall = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[2] == "--stall-at" else None
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * BATCH, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    model = compile_for_task(ann(4, task="multiclass", n_outputs=2, hidden=(8,)), "multiclass")
    model.build((None, 4))
    probe = Probe()
    callbacks = [probe] + ([Stall(stall, run_dir / "stalled")] if stall is not None else [])
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    history = fit(model, data, None, RunFolder(run_dir), EPOCHS, callbacks=callbacks, verbose=0, tensorboard=False)
    print(json.dumps({"restored_iterations": probe.restored, "iterations": int(model.optimizer.iterations.numpy()),
                      "epochs_run": len(history.get("loss", []))}))


if __name__ == "__main__":
    main()
