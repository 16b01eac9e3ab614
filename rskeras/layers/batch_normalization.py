"""Batch normalisation computed by TensorFlow's fused kernel: Keras' layer, the same weights and results, faster.

Keras 3 normalises in separate operations (cast to float32, mean, variance, scale and shift, cast back), each a
pass over the whole feature map in training and again in the gradient. TensorFlow's ``FusedBatchNormV3`` (oneDNN's
kernel on a CPU, cuDNN's on a GPU) does the forward pass and its gradient in one pass each. On the 2-core CPU of
this project a train step of the EuroSAT compact ResNet (batch 64, 64x64 px) took 0.21 s against 0.30 s with
Keras' layer in float32 and 0.23 s against 0.33 s in ``mixed_bfloat16`` (``benchmarks/batchnorm.py``,
``benchmarks/results/batchnorm.json``).

:class:`FusedBatchNormalization` is ``keras.layers.BatchNormalization`` with that kernel where it applies:

- the TensorFlow backend, a 4-D channels-last input ``(batch, H, W, C)`` (``axis=-1`` or 3), float16, bfloat16 or
  float32 values, no mask, no renormalisation, not synchronised across replicas, ``epsilon`` >= 1.001e-5;
- anything else runs Keras' own code (the parent class), including other Keras backends (this module imports
  TensorFlow, as rskeras' layers do).

The results are Keras' within float rounding: in training, the batch's mean and its biased variance
(divided by N) normalise; the moving statistics are updated as ``moving * momentum + batch * (1 - momentum)``
with the biased variance as in Keras (the kernel returns the unbiased one; it is multiplied by ``(N - 1) / N``,
``N = batch * H * W``). A layer that is frozen (``trainable=False``) normalises with its moving statistics,
as Keras does.
"""

from __future__ import annotations

import keras
import tensorflow as tf

#: the smallest epsilon cuDNN's fused kernel takes (TensorFlow's and Keras 2's rule)
MIN_FUSED_EPSILON = 1.001e-5
_FUSED_DTYPES = ("float16", "bfloat16", "float32")


@keras.saving.register_keras_serializable(package="rskeras")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` (same arguments, weights and config) computed by TensorFlow's
    fused kernel where it applies; see the module docstring for where that is."""

    def call(self, inputs, training=None, mask=None):
        if mask is not None or not self._fusable(inputs, training):
            return super().call(inputs, training=training, mask=mask)
        gamma = self.gamma if self.scale else tf.ones(self.moving_mean.shape, "float32")
        beta = self.beta if self.center else tf.zeros(self.moving_mean.shape, "float32")
        gamma, beta = tf.cast(gamma, "float32"), tf.cast(beta, "float32")
        if training and self.trainable:
            outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, epsilon=self.epsilon, is_training=True)
            self._update_moving_statistics(inputs, mean, unbiased_variance)
        else:
            outputs, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, gamma, beta, mean=tf.cast(self.moving_mean, "float32"),
                variance=tf.cast(self.moving_variance, "float32"), epsilon=self.epsilon, is_training=False)
        return tf.cast(outputs, self.compute_dtype)

    def _fusable(self, inputs, training) -> bool:
        """Whether the fused kernel computes what Keras' layer would for these inputs."""
        return (keras.backend.backend() == "tensorflow" and len(inputs.shape) == 4 and self.axis in (-1, 3)
                and keras.backend.standardize_dtype(inputs.dtype) in _FUSED_DTYPES
                and not self.renorm and not self.synchronized and self.epsilon >= MIN_FUSED_EPSILON
                and (training is None or isinstance(training, bool)))

    def _update_moving_statistics(self, inputs, mean, unbiased_variance) -> None:
        """Keras' moving averages, from the batch's mean and biased variance (``unbiased * (N - 1) / N``)."""
        n = tf.cast(tf.reduce_prod(tf.shape(inputs, out_type=tf.int64)[:3]), "float32")  # int64: no overflow
        variance = unbiased_variance * tf.maximum(n - 1.0, 0.0) / tf.maximum(n, 1.0)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + tf.cast(mean, self.moving_mean.dtype) * (1 - momentum))
        self.moving_variance.assign(
            self.moving_variance * momentum + tf.cast(variance, self.moving_variance.dtype) * (1 - momentum))
