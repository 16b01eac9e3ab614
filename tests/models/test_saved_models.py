"""Models saved before the builder contract still load and predict as they did.

``data/eurosat_compact_resnet_before_contract.keras`` is the EuroSAT model committed to
``saved_models/eurosat_compact_resnet/`` before the builder contract (float32, 97.81 %; replaced there by
a better model since, and kept here as the file to load); ``data/eurosat_compact_resnet_predictions.json``
holds its class probabilities for one validation image per class, computed with rskeras before issue 11
(``rskeras.load_model`` + ``predict``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import rskeras
from rskeras.models import model_metadata

MODEL = Path(__file__).parent / "data" / "eurosat_compact_resnet_before_contract.keras"
COMMITTED = Path(__file__).resolve().parents[2] / "saved_models" / "eurosat_compact_resnet" / \
    "eurosat_compact_resnet.keras"
EXPECTED = Path(__file__).parent / "data" / "eurosat_compact_resnet_predictions.json"


def test_the_eurosat_model_saved_before_the_contract_loads_and_predicts_as_before(eurosat_dir):
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


def test_the_committed_eurosat_model_computes_in_float32_and_knows_its_classes(eurosat_dir):
    """``saved_models/eurosat_compact_resnet`` was trained in mixed_bfloat16 and saved as its float32 copy."""
    import tensorflow as tf

    from rskeras.models.metadata import all_layers

    expected = json.loads(EXPECTED.read_text())
    model = rskeras.load_model(COMMITTED)
    assert {layer.dtype_policy.name for layer in all_layers(model)} == {"float32"}
    images = np.stack([tf.io.decode_jpeg(tf.io.read_file(str(eurosat_dir / name)), channels=3).numpy()
                       for name in expected["files"]]).astype("float32")
    meta = model_metadata(model)
    classes = [meta.class_names[k] for k in model.predict(images, verbose=0).argmax(-1)]
    assert classes == [Path(name).parts[0] for name in expected["files"]]
