"""The :class:`Ops` interface and its numpy implementation (the reference for every backend)."""

from __future__ import annotations

from typing import Any

import numpy as np


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
