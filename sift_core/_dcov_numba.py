"""Blocked pairwise statistics for numpy input: BLAS distances, numba sums.

The distance covariance of x and z (V- and U-statistics alike) depends on the
distance matrices ``a`` and ``b`` only through five sums (see
:func:`sift_core.dependence.centred_inner`)::

    S_ab = sum_ij a_ij b_ij,  S_aa,  S_bb,  row sums r_a = a 1,  r_b = b 1

so they can be accumulated block by block without holding an n x n matrix.
Distance blocks come from Gram products (one BLAS call per block):
``|x_i - x_j|^2 = |x_i|^2 + |x_j|^2 - 2 x_i.x_j``.  That identity cancels badly
when the data sit far from the origin, so the columns are centred first (the
statistics are translation invariant), and squared distances within rounding
of zero are set to zero (:func:`sift_core.dependence.gram_zero_tolerance`), so
that repeated samples are exactly at distance 0.  Only the upper triangle is
visited.

HSIC with a Gaussian kernel needs the median of the pairwise distances, so
:func:`gaussian_kernel_sums` keeps the n(n-1)/2 squared distances of each
variable (O(n^2) memory, half of a dense matrix), then sums the kernel values
the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._backend import NUMPY
from .dependence import bandwidth_from_distances, centre_columns, gram_zero_tolerance

__all__ = ["distance_sums", "gaussian_kernel_sums"]

_EPS = float(np.finfo(np.float64).eps)

# Reassociation lets LLVM vectorise the reductions and the square roots; no
# flag that assumes away NaN/inf is set (inputs are checked to be finite).
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _distance_row(gx, gz, sqx, sqz, ux, uz, sxi, szi, uxi, uzi, tolx, tolz, ra, rb):  # pragma: no cover - compiled
    """One row i against the columns j > i given as 1-D slices (contiguous: LLVM vectorises it).

    Sums ``a_ij - u_i - u_j`` (and the same for b): ``u = 0`` gives the
    distances themselves, :func:`distance_sums` ``shifted=True`` the norms.
    """
    ab = 0.0
    aa = 0.0
    bb = 0.0
    ra_i = 0.0
    rb_i = 0.0
    for c in range(gx.shape[0]):
        tx = sxi + sqx[c]
        tz = szi + sqz[c]
        dx2 = tx - 2.0 * gx[c]
        dz2 = tz - 2.0 * gz[c]
        dx2 = dx2 if dx2 > tolx * tx else 0.0
        dz2 = dz2 if dz2 > tolz * tz else 0.0
        dx = np.sqrt(dx2) - uxi - ux[c]
        dz = np.sqrt(dz2) - uzi - uz[c]
        ab += dx * dz
        aa += dx * dx
        bb += dz * dz
        ra_i += dx
        rb_i += dz
        ra[c] += dx
        rb[c] += dz
    return ab, aa, bb, ra_i, rb_i


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _accumulate(gx, gz, sqx, sqz, ux, uz, tolx, tolz, i0, ra, rb, acc):  # pragma: no cover - compiled
    """Add the pairs (i, j), i < j, of the rows ``i0 .. i0 + m`` to the sums.

    ``gx[r, c]`` is ``x_{i0+r} . x_{i0+c}`` (the block's columns start at row i0).
    """
    m, k = gx.shape
    s_ab = 0.0
    s_aa = 0.0
    s_bb = 0.0
    end = i0 + k
    for r in range(m):
        i = i0 + r
        ab, aa, bb, ra_i, rb_i = _distance_row(
            gx[r, r + 1 :], gz[r, r + 1 :], sqx[i + 1 : end], sqz[i + 1 : end], ux[i + 1 : end], uz[i + 1 : end],
            sqx[i], sqz[i], ux[i], uz[i], tolx, tolz, ra[i + 1 : end], rb[i + 1 : end],
        )
        ra[i] += ra_i
        rb[i] += rb_i
        s_ab += ab
        s_aa += aa
        s_bb += bb
    # each unordered pair stands for (i, j) and (j, i)
    acc[0] += 2.0 * s_ab
    acc[1] += 2.0 * s_aa
    acc[2] += 2.0 * s_bb


def _block_rows(n: int, budget_bytes: int) -> int:
    # two (block x n) float64 Gram blocks must fit the budget
    rows = budget_bytes // max(1, 2 * 8 * n)
    return int(max(16, min(n, rows)))


def distance_sums(x: np.ndarray, z: np.ndarray, *, block_bytes: int = 64 * 2**20, shifted: bool = False):
    """Sums of the Euclidean distance matrices of ``x`` and ``z`` (rows are samples).

    Returns ``(S_ab, S_aa, S_bb, r_a, r_b)`` as float64 (over all ordered pairs,
    ``r`` the row sums), computed in O(n * block) memory: the Gram blocks of at
    most ``block_bytes`` together (at least 16 rows each).

    ``shifted=True`` returns the same sums of the off-diagonal matrices
    ``a'_ij = a_ij - u_i - u_j`` (``i != j``, zero diagonal), followed by ``u``
    and ``v``: ``u_i = |x_i - m|`` is the distance to the column-median point
    ``m`` (:func:`sift_core.dependence.centre_columns`).  Centring removes such
    additive terms exactly, so the statistic is unchanged, but an outlier's
    large distances, which double centring would cancel, never enter the sums
    (see :func:`sift_core.dependence.centred_inner` for how the V-statistic
    adds the diagonal ``a'_ii = -2 u_i`` back).
    """
    x = np.asarray(x, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if x.ndim != 2 or z.ndim != 2 or x.shape[0] != z.shape[0]:
        raise ValueError(f"x and z must be (n, d) and (n, q) arrays; got shapes {x.shape} and {z.shape}")
    n = x.shape[0]
    x = np.ascontiguousarray(centre_columns(NUMPY, x))
    z = np.ascontiguousarray(centre_columns(NUMPY, z))
    sqx = np.einsum("ij,ij->i", x, x)
    sqz = np.einsum("ij,ij->i", z, z)
    ux = np.sqrt(sqx) if shifted else np.zeros(n)
    uz = np.sqrt(sqz) if shifted else np.zeros(n)
    tolx = gram_zero_tolerance(x.shape[1], _EPS)
    tolz = gram_zero_tolerance(z.shape[1], _EPS)
    ra = np.zeros(n)
    rb = np.zeros(n)
    acc = np.zeros(3)
    block = _block_rows(n, block_bytes)
    if block >= n:
        # one block: x @ x.T lets BLAS use the symmetric rank-k update
        _accumulate(x @ x.T, z @ z.T, sqx, sqz, ux, uz, tolx, tolz, 0, ra, rb, acc)
    else:
        for i0 in range(0, n, block):
            i1 = min(n, i0 + block)
            gx = x[i0:i1] @ x[i0:].T
            gz = z[i0:i1] @ z[i0:].T
            _accumulate(gx, gz, sqx, sqz, ux, uz, tolx, tolz, i0, ra, rb, acc)
    if shifted:
        return acc[0], acc[1], acc[2], ra, rb, ux, uz
    return acc[0], acc[1], acc[2], ra, rb


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _sq_distance_row(g, sq, sqi, tol, out):  # pragma: no cover - compiled
    for c in range(g.shape[0]):
        t = sqi + sq[c]
        d2 = t - 2.0 * g[c]
        out[c] = d2 if d2 > tol * t else 0.0


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _upper_sq_distances(g, sq, tol, i0, out):  # pragma: no cover - compiled
    """Write the squared distances of pairs (i, j), i < j, of rows i0.. to the flat upper triangle."""
    m, k = g.shape
    n = sq.shape[0]
    end = i0 + k
    for r in range(m):
        i = i0 + r
        # the pairs (i, j > i) follow the (n-1) + (n-2) + ... + (n-i) pairs of the earlier rows
        start = i * n - i * (i + 1) // 2
        _sq_distance_row(g[r, r + 1 :], sq[i + 1 : end], sq[i], tol, out[start : start + end - i - 1])


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _kernel_row(k, l, rk, rl):  # pragma: no cover - compiled
    kl = 0.0
    kk = 0.0
    ll = 0.0
    rk_i = 0.0
    rl_i = 0.0
    for c in range(k.shape[0]):
        kl += k[c] * l[c]
        kk += k[c] * k[c]
        ll += l[c] * l[c]
        rk_i += k[c]
        rl_i += l[c]
        rk[c] += k[c]
        rl[c] += l[c]
    return kl, kk, ll, rk_i, rl_i


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _upper_sums(kf, lf, rk, rl, acc):  # pragma: no cover - compiled
    """Sums over i < j of k*l, k*k, l*l and row sums, for flat upper triangles ``kf``, ``lf``."""
    n = rk.shape[0]
    s_kl = 0.0
    s_kk = 0.0
    s_ll = 0.0
    for i in range(n):
        start = i * n - i * (i + 1) // 2
        stop = start + n - i - 1
        kl, kk, ll, rk_i, rl_i = _kernel_row(kf[start:stop], lf[start:stop], rk[i + 1 :], rl[i + 1 :])
        rk[i] += rk_i
        rl[i] += rl_i
        s_kl += kl
        s_kk += kk
        s_ll += ll
    acc[0] += 2.0 * s_kl
    acc[1] += 2.0 * s_kk
    acc[2] += 2.0 * s_ll


def upper_sq_distances(x: np.ndarray, *, block_bytes: int = 64 * 2**20) -> np.ndarray:
    """Squared Euclidean distances of the pairs i < j of the rows of ``x``, row by row (flat)."""
    x = np.ascontiguousarray(centre_columns(NUMPY, np.asarray(x, dtype=np.float64)))
    n = x.shape[0]
    sq = np.einsum("ij,ij->i", x, x)
    tol = gram_zero_tolerance(x.shape[1], _EPS)
    out = np.empty(n * (n - 1) // 2)
    block = max(16, min(n, block_bytes // max(1, 8 * n)))
    for i0 in range(0, n, block):
        _upper_sq_distances(x[i0 : i0 + block] @ x[i0:].T, sq, tol, i0, out)
    return out


def _median_from_sq(d2: np.ndarray) -> np.float64:
    """Median heuristic from squared distances: sqrt is monotone, so select before the root."""
    m = d2.shape[0]
    if m == 0:
        return bandwidth_from_distances(d2)
    lo, hi = (m - 1) // 2, m // 2
    part = np.partition(d2, (lo, hi))
    med = (np.sqrt(part[lo]) + np.sqrt(part[hi])) / 2.0
    if med > 0:
        return np.float64(med)
    return bandwidth_from_distances(np.sqrt(d2))


def gaussian_kernel_sums(x: np.ndarray, z: np.ndarray, bandwidth):
    """``(S_kl, S_kk, S_ll, r_k, r_l)`` of the shifted Gaussian kernel matrices ``K - 1`` of ``x`` and ``z``.

    ``K_ij - 1 = expm1(-|x_i - x_j|^2 / (2 sigma^2))`` with ``sigma`` the
    number ``bandwidth`` or, for "median", each variable's median pairwise
    distance (:func:`sift_core.dependence.bandwidth_from_distances`).  The
    diagonal of ``K - 1`` is 0, so the sums serve the biased and the unbiased
    HSIC alike (centring removes the constant: see
    :func:`sift_core.dependence.hsic`).
    """
    n = x.shape[0]
    flats = []
    for v in (x, z):
        d2 = upper_sq_distances(v)
        sigma = _median_from_sq(d2) if isinstance(bandwidth, str) else float(bandwidth)
        d2 *= -1.0 / (2.0 * sigma * sigma)
        flats.append(np.expm1(d2, out=d2))
    rk = np.zeros(n)
    rl = np.zeros(n)
    acc = np.zeros(3)
    _upper_sums(flats[0], flats[1], rk, rl, acc)
    return acc[0], acc[1], acc[2], rk, rl
