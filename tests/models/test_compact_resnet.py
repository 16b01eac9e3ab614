"""compact_resnet's strided 1x1 shortcut: subsample, then convolve (a oneDNN crash in TensorFlow 2.21)."""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

from rskeras.models.compact_resnet.compact_resnet_classifier import _subsample

REPO = Path(__file__).resolve().parents[2]


def test_subsample_then_1x1_equals_the_strided_1x1_convolution():
    rng = np.random.default_rng(0)
    for side in (9, 10):
        strided = keras.layers.Conv2D(5, 1, strides=2, padding="same", use_bias=False)
        plain = keras.layers.Conv2D(5, 1, padding="same", use_bias=False)
        x = rng.normal(size=(2, side, side, 3)).astype("float32")
        expected = np.asarray(strided(x))
        plain.build(x.shape)
        plain.set_weights(strided.get_weights())
        inputs = keras.Input((side, side, 3))
        got = np.asarray(keras.Model(inputs, plain(_subsample(inputs, 2, "s")))(x))
        assert got.shape == expected.shape == (2, (side + 1) // 2, (side + 1) // 2, 5)
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_training_with_8_channel_stages_does_not_crash_with_onednn():
    """Before the workaround this process died with SIGSEGV (exit -11) in every try here; heap corruption, so
    whether it shows depends on what else the process allocated."""
    code = ("import rskeras, numpy as np; from rskeras.models import compact_resnet; "
            "m = compact_resnet((64, 64, 3), n_outputs=10, stem_filters=8, widths=[8], blocks=[1]); "
            "m.compile('adam', 'sparse_categorical_crossentropy'); "
            "r = np.random.default_rng(0); "
            "m.fit(r.uniform(0, 255, (48, 64, 64, 3)).astype('float32'), r.integers(0, 10, 48), batch_size=16, verbose=0)")
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_ENABLE_ONEDNN_OPTS="1", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
