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


def test_the_committed_eurosat_model_computes_in_float32_and_scores_its_figure(eurosat_dir):
    """``saved_models/eurosat_compact_resnet`` was trained in mixed_bfloat16 and saved as its float32 copy, and it
    scores the README's figure on the whole validation split: 5,306 of 5,400 images, 98.26 %
    (``benchmarks/results/eurosat_fused_bf16.json``), give or take 2 images of another CPU's rounding."""
    from rskeras.data.eurosat_dataset import eurosat
    from rskeras.evaluation import evaluate_model
    from rskeras.models.metadata import all_layers

    model = rskeras.load_model(COMMITTED)
    assert {layer.dtype_policy.name for layer in all_layers(model)} == {"float32"}
    meta = model_metadata(model)
    assert meta.class_names[0] == "AnnualCrop" and len(meta.class_names) == 10
    data = eurosat(eurosat_dir, split="validation", batch_size=256, shuffle=False)
    report = evaluate_model(model, data, progress=False)
    assert report["n_images"] == 5400
    assert abs(round(report["overall_accuracy"] * 5400) - 5306) <= 2
