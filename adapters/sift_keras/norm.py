"""Normalisation layers of the models (the counterpart of ``sift_torch.norm``)."""

from __future__ import annotations

from ._keras import keras, ops, serializable

__all__ = ["BatchNormalization"]


@serializable
class BatchNormalization(keras.layers.BatchNormalization):
    """Batch norm whose moving statistics are debiased: they keep ``min(momentum, 1 - 1/t)`` at batch t.

    Keras's moving variance starts at 1 and moves ``1 - momentum`` per batch,
    so a layer whose inputs have variance 1e-3 (features behind a few sigmoid
    gates, or the standardised funnel output) evaluates wrongly for the first
    tens of batches, and a short run then scores far below its training
    accuracy in inference mode.  Averaging the first batches exactly (the
    cumulative average) removes the initial value's weight; after
    ``1 / (1 - momentum)`` batches this is Keras's exponential average.  The
    same rule as ``sift_torch.norm.BatchNorm2d`` (momentum 0.9 here is 0.1 there).
    The batch count is a non-trainable weight, so it is saved and restored with
    the model.  Masks and batch renormalisation use Keras's own update.
    """

    def build(self, input_shape):
        super().build(input_shape)
        self.batches_seen = self.add_weight(shape=(), initializer="zeros", trainable=False, name="batches_seen",
                                            autocast=False)

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or mask is not None or self.renorm:
            return super().call(inputs, training=training, mask=mask)
        dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = ops.cast(inputs, dtype)
        mean, variance = self._moments(inputs, mask)
        seen = self.batches_seen + 1.0
        self.batches_seen.assign(seen)
        keep = ops.cast(ops.minimum(self.momentum, 1.0 - 1.0 / seen), dtype)
        self.moving_mean.assign(ops.cast(self.moving_mean, dtype) * keep + mean * (1.0 - keep))
        self.moving_variance.assign(ops.cast(self.moving_variance, dtype) * keep + variance * (1.0 - keep))
        out = ops.batch_normalization(
            inputs, mean, variance, axis=self.axis,
            offset=ops.cast(self.beta, dtype) if self.center else None,
            scale=ops.cast(self.gamma, dtype) if self.scale else None, epsilon=self.epsilon,
        )
        return ops.cast(out, self.compute_dtype)
