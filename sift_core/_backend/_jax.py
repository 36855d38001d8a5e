"""JAX operations; the framework module is passed in, never imported here."""

from __future__ import annotations

import numpy as np

from ._numpy import Ops
from ._unwrap import unwrap


class JaxOps(Ops):
    """JAX arrays through ``jax.numpy`` (differentiable with ``jax.grad``)."""

    name = "jax"

    def __init__(self, jnp, jax):
        self.np = jnp
        self.jax = jax

    @property
    def eager(self):
        return False  # arrays may be tracers: skip data-dependent checks

    def asfloat(self, x):
        jnp = self.np
        x = jnp.asarray(unwrap(x))
        if jnp.issubdtype(x.dtype, jnp.complexfloating):
            raise TypeError("complex arrays are not supported")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float64 if self.jax.config.jax_enable_x64 else jnp.float32)
        return x

    def to_acc(self, x):
        jnp = self.np
        return x.astype(jnp.float64 if self.jax.config.jax_enable_x64 else jnp.float32)

    def cast_like(self, x, like):
        return x.astype(like.dtype)

    def is_finite_all(self, x):
        return True

    def sqrt(self, x):
        return self.np.sqrt(x)

    def exp(self, x):
        return self.np.exp(x)

    def expm1(self, x):
        return self.np.expm1(x)

    def log(self, x):
        return self.np.log(x)

    def abs(self, x):
        return self.np.abs(x)

    def maximum(self, x, y):
        return self.np.maximum(x, y)

    def minimum(self, x, y):
        return self.np.minimum(x, y)

    def clip(self, x, lo, hi):
        return self.np.clip(x, lo, hi)

    def where(self, cond, a, b):
        return self.np.where(cond, a, b)

    def softplus(self, x):
        return self.np.logaddexp(0.0, x)

    def sum(self, x, axis=None, keepdims=False):
        return self.np.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return self.np.mean(x, axis=axis, keepdims=keepdims)

    def logsumexp(self, x, axis=None):
        return self.jax.scipy.special.logsumexp(x, axis=axis)

    def transpose(self, x, axes=None):
        return self.np.transpose(x, axes)

    def reshape(self, x, shape):
        return self.np.reshape(x, shape)

    def diag_part(self, x):
        return self.np.diagonal(x, axis1=-2, axis2=-1)

    def eye_like(self, n, like):
        return self.np.eye(n, dtype=like.dtype)

    def zero_diagonal(self, x):
        n = x.shape[-1]
        return x * (1.0 - self.np.eye(n, dtype=x.dtype))

    def stop_gradient(self, x):
        return self.jax.lax.stop_gradient(x)

    def median(self, x):
        return self.np.median(self.jax.lax.stop_gradient(x))

    def column_median(self, x):
        return self.np.median(self.jax.lax.stop_gradient(x), axis=0, keepdims=True)

    def scalar(self, value, like):
        return self.np.asarray(value, dtype=like.dtype)

    def log_softmax(self, x, axis=-1):
        return self.jax.nn.log_softmax(x, axis=axis)

    def one_hot(self, labels, num_classes, like):
        return self.jax.nn.one_hot(self.np.asarray(labels), num_classes, dtype=like.dtype)

    def separable_filter2d(self, x, kernel, channels_last=False):
        jnp, lax = self.np, self.jax.lax
        if channels_last:
            x = jnp.transpose(x, (0, 3, 1, 2))
        c = x.shape[1]
        k = jnp.asarray(np.asarray(kernel), dtype=x.dtype)
        kk = k.shape[0]
        dn = ("NCHW", "OIHW", "NCHW")
        for shape in ((c, 1, kk, 1), (c, 1, 1, kk)):
            w = jnp.broadcast_to(jnp.reshape(k, (1, 1) + shape[2:]), shape)
            x = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=dn, feature_group_count=c)
        return jnp.transpose(x, (0, 2, 3, 1)) if channels_last else x
