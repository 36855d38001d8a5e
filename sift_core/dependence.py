"""Distance covariance/correlation and HSIC: one definition, every backend.

Both families are inner products of doubly centred pairwise matrices: distance
matrices ``a_ij = |x_i - x_j|`` for distance covariance (Szekely, Rizzo and
Bakirov 2007), kernel matrices ``K_ij = k(x_i, x_j)`` for HSIC (Gretton et al.
2005).  :func:`centred_inner` evaluates that inner product from five sums of the
two matrices, which lets the numpy path stream over blocks (O(n * block)
memory, :mod:`sift_core._dcov_numba`; O(n log n) for one-dimensional samples,
:mod:`sift_core._dcov_1d`) and every framework path stay differentiable.

Why Euclidean and not squared distances: with ``a_ij = |x_i - x_j|^2`` the
double-centred matrix equals ``-2 X_c X_c^T`` and the statistic collapses to
``4 |Cov(x, z)|_F^2``, a *linear* covariance that is zero for many dependent
pairs (``z = x^2`` with symmetric x).  Distance covariance characterises
independence only for exponents in (0, 2); we use exponent 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._backend import NUMPY, Ops, get_ops
from ._validation import as_samples, check_choice, check_positive, check_same_n

__all__ = [
    "distance_covariance",
    "distance_variance",
    "distance_correlation",
    "hsic",
    "centred_inner",
    "pairwise_distances",
]

#: numpy inputs at or above this many samples use the numba paths
#: (below it the dense formula is as fast and the kernels need not compile)
BLOCKED_MIN_N = 256
#: one-dimensional numpy inputs at or above this size use the O(n log n) path
FAST_1D_MIN_N = 2048


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


def gram_zero_tolerance(d: Any, eps: float) -> float:
    """Relative size below which ``|x_i|^2 + |x_j|^2 - 2 x_i.x_j`` is rounding noise.

    A dot product of d terms carries a rounding error of about ``sqrt(d) eps``
    times the squared norms (measured: below ``0.6 sqrt(d) eps``), so squared
    distances under ``8 sqrt(d) eps (|x_i|^2 + |x_j|^2)`` are set to 0: repeated
    samples then sit at distance exactly 0 (and the square root gets no
    infinite slope).  For float64 and d = 3072 that resolves distances down to
    about 5e-7 of the norms.  ``d`` unknown (None) counts as 65536.
    """
    d = 65536 if d is None else max(int(d), 1)
    return 8.0 * math.sqrt(d) * eps


def _acc_eps(x) -> float:
    # accumulation dtypes are float64, or float32 where a device lacks float64
    return float(np.finfo(np.float64).eps) if "64" in str(x.dtype) else float(np.finfo(np.float32).eps)


def centre_columns(ops: Ops, x):
    """Subtract the first row, then the column means (translation leaves every statistic unchanged).

    Shifting by a sample first makes a constant column exactly zero, so a
    constant variable has distances (and correlations) of exactly 0, and it
    brings data far from the origin near it before the Gram products.
    """
    x = x - x[:1]
    return x - ops.mean(x, axis=0, keepdims=True)


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
    return _safe_sqrt(ops, d2)


def _safe_sqrt(ops: Ops, v):
    """sqrt(max(v, 0)) with a zero (not NaN/inf) gradient at 0."""
    pos = v > 0
    return ops.where(pos, ops.sqrt(ops.where(pos, v, ops.scalar(1.0, v))), ops.scalar(0.0, v))


def _sums(ops: Ops, a, b):
    return ops.sum(a * b), ops.sum(a, axis=1), ops.sum(b, axis=1)


def _distance_inners(ops: Ops, x, z, *, unbiased: bool, need: str):
    """Centred inner products (xz, xx, zz) of the distance matrices.

    ``need`` is "xz", "xx" or "all".  numpy input goes through the fast paths.
    """
    n = ops.num_rows(x)
    if ops is NUMPY:
        return _numpy_distance_inners(x, z, n, unbiased=unbiased)
    a = pairwise_distances(ops, x)
    b = a if z is None else pairwise_distances(ops, z)
    out = {}
    if need in ("xz", "all"):
        s, ra, rb = _sums(ops, a, b)
        out["xz"] = centred_inner(ops, s, ra, rb, n, unbiased=unbiased)
    if need in ("xx", "all"):
        s, ra, _ = _sums(ops, a, a)
        out["xx"] = centred_inner(ops, s, ra, ra, n, unbiased=unbiased)
    if need == "all":
        s, rb, _ = _sums(ops, b, b)
        out["zz"] = centred_inner(ops, s, rb, rb, n, unbiased=unbiased)
    return out


def distance_sums_dense(x: np.ndarray, z: np.ndarray):
    """``(S_ab, S_aa, S_bb, r_a, r_b)`` from the full distance matrices (small n)."""
    a = pairwise_distances(NUMPY, x)
    b = pairwise_distances(NUMPY, z)
    return np.sum(a * b), np.sum(a * a), np.sum(b * b), a.sum(axis=1), b.sum(axis=1)


def _numpy_distance_inners(x, z, n, *, unbiased: bool):
    z = x if z is None else z
    if x.shape[1] == 1 and z.shape[1] == 1 and n >= FAST_1D_MIN_N:
        from ._dcov_1d import distance_sums_1d

        s_ab, s_aa, s_bb, ra, rb = distance_sums_1d(x[:, 0], z[:, 0])
    elif n >= BLOCKED_MIN_N:
        from ._dcov_numba import distance_sums

        s_ab, s_aa, s_bb, ra, rb = distance_sums(x, z)
    else:
        s_ab, s_aa, s_bb, ra, rb = distance_sums_dense(x, z)
    return {
        "xz": centred_inner(NUMPY, s_ab, ra, rb, n, unbiased=unbiased),
        "xx": centred_inner(NUMPY, s_aa, ra, ra, n, unbiased=unbiased),
        "zz": centred_inner(NUMPY, s_bb, rb, rb, n, unbiased=unbiased),
    }


def _prepare(x, z, min_n: int):
    ops = get_ops(x, z)
    x = as_samples(ops, x, "x", min_n=min_n)
    z = as_samples(ops, z, "z", min_n=min_n)
    check_same_n(ops, x, z)
    return ops, x, z


def _finish(ops: Ops, value, like):
    if ops is NUMPY:
        return np.float64(value)
    return ops.cast_like(value, like)


def _min_n(unbiased: bool) -> int:
    return 4 if unbiased else 2


def _check_flag(value: Any, name: str) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False; got {value!r}")


def distance_covariance(x: Any, z: Any, *, unbiased: bool = False, squared: bool = False):
    r"""Sample distance covariance of ``x`` (n, ...) and ``z`` (n, ...).

    .. math::
        \mathrm{dCov}^2_n(x, z) = \frac{1}{n^2} \sum_{ij} A_{ij} B_{ij}

    with ``A``, ``B`` the doubly centred Euclidean distance matrices of the
    flattened samples (Szekely, Rizzo and Bakirov 2007).  ``unbiased=True``
    uses U-centring (Szekely and Rizzo 2014): unbiased for the population
    value, and it can be slightly negative; ``squared=False`` then returns
    ``sqrt(max(dCov^2, 0))``.  Needs n >= 2 (n >= 4 unbiased).

    Accepts numpy arrays, torch tensors, TensorFlow/Keras tensors and JAX arrays
    and returns the same kind (a scalar), differentiable by that framework.
    """
    _check_flag(unbiased, "unbiased")
    _check_flag(squared, "squared")
    ops, x, z = _prepare(x, z, _min_n(unbiased))
    v = _distance_inners(ops, x, z, unbiased=unbiased, need="xz")["xz"]
    if not squared:
        v = _safe_sqrt(ops, v)
    return _finish(ops, v, x)


def distance_variance(x: Any, *, unbiased: bool = False, squared: bool = False):
    """Sample distance variance: :func:`distance_covariance` of ``x`` with itself."""
    _check_flag(unbiased, "unbiased")
    _check_flag(squared, "squared")
    ops = get_ops(x)
    x = as_samples(ops, x, "x", min_n=_min_n(unbiased))
    v = _distance_inners(ops, x, None, unbiased=unbiased, need="xx")["xx"]
    if not squared:
        v = _safe_sqrt(ops, v)
    return _finish(ops, v, x)


def _ratio(ops: Ops, num, vx, vz):
    """num / sqrt(vx vz) clipped to [-1, 1]; 0 where a variance is <= 0 (a constant variable)."""
    pos = (vx > 0) & (vz > 0)
    den = ops.where(pos, vx * vz, ops.scalar(1.0, vx))
    r = ops.where(pos, num / ops.sqrt(den), ops.scalar(0.0, vx))
    return ops.clip(r, -1.0, 1.0)


def distance_correlation(x: Any, z: Any, *, unbiased: bool = False, squared: bool = False):
    r"""Sample distance correlation of ``x`` (n, ...) and ``z`` (n, ...).

    .. math::
        \mathrm{dCor}^2(x, z) = \frac{\mathrm{dCov}^2(x, z)}
                                     {\sqrt{\mathrm{dVar}^2(x)\,\mathrm{dVar}^2(z)}}

    The V-statistic (default) lies in [0, 1], is 1 when ``z`` is a similarity
    transform of ``x`` and is biased upward in high dimension (about 0.86 for
    independent data at n = 64 with thousands of dimensions).  ``unbiased=True``
    is the bias-corrected dCor^2 of Szekely and Rizzo (2014), near 0 for
    independent samples and possibly slightly negative; ``squared=False``
    returns ``sqrt(max(value, 0))``.  A constant variable (zero distance
    variance) gives 0, not NaN.  The SiftFunnel objective uses
    ``squared=True, unbiased=False`` as the authors' code does.
    """
    _check_flag(unbiased, "unbiased")
    _check_flag(squared, "squared")
    ops, x, z = _prepare(x, z, _min_n(unbiased))
    v = _distance_inners(ops, x, z, unbiased=unbiased, need="all")
    r = _ratio(ops, v["xz"], v["xx"], v["zz"])
    if not squared:
        r = _safe_sqrt(ops, r)
    return _finish(ops, r, x)


# --------------------------------------------------------------------------- HSIC


def bandwidth_from_distances(dist: np.ndarray) -> np.float64:
    """Median heuristic on the off-diagonal pairwise distances of one variable (numpy).

    If most pairs coincide the median is 0; then the mean of the positive
    distances is used, and 1 if all are 0.
    """
    med = np.median(dist) if dist.size else 0.0
    if med <= 0:
        pos = dist[dist > 0]
        med = pos.mean() if pos.size else 1.0
    return np.float64(med)


def _median_bandwidth(ops: Ops, d2):
    """Median heuristic: the median of the off-diagonal pairwise distances.

    Each variable gets its own bandwidth from its own distances (Gretton et al.
    2005/2008), so that x and z of very different scales both get informative
    kernels.  No gradient flows through it.  Fallbacks as
    :func:`bandwidth_from_distances`.
    """
    d2 = ops.stop_gradient(d2)
    if ops is NUMPY:
        iu = np.triu_indices(d2.shape[0], 1)
        return bandwidth_from_distances(np.sqrt(d2[iu]))
    dist = ops.sqrt(d2)
    n = ops.num_rows(d2)
    med = _offdiag_median(ops, dist, n)
    pos = ops.sum(ops.where(dist > 0, ops.scalar(1.0, dist), ops.scalar(0.0, dist)))
    mean_pos = ops.sum(dist) / ops.maximum(pos, 1.0)
    return ops.where(med > 0, med, ops.where(mean_pos > 0, mean_pos, ops.scalar(1.0, dist)))


def _offdiag_median(ops: Ops, dist, n):
    """Median of the strict upper triangle (numpy's definition: mean of the two middle values)."""
    if ops.name == "torch":
        t = ops.t
        iu = t.triu_indices(n, n, 1, device=dist.device)
        v = dist[iu[0], iu[1]]
        return t.quantile(v, 0.5) if v.numel() <= 16_000_000 else v.median()
    if ops.name == "tensorflow":
        tf = ops.tf
        ones = tf.ones_like(dist)
        mask = tf.linalg.band_part(ones, 0, -1) - tf.linalg.band_part(ones, 0, 0)
        v = tf.sort(tf.boolean_mask(dist, mask > 0))
        m = tf.size(v)
        return (v[(m - 1) // 2] + v[m // 2]) / 2
    jnp = ops.np
    iu = jnp.triu_indices(n, 1)
    return jnp.median(dist[iu])


def _kernel_matrix(ops: Ops, x, kernel: str, bandwidth):
    if kernel == "linear":
        x = centre_columns(ops, ops.to_acc(x))
        return ops.matmul(x, ops.transpose(x))
    d2 = pairwise_distances(ops, x, squared=True)
    sigma = _median_bandwidth(ops, d2) if bandwidth == "median" else ops.scalar(float(bandwidth), d2)
    return ops.exp(-d2 / (2.0 * sigma * sigma))


def _check_bandwidth(bandwidth: Any) -> None:
    if isinstance(bandwidth, str):
        if bandwidth != "median":
            raise ValueError(f"bandwidth must be 'median' or a positive number; got {bandwidth!r}")
        return
    check_positive(bandwidth, "bandwidth")
    if not math.isfinite(bandwidth):
        raise ValueError(f"bandwidth must be finite; got {bandwidth!r}")


def hsic(
    x: Any,
    z: Any,
    *,
    kernel: str = "gaussian",
    bandwidth: Any = "median",
    unbiased: bool = False,
    normalized: bool = False,
):
    r"""Hilbert-Schmidt independence criterion between ``x`` (n, ...) and ``z`` (n, ...).

    Biased (V-statistic) estimator, with ``H = I - 11'/n``:

    .. math:: \mathrm{HSIC}_b = \frac{1}{n^2} \mathrm{tr}(K H L H)

    (Gretton et al. 2005 divide by (n-1)^2 instead; the two differ by the
    factor (n/(n-1))^2.)  ``unbiased=True`` gives the unbiased estimator of
    Song et al. (2012), which needs n >= 4 and can be slightly negative.
    ``normalized=True`` returns ``HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))``
    (centred kernel alignment, CKA), 0 if either variable is constant.

    Parameters
    ----------
    kernel : {"gaussian", "linear"}
        ``exp(-|u - v|^2 / (2 sigma^2))`` or ``u.v``.
    bandwidth : "median" or float
        Gaussian ``sigma``; "median" takes, for each variable separately, the
        median of its pairwise distances (no gradient through it).  A number
        is used for both variables.

    numpy input with n >= 256 and the Gaussian kernel runs in numba over the
    n(n-1)/2 pairs (:func:`sift_core._dcov_numba.gaussian_kernel_sums`).
    """
    check_choice(kernel, "kernel", ("gaussian", "linear"))
    _check_bandwidth(bandwidth)
    _check_flag(unbiased, "unbiased")
    _check_flag(normalized, "normalized")
    ops, x, z = _prepare(x, z, _min_n(unbiased))
    n = ops.num_rows(x)
    if ops is NUMPY and kernel == "gaussian" and n >= BLOCKED_MIN_N:
        from ._dcov_numba import gaussian_kernel_sums

        s, s_kk, s_ll, rk, rl = gaussian_kernel_sums(x, z, bandwidth, unbiased=unbiased)
    else:
        k = _kernel_matrix(ops, x, kernel, bandwidth)
        l_ = _kernel_matrix(ops, z, kernel, bandwidth)
        if unbiased:
            k = ops.zero_diagonal(k)
            l_ = ops.zero_diagonal(l_)
        s, rk, rl = _sums(ops, k, l_)
        s_kk = ops.sum(k * k) if normalized else None
        s_ll = ops.sum(l_ * l_) if normalized else None
    v = centred_inner(ops, s, rk, rl, n, unbiased=unbiased)
    if normalized:
        vk = centred_inner(ops, s_kk, rk, rk, n, unbiased=unbiased)
        vl = centred_inner(ops, s_ll, rl, rl, n, unbiased=unbiased)
        v = _ratio(ops, v, vk, vl)
    return _finish(ops, v, x)
