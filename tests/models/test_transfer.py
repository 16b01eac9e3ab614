"""freeze_backbone and the two-stage fine_tune helper on real EuroSAT patches."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from rskeras.models.backbones import build_backbone
from rskeras.models.blocks import pooled_head
from rskeras.models.cnn import cnn
from rskeras.models.contract import image_input
from rskeras.models.googlenet import googlenet
from rskeras.models.transfer import backbone_layers, fine_tune, freeze_backbone
from tests.models.helpers import eurosat_batch


def test_freeze_backbone_freezes_only_backbone_layers():
    model = googlenet((32, 32, 4), n_outputs=3)
    changed = freeze_backbone(model)
    assert changed and all(name.startswith("googlenet_") for name in changed)
    assert model.trainable_weights and all(not w.path.startswith("googlenet_") for w in model.trainable_weights)
    assert {w.path.split("/")[0] for w in model.trainable_weights} == {"output_logits"}
    freeze_backbone(model, trainable=True)
    assert model.get_layer("googlenet_conv1_conv").trainable


def test_freeze_backbone_picks_one_of_two_backbones():
    inputs, x = image_input((32, 32, 3))
    a = build_backbone("googlenet", x)[32]
    b = keras.layers.GlobalAveragePooling2D()(build_backbone("vgg16", x)[32])
    model = keras.Model(inputs, [pooled_head(a, "regression", 1), b])
    freeze_backbone(model, backbone="vgg16")
    assert not model.get_layer("vgg16_block1_conv1").trainable
    assert model.get_layer("googlenet_conv1_conv").trainable
    assert len(backbone_layers(model)) == len(backbone_layers(model, "vgg16")) + len(backbone_layers(model, "googlenet"))


def test_freeze_backbone_without_backbone_is_an_error():
    with pytest.raises(ValueError, match="has no layer of the backbone"):
        freeze_backbone(cnn((32, 32, 3), n_outputs=2, widths=(4,), hidden=(4,)))


def test_fine_tune_trains_head_then_everything_with_batch_norm_frozen(eurosat_dir):
    keras.utils.set_random_seed(0)
    x, y = eurosat_batch(eurosat_dir, n=8)
    model = googlenet((64, 64, 3), n_outputs=10, band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))))
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    conv = model.get_layer("googlenet_inception_3a_3x3_conv")
    bn = model.get_layer("googlenet_inception_3a_3x3_bn")
    head = model.get_layer("output_logits")
    kernel0, stats0, head0 = conv.kernel.numpy(), bn.moving_mean.numpy(), head.kernel.numpy()

    seen = []

    class AfterHeadStage(keras.callbacks.Callback):
        def on_train_end(self, logs=None):
            seen.append((conv.kernel.numpy().copy(), bn.moving_mean.numpy().copy(), head.kernel.numpy().copy()))

    histories = fine_tune(model, train, train, task="multiclass", head_epochs=1, full_epochs=1,
                          head_lr=1e-3, full_lr=1e-4, callbacks=[AfterHeadStage()],
                          compile_kwargs={"run_eagerly": True}, verbose=0)
    assert histories.head.epoch == [0] and histories.full.epoch == [1]
    assert {"loss", "accuracy", "val_loss"} <= set(histories.full.history)
    # stage 1: backbone weights and statistics untouched, head trained
    np.testing.assert_array_equal(seen[0][0], kernel0)
    np.testing.assert_array_equal(seen[0][1], stats0)
    assert not np.array_equal(seen[0][2], head0)
    # stage 2: backbone convolutions train, batch normalisation stays in inference mode
    assert not np.array_equal(conv.kernel.numpy(), kernel0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), stats0)
    assert conv.trainable and not bn.trainable
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-4)


def test_fine_tune_compiles_one_loss_per_output_for_aux_classifiers(eurosat_dir):
    keras.utils.set_random_seed(0)
    x, y = eurosat_batch(eurosat_dir, n=8)
    x = x[:, ::2, ::2]  # 32x32 for speed
    model = googlenet((32, 32, 3), n_outputs=10, aux_classifiers=True,
                      band_stats=(x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))))
    train = tf.data.Dataset.from_tensor_slices((x, (y, y, y))).batch(8)
    histories = fine_tune(model, train, task="multiclass", head_epochs=1, full_epochs=1,
                          loss_weights=[1.0, 0.3, 0.3], compile_kwargs={"run_eagerly": True}, verbose=0)
    assert {"output_loss", "aux1_loss", "aux2_loss", "output_accuracy"} <= set(histories.full.history)
    assert all(np.isfinite(histories.full.history["loss"]))
