"""Pairwise matrices and their centring: the formulas behind distance covariance and HSIC.

Written once against :class:`sift_core._backend.Ops`, so that numpy, torch,
TensorFlow and JAX share them; the numba kernels (:mod:`sift_core._dcov_numba`,
:mod:`sift_core._dcov_1d`) produce the sums that :func:`centred_inner` takes,
and are tested against these dense forms.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._backend import Ops

__all__ = [
    "centred_inner",
    "centre_matrix",
    "centred_product",
    "gram_zero_tolerance",
    "in_units",
    "centre_columns",
    "max_abs",
    "pairwise_distances",
    "power_of_two_scale",
    "rescale",
    "safe_sqrt",
    "sample_scale",
]


def centred_inner(ops: Ops, s_ab, r_a, r_b, n, *, unbiased: bool):
    """<A, B> of the doubly centred matrices, from sums of the raw matrices.

    With row sums ``r_a = a 1`` and totals ``t_a = 1' a 1``:

    * V-statistic (double centring, ``A = H a H``)::

        (1/n^2) sum_ij A_ij B_ij = S_ab/n^2 - 2 r_a.r_b/n^3 + t_a t_b/n^4

    * U-statistic (U-centring, Szekely and Rizzo 2014, zero diagonals)::

        (1/(n(n-3))) [S_ab - 2 r_a.r_b/(n-2) + t_a t_b/((n-1)(n-2))]

    ``S_ab = sum_ij a_ij b_ij``.  The U form is unbiased for the population
    distance covariance (and for HSIC: Song et al. 2012) and needs n >= 4.
    """
    rr = ops.sum(r_a * r_b)
    ta = ops.sum(r_a)
    tb = ops.sum(r_b)
    if unbiased:
        return (s_ab - 2.0 * rr / (n - 2) + ta * tb / ((n - 1) * (n - 2))) / (n * (n - 3))
    return s_ab / n**2 - 2.0 * rr / n**3 + ta * tb / n**4


def centre_matrix(ops: Ops, a, *, unbiased: bool):
    """Double centring ``H a H`` (V) or U-centring (U, zero diagonal) of a symmetric matrix.

    U-centring (Szekely and Rizzo 2014) of ``a`` with zero diagonal::

        A_ij = a_ij - r_i/(n-2) - r_j/(n-2) + t/((n-1)(n-2)),  A_ii = 0

    and ``<A, B> / (n (n-3))`` (:func:`centred_product`) equals the U form of
    :func:`centred_inner`.
    """
    n = ops.num_rows(a)
    if unbiased:
        r = ops.sum(a, axis=1, keepdims=True) / (n - 2)
        c = a - r - ops.transpose(r) + ops.sum(a) / ((n - 1) * (n - 2))
        return ops.zero_diagonal(c)
    r = ops.mean(a, axis=1, keepdims=True)
    return a - r - ops.transpose(r) + ops.mean(a)


def centred_product(ops: Ops, a_c, b_c, n, *, unbiased: bool):
    """``<A, B> / n^2`` (V) or ``<A, B> / (n (n-3))`` (U) of centred matrices."""
    s = ops.sum(a_c * b_c)
    return s / (n * (n - 3)) if unbiased else s / n**2


def gram_zero_tolerance(d: Any, eps: float) -> float:
    """Relative size below which ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` is rounding noise.

    A dot product of d terms carries a rounding error of about ``sqrt(d) eps``
    times the squared norms (measured: below ``0.6 sqrt(d) eps``), so squared
    distances under ``8 sqrt(d) eps (|x_i|^2 + |x_j|^2)`` are set to 0: repeated
    samples then sit at distance exactly 0 (and the square root gets no
    infinite slope).  For float64 and d = 3072 that resolves distances down to
    about 4e-7 of the norms.  ``d`` unknown (None) counts as 65536.
    """
    d = 65536 if d is None else max(int(d), 1)
    return 8.0 * math.sqrt(d) * eps


def _acc_eps(x) -> float:
    # accumulation dtypes are float64, or float32 where a device lacks float64
    return float(np.finfo(np.float64).eps) if "64" in str(x.dtype) else float(np.finfo(np.float32).eps)


#: rows whose column medians give the shift of :func:`centre_columns` (odd: a middle value exists)
_SHIFT_ROWS = 255


def centre_columns(ops: Ops, x):
    """Shift the columns by their medians over the first 255 rows (no gradient through the shift).

    Distances from the Gram identity lose ``eps |x|^2 / |x_i - x_j|^2`` of
    their relative accuracy, so the bulk of the samples should sit at the
    origin: a median is not dragged away by an outlier as the mean is.  A
    constant column becomes exactly zero (its distances exactly 0).  Every
    statistic here is translation invariant, so the shift changes nothing else.
    """
    return x - ops.column_median(x[:_SHIFT_ROWS])


#: numpy scales are powers of two in [2^-1000, 2^1000]: dividing by one is exact, and 2^1000 is a finite double
_MAX_EXPONENT = 1000


def max_abs(ops: Ops, x, *, axis: int | None = None, keepdims: bool = False):
    """The largest absolute entry of ``x`` (over ``axis``, or all entries), without gradient."""
    x = ops.stop_gradient(x)
    if ops.name == "torch":
        t = ops.t  # type: ignore[attr-defined]
        a = t.abs(x)
        return a.max() if axis is None else t.amax(a, dim=axis, keepdim=keepdims)
    if ops.name == "tensorflow":
        tf = ops.tf  # type: ignore[attr-defined]
        return tf.reduce_max(tf.abs(x), axis=axis, keepdims=keepdims)
    if ops.name == "jax":
        jnp = ops.np  # type: ignore[attr-defined]
        return jnp.max(jnp.abs(x), axis=axis, keepdims=keepdims)
    return np.max(np.abs(x), axis=axis, keepdims=keepdims)


def power_of_two_scale(m: Any) -> np.ndarray:
    """``2^k`` with ``m / 2^k`` in [0.5, 1) where ``m > 0`` (``k`` clipped to +-1000), 1 where ``m == 0``."""
    m = np.asarray(m, dtype=np.float64)
    k = np.clip(np.frexp(m)[1], -_MAX_EXPONENT, _MAX_EXPONENT)
    return np.where(m > 0, np.ldexp(1.0, k), 1.0)


def sample_scale(ops: Ops, x):
    """A positive scale ``s`` of the samples' spread, without gradient: ``x / s`` neither overflows nor underflows.

    ``s`` is the largest absolute deviation of an entry of the (n, d) matrix
    ``x`` from its column's median over the first 255 rows (the shift of
    :func:`centre_columns`), so the rows of ``x / s`` lie within distance
    ``2 sqrt(d)`` of each other: squared distances and their products stay far
    from the float64 limits whatever the units of ``x`` (1e-200 or 1e200).
    Every statistic that is scale invariant (dCor, HSIC with the median
    bandwidth, correlations) can then be computed from ``x / s``; the others
    are multiplied back by the matching power of ``s``.  For numpy ``s`` is a
    Python float, a power of two (division by it is exact); for a framework
    tensor a scalar tensor.  A constant ``x`` gets ``s = 1``.
    """
    if ops.name == "numpy":
        x = np.asarray(x, dtype=np.float64)
        med = np.median(x[:_SHIFT_ROWS], axis=0)
        # halves: the difference of two finite doubles can overflow, that of their halves cannot
        half = max(float(np.max(0.5 * x.max(axis=0) - 0.5 * med)), float(np.max(0.5 * med - 0.5 * x.min(axis=0))))
        return 2.0 * float(power_of_two_scale(half)) if half > 0 else 1.0
    s = max_abs(ops, x - ops.column_median(x[:_SHIFT_ROWS]))
    return ops.where(s > 0, s, ops.scalar(1.0, s))


def rescale(ops: Ops, x):
    """``(x / s, s)`` in the accumulation dtype, with ``s`` = :func:`sample_scale` (no gradient through s)."""
    x = ops.to_acc(x)
    s = sample_scale(ops, x)
    return (x * (1.0 / s) if ops.name == "numpy" else x / s), s


def pairwise_distances(ops: Ops, x, *, squared: bool = False):
    """Euclidean distance matrix of the rows of a float (n, d) matrix, in the accumulation dtype.

    Computed from the Gram matrix of the centred rows; squared distances within
    rounding of zero (:func:`gram_zero_tolerance`) are 0, the diagonal is
    exactly 0 and the square root has a finite (zero) gradient there.
    """
    x = centre_columns(ops, ops.to_acc(x))
    g = ops.matmul(x, ops.transpose(x))
    sq = ops.diag_part(g)
    t = ops.reshape(sq, (-1, 1)) + ops.reshape(sq, (1, -1))
    d2 = t - 2.0 * g
    tol = gram_zero_tolerance(ops.shape(x)[1], _acc_eps(x))
    # also zeroes the diagonal (t_ii = 2 g_ii exactly) and negative round-off
    d2 = ops.where(d2 > tol * t, d2, ops.scalar(0.0, d2))
    if squared:
        return d2
    return safe_sqrt(ops, d2)


def safe_sqrt(ops: Ops, v):
    """sqrt(max(v, 0)) with a zero (not NaN/inf) gradient at 0."""
    pos = v > 0
    return ops.where(pos, ops.sqrt(ops.where(pos, v, ops.scalar(1.0, v))), ops.scalar(0.0, v))


def in_units(ops: Ops, v, scales, *, root: bool, what: str):
    """A homogeneous statistic back in the inputs' units: ``v * prod(scales)``, or ``sqrt(v) * sqrt(prod(scales))``.

    numpy scales are powers of two, so the product is taken on the exponents
    (exact, and free of intermediate overflow); a value beyond the float64
    range raises a ValueError instead of returning inf.  Framework scales
    carry no gradient: for ``f(x) = s^k f(x / s)`` the gradient through
    ``x / s`` with ``s`` held fixed is the gradient of ``f``.
    """
    if ops.name == "numpy":
        e = sum(int(np.frexp(s)[1]) - 1 for s in scales)
        v = float(np.sqrt(max(float(v), 0.0))) if root else float(v)
        if root:
            if e % 2:
                v, e = v * math.sqrt(2.0), e - 1
            e //= 2
        with np.errstate(over="ignore", under="ignore"):
            out = np.ldexp(v, e)
        if not np.isfinite(out):
            raise ValueError(f"{what} exceeds the float64 range for inputs of this magnitude (about 2^{e} times "
                             "the value for unit-scale inputs): rescale x and z, or use the scale-free "
                             "correlation (distance_correlation, normalized=True)")
        return out
    log_s = sum(ops.log(s) for s in scales)
    if root:
        return safe_sqrt(ops, v) * ops.exp(0.5 * log_s)
    return ops.where(v == 0, ops.scalar(0.0, v), v * ops.exp(log_s))
