"""Array operations for numpy, PyTorch, TensorFlow and JAX, chosen by the array's type.

Every formula in ``sift_core`` is written once against the small interface of
:class:`Ops`.  The backend of an argument is recognised from the module of its
type (``torch``, ``tensorflow``, ``keras``, ``jax``) *without importing any
framework*: a tensor can only exist if its framework is already in
``sys.modules``, so we look the module up there.  This keeps ``import
sift_core`` free of frameworks, while a torch tensor passed in gets torch
operations (autograd, device and all).

Precision policy: the pairwise statistics cast their inputs to the
accumulation dtype (``to_acc``: float64 wherever the device supports it) before
the Gram products, because distances from ``|a|^2 + |b|^2 - 2 a.b`` lose about
half their digits in float32; results are cast back to the input's dtype.
numpy inputs are computed in float64 throughout and returned as numpy float64
scalars/arrays.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

__all__ = ["Ops", "get_ops", "NUMPY"]


class Ops:
    """Interface: the operations the core's formulas use (numpy implementation)."""

    name = "numpy"
    #: whether ``assert_finite`` and other data-dependent checks can run eagerly
    eager = True

    # ---- conversion -------------------------------------------------------
    def asfloat(self, x: Any) -> Any:
        x = np.asarray(x)
        if x.dtype.kind not in "biuf":
            raise TypeError(f"arrays of dtype {x.dtype} are not supported")
        # numpy inputs are computed in float64 (integers cast, never overflow).
        return x.astype(np.float64, copy=False)

    def to_acc(self, x: Any) -> Any:
        """Cast to the accumulation dtype (float64 where available)."""
        return np.asarray(x, dtype=np.float64)

    def cast_like(self, x: Any, like: Any) -> Any:
        return np.float64(x) if np.ndim(x) == 0 else np.asarray(x, dtype=np.float64)

    def shape(self, x: Any) -> tuple:
        return tuple(np.shape(x))

    def is_finite_all(self, x: Any) -> bool:
        return bool(np.isfinite(x).all())

    # ---- elementwise ------------------------------------------------------
    def sqrt(self, x):
        return np.sqrt(x)

    def exp(self, x):
        return np.exp(x)

    def expm1(self, x):
        """exp(x) - 1, accurate near 0."""
        return np.expm1(x)

    def log(self, x):
        return np.log(x)

    def abs(self, x):
        return np.abs(x)

    def maximum(self, x, y):
        return np.maximum(x, y)

    def minimum(self, x, y):
        return np.minimum(x, y)

    def clip(self, x, lo, hi):
        return np.clip(x, lo, hi)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def softplus(self, x):
        return np.logaddexp(0.0, x)

    # ---- reductions and linear algebra ------------------------------------
    def sum(self, x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)

    def logsumexp(self, x, axis=None):
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
        return np.squeeze(out, axis=axis) if axis is not None else out.reshape(())

    def matmul(self, a, b):
        return a @ b

    def transpose(self, x, axes=None):
        return np.transpose(x, axes)

    def reshape(self, x, shape):
        return np.reshape(x, shape)

    def diag_part(self, x):
        return np.diagonal(x, axis1=-2, axis2=-1)

    def eye_like(self, n: int, like):
        return np.eye(n, dtype=np.asarray(like).dtype)

    def zero_diagonal(self, x):
        n = x.shape[-1]
        return x * (1.0 - np.eye(n, dtype=x.dtype))

    def stop_gradient(self, x):
        return x

    def median(self, x):
        """Median of all entries (no gradient)."""
        return np.median(x)

    def column_median(self, x):
        """A median of each column of a (n, d) matrix, shape (1, d), no gradient.

        Backends may take the lower middle value for even n (it serves as a
        robust shift, not as a statistic).
        """
        return np.median(x, axis=0, keepdims=True)

    def num_rows(self, x):
        """Number of samples: a Python int when known statically."""
        return int(np.shape(x)[0])

    def dim(self, x, axis: int):
        """Size of ``axis``: a Python int when known statically (else a float64 scalar tensor)."""
        return int(np.shape(x)[axis])

    def flatten_from(self, x, axis: int):
        """Merge the axes ``axis, axis+1, ...`` into one (sizes may be unknown in graph mode)."""
        return np.reshape(x, tuple(np.shape(x)[:axis]) + (-1,))

    def scalar(self, value, like):
        return np.float64(value)

    # ---- image filtering (added for the SSIM window) -----------------------
    def log_softmax(self, x, axis=-1):
        m = np.max(x, axis=axis, keepdims=True)
        y = x - m
        return y - np.log(np.sum(np.exp(y), axis=axis, keepdims=True))

    def one_hot(self, labels, num_classes: int, like):
        """(n,) integer labels -> (n, num_classes) rows of ``like``'s dtype."""
        return np.eye(num_classes, dtype=np.asarray(like).dtype)[np.asarray(labels)]

    def separable_filter2d(self, x, kernel, channels_last=False):
        """Filter each channel of images with ``kernel`` along both spatial axes, "valid" mode.

        ``x`` is (N, C, H, W), or (N, H, W, C) with ``channels_last=True``;
        ``kernel`` a symmetric 1-D numpy array of length K.  Returns
        (N, C, H-K+1, W-K+1) (or channels-last): the output keeps only the
        positions whose window lies inside the image, so no border rule is needed.
        """
        axes = (1, 2) if channels_last else (2, 3)
        for axis in axes:
            x = _valid_correlate_numpy(x, kernel, axis)
        return x


class TorchOps(Ops):
    name = "torch"

    def __init__(self, torch):
        self.t = torch

    @property
    def eager(self):  # noqa: D401 - property
        return True

    def _acc_dtype(self, x):
        # float64 is not available on Apple's MPS devices.
        return self.t.float32 if x.device.type == "mps" else self.t.float64

    def asfloat(self, x):
        t = self.t
        x = unwrap(x)
        if not isinstance(x, t.Tensor):
            x = t.as_tensor(x)
        if x.is_complex():
            raise TypeError("complex tensors are not supported")
        if not x.is_floating_point():
            x = x.to(self._acc_dtype(x))
        elif x.dtype in (t.float16, t.bfloat16):
            x = x.float()
        return x

    def to_acc(self, x):
        return x.to(self._acc_dtype(x))

    def cast_like(self, x, like):
        return x.to(like.dtype)

    def shape(self, x):
        return tuple(x.shape)

    def is_finite_all(self, x):
        # A device tensor would force a host synchronisation: check on CPU only.
        if x.device.type != "cpu":
            return True
        return bool(self.t.isfinite(x).all())

    def sqrt(self, x):
        return self.t.sqrt(x)

    def exp(self, x):
        return self.t.exp(x)

    def expm1(self, x):
        return self.t.expm1(x)

    def log(self, x):
        return self.t.log(x)

    def abs(self, x):
        return self.t.abs(x)

    def maximum(self, x, y):
        if not isinstance(y, self.t.Tensor):
            return self.t.clamp(x, min=y)
        return self.t.maximum(x, y)

    def minimum(self, x, y):
        if not isinstance(y, self.t.Tensor):
            return self.t.clamp(x, max=y)
        return self.t.minimum(x, y)

    def clip(self, x, lo, hi):
        return self.t.clamp(x, lo, hi)

    def where(self, cond, a, b):
        return self.t.where(cond, a, b)

    def softplus(self, x):
        return self.t.nn.functional.softplus(x)

    def sum(self, x, axis=None, keepdims=False):
        if axis is None:
            return self.t.sum(x)
        return self.t.sum(x, dim=axis, keepdim=keepdims)

    def mean(self, x, axis=None, keepdims=False):
        if axis is None:
            return self.t.mean(x)
        return self.t.mean(x, dim=axis, keepdim=keepdims)

    def logsumexp(self, x, axis=None):
        if axis is None:
            return self.t.logsumexp(x.reshape(-1), dim=0)
        return self.t.logsumexp(x, dim=axis)

    def matmul(self, a, b):
        return a @ b

    def transpose(self, x, axes=None):
        if axes is None:
            return x.permute(*reversed(range(x.ndim)))
        return x.permute(*axes)

    def reshape(self, x, shape):
        return x.reshape(shape)

    def diag_part(self, x):
        return self.t.diagonal(x, dim1=-2, dim2=-1)

    def eye_like(self, n, like):
        return self.t.eye(n, dtype=like.dtype, device=like.device)

    def zero_diagonal(self, x):
        n = x.shape[-1]
        return x * (1.0 - self.t.eye(n, dtype=x.dtype, device=x.device))

    def stop_gradient(self, x):
        return x.detach()

    def median(self, x):
        # torch.median returns the lower of the two middle values; use quantile
        # semantics of numpy (mean of the two middle values) for parity.
        v = x.detach().reshape(-1)
        return self.t.quantile(v.to(self._acc_dtype(v)), 0.5).to(x.dtype) if v.numel() <= 16_000_000 \
            else v.median()

    def num_rows(self, x):
        return int(x.shape[0])

    def column_median(self, x):
        return x.detach().median(dim=0, keepdim=True).values

    def dim(self, x, axis):
        return int(x.shape[axis])

    def flatten_from(self, x, axis):
        return x.flatten(axis)

    def scalar(self, value, like):
        # a fill kernel: as_tensor would copy from host memory and synchronise a GPU stream
        return self.t.full((), value, dtype=like.dtype, device=like.device)

    def log_softmax(self, x, axis=-1):
        return self.t.log_softmax(x, dim=axis)

    def one_hot(self, labels, num_classes, like):
        labels = self.t.as_tensor(labels, device=like.device).long()
        return self.t.nn.functional.one_hot(labels, num_classes).to(like.dtype)

    def separable_filter2d(self, x, kernel, channels_last=False):
        fn = self.t.nn.functional
        if channels_last:
            x = x.permute(0, 3, 1, 2)
        c = x.shape[1]
        k = self.t.as_tensor(np.asarray(kernel), dtype=x.dtype, device=x.device)
        kk = k.numel()
        # depthwise (groups=C) 1-D passes: the same window for every channel
        x = fn.conv2d(x, k.reshape(1, 1, kk, 1).expand(c, 1, kk, 1), groups=c)
        x = fn.conv2d(x, k.reshape(1, 1, 1, kk).expand(c, 1, 1, kk), groups=c)
        return x.permute(0, 2, 3, 1) if channels_last else x


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
        return self.tf.linalg.set_diag(x, self.tf.zeros_like(self.tf.linalg.diag_part(x)))

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


NUMPY = Ops()
_CACHE: dict[str, Ops] = {}


def _root_module(obj: Any) -> str:
    return type(obj).__module__.split(".", 1)[0]


def get_ops(*arrays: Any) -> Ops:
    """Return the :class:`Ops` for the arrays' framework (numpy for anything else).

    All arrays must come from the same framework; numpy arrays and Python
    scalars mix with any framework (they are converted to its tensors).
    """
    found = None
    for a in arrays:
        if a is None:
            continue
        root = _root_module(a)
        kind = None
        if root == "torch" and "torch" in sys.modules:
            kind = "torch"
        elif root in ("tensorflow", "tf_keras") and "tensorflow" in sys.modules:
            kind = "tensorflow"
        elif root == "keras" and "keras" in sys.modules:
            kind = _keras_kind(a)
        elif root in ("jax", "jaxlib") and "jax" in sys.modules:
            kind = "jax"
        if kind is None:
            continue
        if found is not None and kind != found:
            raise TypeError(f"arrays from different frameworks cannot be mixed: {found} and {kind}")
        found = kind
    if found is None:
        return NUMPY
    ops = _CACHE.get(found)
    if ops is None:
        if found == "torch":
            ops = TorchOps(sys.modules["torch"])
        elif found == "tensorflow":
            ops = TensorFlowOps(sys.modules["tensorflow"])
        else:
            ops = JaxOps(sys.modules["jax"].numpy, sys.modules["jax"])
        _CACHE[found] = ops
    return ops


def _keras_kind(var: Any) -> str | None:
    """Backend of a ``keras.Variable``: that of the tensor it wraps."""
    value = getattr(var, "value", None)
    if value is None or value is var:
        return None
    root = _root_module(value)
    return {"torch": "torch", "tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jax"}.get(root)


def unwrap(x: Any) -> Any:
    """Replace a ``keras.Variable`` by the backend tensor it holds."""
    if _root_module(x) == "keras" and hasattr(x, "value"):
        return x.value
    return x


def _valid_correlate_numpy(x, kernel, axis):
    """Sum of shifted slices: a "valid" 1-D correlation along ``axis`` (numpy only, no scipy)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    length = x.shape[axis] - kernel.shape[0] + 1
    index = [slice(None)] * x.ndim
    out = None
    for t, w in enumerate(kernel):
        index[axis] = slice(t, t + length)
        term = w * x[tuple(index)]
        out = term if out is None else out + term
    return out
