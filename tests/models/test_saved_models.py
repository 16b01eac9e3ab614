"""Models saved before the builder contract still load and predict as they did.

``saved_models/eurosat_compact_resnet/eurosat_compact_resnet.keras`` is the committed EuroSAT model;
``data/eurosat_compact_resnet_predictions.json`` holds its class probabilities for one validation
image per class, computed with rskeras before issue 11 (``rskeras.load_model`` + ``predict``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import rskeras
from rskeras.models import model_metadata

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "saved_models" / "eurosat_compact_resnet" / "eurosat_compact_resnet.keras"
EXPECTED = Path(__file__).parent / "data" / "eurosat_compact_resnet_predictions.json"


def test_committed_eurosat_model_loads_and_predicts_as_before(eurosat_dir):
    import tensorflow as tf

    expected = json.loads(EXPECTED.read_text())
    images = np.stack([tf.io.decode_jpeg(tf.io.read_file(str(eurosat_dir / name)), channels=3).numpy()
                       for name in expected["files"]]).astype("float32")
    model = rskeras.load_model(MODEL)
    probabilities = model.predict(images, verbose=0)
    np.testing.assert_allclose(probabilities, expected["probabilities"], rtol=0, atol=2e-6)
    meta = model_metadata(model)
    assert meta.task == "multiclass" and meta.band_names == [["red", "green", "blue"]] and meta.normalized == [True]
    assert meta.class_names[0] == "AnnualCrop" and len(meta.class_names) == 10
    assert model.count_params() == 1_233_002
