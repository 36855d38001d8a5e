"""Distance covariance/correlation and HSIC: one definition, every backend.

Both families are inner products of doubly centred pairwise matrices: distance
matrices ``a_ij = |x_i - x_j|`` for distance covariance (Szekely, Rizzo and
Bakirov 2007), kernel matrices ``K_ij = k(x_i, x_j)`` for HSIC (Gretton et al.
2005).  :func:`sift_core._pairwise.centred_inner` evaluates that inner product
from five sums of the two matrices, which lets the numpy path stream over blocks (O(n * block)
memory, :mod:`sift_core._dcov_numba`; O(n log n) for one-dimensional samples,
:mod:`sift_core._dcov_1d`).  Where the matrices are formed anyway (framework
tensors, small numpy input) they are centred explicitly
(:func:`sift_core._pairwise.centre_matrix`), which avoids the cancellation between the sums when
an outlier dominates them; both forms are exact and tested against each other.

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
from ._pairwise import (
    centre_columns,
    centre_matrix,
    centred_inner,
    centred_product,
    in_units,
    pairwise_distances,
    rescale,
    safe_sqrt,
    sample_scale,
)
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


def _distance_inners(ops: Ops, x, z, *, unbiased: bool, need: str):
    """Centred inner products (xz, xx, zz) of the distance matrices of ``x / s_x`` and ``z / s_z``, and the scales.

    ``need`` is "xz", "xx" or "all" (``z`` None for "xx").  Distances come
    from the samples divided by :func:`sift_core._pairwise.sample_scale`, so
    inputs in any units (1e-200 or 1e200) neither underflow nor overflow;
    the inner products are in the units ``s_x s_z`` (``s_x^2``, ``s_z^2``).
    Large numpy input goes through the numba paths.  Returns
    ``(inners, s_x, s_z)``.
    """
    n = ops.num_rows(x)
    if ops is NUMPY:
        sx = sample_scale(NUMPY, x)
        sz = sx if z is None else sample_scale(NUMPY, z)
        if n >= min(BLOCKED_MIN_N, FAST_1D_MIN_N):
            sums = _numpy_distance_sums(x, x if z is None else z, n, sx, sz)
            if sums is not None:
                # shifted distances a'_ij = a_ij - u_i - u_j, whose diagonal is -2 u_i
                diag = (-2.0 * sums[5], -2.0 * sums[6])
                return _inners_from_sums(sums[:5], n, unbiased=unbiased, diag=diag), sx, sz
        xs = x * (1.0 / sx)
        zs = None if z is None else z * (1.0 / sz)
    else:
        xs, sx = rescale(ops, x)
        zs, sz = (None, sx) if z is None else rescale(ops, z)
    a_c = centre_matrix(ops, pairwise_distances(ops, xs), unbiased=unbiased)
    b_c = a_c if zs is None else centre_matrix(ops, pairwise_distances(ops, zs), unbiased=unbiased)
    out = {}
    if need in ("xz", "all"):
        out["xz"] = centred_product(ops, a_c, b_c, n, unbiased=unbiased)
    if need in ("xx", "all"):
        out["xx"] = centred_product(ops, a_c, a_c, n, unbiased=unbiased)
    if need == "all":
        out["zz"] = centred_product(ops, b_c, b_c, n, unbiased=unbiased)
    return out, sx, sz


def _numpy_distance_sums(x, z, n, sx: float, sz: float):
    """Shifted sums ``(S_ab, S_aa, S_bb, r_a, r_b, u, v)`` of ``x / sx``, ``z / sz`` from a numba path, or None.

    None means the dense path.  See :func:`sift_core._dcov_numba.distance_sums` (``shifted=True``).
    """
    if x.shape[1] == 1 and z.shape[1] == 1 and n >= FAST_1D_MIN_N:
        from ._dcov_1d import distance_sums_1d

        return distance_sums_1d(x[:, 0] * (1.0 / sx), z[:, 0] * (1.0 / sz), shifted=True)
    if n >= BLOCKED_MIN_N:
        from ._dcov_numba import distance_sums

        return distance_sums(x, z, shifted=True, scales=(sx, sz))
    return None


def _inners_from_sums(sums, n, *, unbiased: bool, diag=None):
    """Centred inner products from ``(S_ab, S_aa, S_bb, r_a, r_b)``.

    ``diag``: the diagonals ``(a_ii, b_ii)`` of matrices whose off-diagonal
    sums were given (shifted distances, shifted kernels); the V-statistic
    counts them, the U-statistic ignores every diagonal.
    """
    s_ab, s_aa, s_bb, ra, rb = sums
    if diag is not None and not unbiased:
        da, db = diag
        s_ab, s_aa, s_bb = s_ab + da @ db, s_aa + da @ da, s_bb + db @ db
        ra, rb = ra + da, rb + db
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
    ``dCov^2(a x, b z) = |a b| dCov^2(x, z)``: the distances are formed at a
    unit scale and the result multiplied back (a ValueError where it leaves
    the float64 range).

    Accepts numpy arrays, torch tensors, TensorFlow/Keras tensors and JAX arrays
    and returns the same kind (a scalar), differentiable by that framework.
    """
    _check_flag(unbiased, "unbiased")
    _check_flag(squared, "squared")
    ops, x, z = _prepare(x, z, _min_n(unbiased))
    inner, sx, sz = _distance_inners(ops, x, z, unbiased=unbiased, need="xz")
    v = in_units(ops, inner["xz"], (sx, sz), root=not squared, what="the distance covariance")
    return _finish(ops, v, x)


def distance_variance(x: Any, *, unbiased: bool = False, squared: bool = False):
    """Sample distance variance: :func:`distance_covariance` of ``x`` with itself."""
    _check_flag(unbiased, "unbiased")
    _check_flag(squared, "squared")
    ops = get_ops(x)
    x = as_samples(ops, x, "x", min_n=_min_n(unbiased))
    inner, sx, _ = _distance_inners(ops, x, None, unbiased=unbiased, need="xx")
    v = in_units(ops, inner["xx"], (sx, sx), root=not squared, what="the distance variance")
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
    transform of ``x`` and is strongly biased upward in high dimension: for
    independent standard Gaussian x and z of d = 3,072 dimensions each it
    measured 0.997 (dCor^2 0.995) at n = 64 and 0.990 (dCor^2 0.980) at
    n = 256 (means of 10 draws).  ``unbiased=True`` is the bias-corrected
    dCor^2 of Szekely and Rizzo (2014), near 0 for independent samples and
    possibly slightly negative (on the same data: -0.013, range -0.07 to
    0.02, at n = 64; 0.002 at n = 256); ``squared=False`` returns
    ``sqrt(max(value, 0))``.  A constant variable (zero distance variance)
    gives 0, not NaN.  The value does not depend on the units of x or z:
    each is divided by :func:`sift_core._pairwise.sample_scale` before the
    distances are formed, so inputs of magnitude 1e-200 or 1e200 give the
    same dCor as at 1.  The SiftFunnel objective uses
    ``squared=True, unbiased=False`` as the authors' code does.
    """
    _check_flag(unbiased, "unbiased")
    _check_flag(squared, "squared")
    ops, x, z = _prepare(x, z, _min_n(unbiased))
    v, _, _ = _distance_inners(ops, x, z, unbiased=unbiased, need="all")
    r = _ratio(ops, v["xz"], v["xx"], v["zz"])
    if not squared:
        r = safe_sqrt(ops, r)
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
        t = ops.t  # type: ignore[attr-defined]
        iu = t.triu_indices(n, n, 1, device=dist.device)
        v = dist[iu[0], iu[1]]
        return t.quantile(v, 0.5) if v.numel() <= 16_000_000 else v.median()
    if ops.name == "tensorflow":
        tf = ops.tf  # type: ignore[attr-defined]
        ones = tf.ones_like(dist)
        mask = tf.linalg.band_part(ones, 0, -1) - tf.linalg.band_part(ones, 0, 0)
        v = tf.sort(tf.boolean_mask(dist, mask > 0))
        m = tf.size(v)
        return (v[(m - 1) // 2] + v[m // 2]) / 2
    jnp = ops.np  # type: ignore[attr-defined]
    iu = jnp.triu_indices(n, 1)
    return jnp.median(dist[iu])


def kernel_shift(ops: Ops, mean_d2, sigma):
    """The constant ``c = exp(-mean_d2 / (2 sigma^2))`` subtracted from a Gaussian kernel matrix.

    Centring (double or U) removes a constant matrix, so ``K - c`` gives the
    same HSIC for any c.  Taking K at the mean off-diagonal squared distance
    keeps the entries at the scale of their variation: a constant variable
    gives exactly 0 (c = 1; rounding noise would otherwise be blown up by
    normalisation), and a kernel near the identity (tiny bandwidth) keeps its
    tiny entries (c ~ 0).  No gradient flows through c; none is needed.
    """
    with np.errstate(over="ignore"):  # a bandwidth far below the distances: exp(-inf) = 0 is the value
        return ops.exp(-0.5 * (ops.stop_gradient(mean_d2) / sigma) / sigma)


def _kernel_matrix(ops: Ops, x, scale, kernel: str, bandwidth, *, zero_diagonal: bool):
    """The kernel matrix of the rescaled samples ``x = x_orig / scale``.

    ``x_c x_c'`` (linear, in units of ``scale^2``) or ``exp(-d^2 / (2 sigma^2)) - c``
    (:func:`kernel_shift`) with ``sigma`` the median of these distances or
    ``bandwidth / scale``: the same matrix as for the unscaled samples.
    """
    if kernel == "linear":
        x = centre_columns(ops, ops.to_acc(x))
        k = ops.matmul(x, ops.transpose(x))
    else:
        d2 = pairwise_distances(ops, x, squared=True)
        if bandwidth == "median":
            sigma = _median_bandwidth(ops, d2)
        else:
            sigma = ops.scalar(float(bandwidth), d2) / scale
        n = ops.num_rows(d2)
        c = kernel_shift(ops, ops.sum(d2) / (n * (n - 1)), sigma)
        with np.errstate(over="ignore"):  # sigma^2 alone could underflow; an overflow here means exp(-inf) = 0
            k = ops.exp(-0.5 * (d2 / sigma) / sigma) - c
    return ops.zero_diagonal(k) if zero_diagonal else k


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

    Distances are formed from the samples divided by a scale of their own
    (:func:`sift_core._pairwise.sample_scale`, a numeric bandwidth likewise),
    so HSIC with the median bandwidth and CKA do not depend on the units of
    x and z, down to 1e-200 and up to 1e200; the unnormalised linear-kernel
    HSIC scales as ``s_x^2 s_z^2`` and raises a ValueError where that leaves
    the float64 range.
    """
    check_choice(kernel, "kernel", ("gaussian", "linear"))
    _check_bandwidth(bandwidth)
    _check_flag(unbiased, "unbiased")
    _check_flag(normalized, "normalized")
    ops, x, z = _prepare(x, z, _min_n(unbiased))
    like = x
    n = ops.num_rows(x)
    if ops is NUMPY:
        sx, sz = sample_scale(NUMPY, x), sample_scale(NUMPY, z)
    else:
        (x, sx), (z, sz) = rescale(ops, x), rescale(ops, z)
    # the linear kernel's HSIC is in units of sx^2 sz^2; Gaussian kernels do not depend on the units
    units = (sx, sx, sz, sz) if kernel == "linear" and not normalized else None
    if ops is NUMPY and kernel == "gaussian" and n >= BLOCKED_MIN_N:
        from ._dcov_numba import gaussian_kernel_sums

        sums = gaussian_kernel_sums(x, z, bandwidth, scales=(sx, sz))
        inner = _inners_from_sums(sums[:5], n, unbiased=unbiased, diag=sums[5:])
        v = inner["xz"]
        if normalized:
            v = _ratio(NUMPY, v, inner["xx"], inner["zz"])
        return _finish(ops, v, like)
    if ops is NUMPY:
        x, z = x * (1.0 / sx), z * (1.0 / sz)
    k_c, l_c = (
        centre_matrix(ops, _kernel_matrix(ops, u, s, kernel, bandwidth, zero_diagonal=unbiased), unbiased=unbiased)
        for u, s in ((x, sx), (z, sz))
    )
    v = centred_product(ops, k_c, l_c, n, unbiased=unbiased)
    if normalized:
        vk = centred_product(ops, k_c, k_c, n, unbiased=unbiased)
        vl = centred_product(ops, l_c, l_c, n, unbiased=unbiased)
        v = _ratio(ops, v, vk, vl)
    elif units is not None:
        v = in_units(ops, v, units, root=False, what="the linear-kernel HSIC")
    return _finish(ops, v, like)
