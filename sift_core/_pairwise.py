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
    "centre_columns",
    "pairwise_distances",
    "safe_sqrt",
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
