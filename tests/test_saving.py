"""Loading a saved model in a fresh process with rskeras.load_model; pure-geo imports stay TF-free."""

import subprocess
import sys

import numpy as np

from rskeras.models.ann import ann

SCRIPT = """
import sys
import rskeras
import rskeras.data  # pure-geo helpers stay free of TensorFlow
assert "tensorflow" not in sys.modules, "importing rskeras.data loaded TensorFlow"
model = rskeras.load_model(sys.argv[1])
import keras
print(model.predict(keras.ops.ones((1, 3)), verbose=0)[0].tolist())
"""


def test_saved_model_loads_in_a_fresh_process(tmp_path):
    model = ann((3,), task="multiclass", class_names=["a", "b"], band_stats=([1.0, 2.0, 3.0], [1.0, 1.0, 2.0]), hidden=(4,))
    path = tmp_path / "m.keras"
    model.save(path)
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    got = np.array(eval(run.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, model.predict(np.ones((1, 3), "float32"), verbose=0)[0], rtol=1e-5)
