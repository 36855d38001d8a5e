"""TensorFlow (and Keras on TensorFlow) operations; the framework module is passed in, never imported here."""

from __future__ import annotations

import numpy as np

from ._numpy import Ops
from ._unwrap import unwrap


class TensorFlowOps(Ops):
    """TensorFlow tensors and Keras variables (TensorFlow backend)."""

    name = "tensorflow"

    def __init__(self, tf):
        self.tf = tf

    @property
    def eager(self):
        return bool(self.tf.executing_eagerly())

    def asfloat(self, x):
        tf = self.tf
        x = tf.convert_to_tensor(unwrap(x))
        if x.dtype.is_complex:
            raise TypeError("complex tensors are not supported")
        if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype.is_bool):
            raise TypeError(f"tensors of dtype {x.dtype.name} are not supported")
        if not x.dtype.is_floating:
            x = tf.cast(x, tf.float64)
        elif x.dtype in (tf.float16, tf.bfloat16):
            x = tf.cast(x, tf.float32)
        return x

    def to_acc(self, x):
        return self.tf.cast(x, self.tf.float64)

    def cast_like(self, x, like):
        return self.tf.cast(x, like.dtype)

    def shape(self, x):
        return tuple(x.shape)

    def is_finite_all(self, x):
        if not self.eager:
            return True
        return bool(self.tf.reduce_all(self.tf.math.is_finite(x)))

    def sqrt(self, x):
        return self.tf.sqrt(x)

    def exp(self, x):
        return self.tf.exp(x)

    def expm1(self, x):
        return self.tf.math.expm1(x)

    def log(self, x):
        return self.tf.math.log(x)

    def abs(self, x):
        return self.tf.abs(x)

    def maximum(self, x, y):
        return self.tf.maximum(x, self.tf.cast(y, x.dtype))

    def minimum(self, x, y):
        return self.tf.minimum(x, self.tf.cast(y, x.dtype))

    def clip(self, x, lo, hi):
        return self.tf.clip_by_value(x, self.tf.cast(lo, x.dtype), self.tf.cast(hi, x.dtype))

    def where(self, cond, a, b):
        tf = self.tf
        a = tf.convert_to_tensor(a)
        b = tf.cast(tf.convert_to_tensor(b), a.dtype)
        return tf.where(cond, a, b)

    def softplus(self, x):
        return self.tf.nn.softplus(x)

    def sum(self, x, axis=None, keepdims=False):
        return self.tf.reduce_sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self.tf.reduce_mean(x, axis=axis, keepdims=keepdims)

    def logsumexp(self, x, axis=None):
        return self.tf.reduce_logsumexp(x, axis=axis)

    def matmul(self, a, b):
        return self.tf.matmul(a, b)

    def transpose(self, x, axes=None):
        return self.tf.transpose(x, perm=axes)

    def reshape(self, x, shape):
        return self.tf.reshape(x, shape)

    def diag_part(self, x):
        return self.tf.linalg.diag_part(x)

    def eye_like(self, n, like):
        return self.tf.eye(n, dtype=like.dtype)

    def zero_diagonal(self, x):
        # A multiplicative mask, not tf.linalg.set_diag: set_diag's gradient does not
        # compile under XLA when the leading (batch) dimension is dynamic.
        tf = self.tf
        n = x.shape[-1]
        if n is not None:
            return x * (1.0 - np.eye(n, dtype=x.dtype.as_numpy_dtype))
        i = tf.range(tf.shape(x)[-1])
        return x * tf.cast(tf.not_equal(i[:, None], i[None, :]), x.dtype)

    def stop_gradient(self, x):
        return self.tf.stop_gradient(x)

    def median(self, x):
        tf = self.tf
        v = tf.sort(tf.reshape(tf.stop_gradient(x), [-1]))
        m = tf.size(v)
        lo = v[(m - 1) // 2]
        hi = v[m // 2]
        return (lo + hi) / 2

    def num_rows(self, x):
        return self.dim(x, 0)

    def column_median(self, x):
        tf = self.tf
        v = tf.sort(tf.stop_gradient(x), axis=0)
        return v[(tf.shape(v)[0] - 1) // 2][None, :]

    def dim(self, x, axis):
        n = x.shape[axis]
        if n is not None:
            return int(n)
        return self.tf.cast(self.tf.shape(x)[axis], self.tf.float64)

    def flatten_from(self, x, axis):
        tf = self.tf
        known = x.shape[:axis]
        if all(s is not None for s in known):
            return tf.reshape(x, list(known) + [-1])
        return tf.reshape(x, tf.concat([tf.shape(x)[:axis], [-1]], axis=0))

    def scalar(self, value, like):
        return self.tf.constant(value, dtype=like.dtype)

    def log_softmax(self, x, axis=-1):
        return self.tf.nn.log_softmax(x, axis=axis)

    def one_hot(self, labels, num_classes, like):
        labels = self.tf.cast(self.tf.convert_to_tensor(unwrap(labels)), self.tf.int32)
        return self.tf.one_hot(labels, num_classes, dtype=like.dtype)

    def separable_filter2d(self, x, kernel, channels_last=False):
        tf = self.tf
        if not channels_last:
            x = tf.transpose(x, (0, 2, 3, 1))
        c = x.shape[-1]
        k = tf.constant(np.asarray(kernel), dtype=x.dtype)
        kk = int(k.shape[0])
        kh = tf.tile(tf.reshape(k, (kk, 1, 1, 1)), (1, 1, c, 1))
        kw = tf.tile(tf.reshape(k, (1, kk, 1, 1)), (1, 1, c, 1))
        x = tf.nn.depthwise_conv2d(x, kh, strides=[1, 1, 1, 1], padding="VALID")
        x = tf.nn.depthwise_conv2d(x, kw, strides=[1, 1, 1, 1], padding="VALID")
        return x if channels_last else tf.transpose(x, (0, 3, 1, 2))
