"""Pairwise statistics for numpy input in numba: distances by BLAS Gram blocks or by direct differences.

The distance covariance of x and z (V- and U-statistics alike) depends on the
distance matrices ``a`` and ``b`` only through five sums (see
:func:`sift_core._pairwise.centred_inner`)::

    S_ab = sum_ij a_ij b_ij,  S_aa,  S_bb,  row sums r_a = a 1,  r_b = b 1

so they can be accumulated over the upper triangle without an n x n matrix.
Squared distances come one of two ways (``method``):

* "gram": Gram blocks from BLAS, ``|x_i - x_j|^2 = |x_i|^2 + |x_j|^2 - 2 x_i.x_j``,
  in O(n * block) memory.  The identity cancels far from the origin, so the
  columns are centred first (the statistics are translation invariant), and
  squared distances within rounding of zero are set to zero
  (:func:`sift_core._pairwise.gram_zero_tolerance`), so that repeated samples
  are exactly at distance 0.  Fast for many dimensions.
* "direct": sums of squared coordinate differences over tiles of columns that
  stay in cache; exact, and faster than BLAS when the dimensions are few
  (a Gram matrix of few dimensions costs its memory traffic, not arithmetic).

HSIC with a Gaussian kernel needs the median of the pairwise distances, so
:func:`gaussian_kernel_sums` keeps the n(n-1)/2 squared distances of each
variable (O(n^2) memory, half of a dense matrix), then sums the kernel values
the same way.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._backend import NUMPY
from ._pairwise import centre_columns, gram_zero_tolerance
from .dependence import bandwidth_from_distances, kernel_shift

__all__ = ["distance_sums", "gaussian_kernel_sums", "upper_sq_distances"]

_EPS = float(np.finfo(np.float64).eps)
#: "auto" takes direct differences up to this many dimensions (x and z together) at any n ...
DIRECT_MAX_DIMS = 32
#: ... and up to DIRECT_MAX_DIMS_SMALL_N dimensions while n <= DIRECT_SMALL_N, where one Gram
#: block of n x n costs more in memory traffic than the differences do
DIRECT_MAX_DIMS_SMALL_N = 96
DIRECT_SMALL_N = 8192
#: columns per tile of the direct method (d x 512 doubles stay in the L2 cache)
_TILE = 512

# Reassociation lets LLVM vectorise the reductions and the square roots; no
# flag that assumes away NaN/inf is set (inputs are checked to be finite).
_FASTMATH = {"reassoc", "contract", "nsz", "arcp"}


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _gram_sq_row(g, sq, sqi, tol, out):  # pragma: no cover - compiled
    """Squared distances of one row from its Gram row (1-D slices, contiguous: vectorised)."""
    for c in range(g.shape[0]):
        t = sqi + sq[c]
        d2 = t - 2.0 * g[c]
        out[c] = d2 if d2 > tol * t else 0.0


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _diff_sq_row(xt, i, j0, j1, out):  # pragma: no cover - compiled
    """``out[c] = |x_i - x_{j0+c}|^2`` from the transposed (d, n) matrix, by differences."""
    m = j1 - j0
    for c in range(m):
        out[c] = 0.0
    for k in range(xt.shape[0]):
        xik = xt[k, i]
        row = xt[k, j0:j1]
        for c in range(m):
            t = row[c] - xik
            out[c] += t * t


@njit(cache=True, nogil=True, fastmath=_FASTMATH, inline="always")
def _reduce_row(dx2, dz2, ux, uz, uxi, uzi, ra, rb):  # pragma: no cover - compiled
    """Sums over one row of ``a'_ij = |x_i - x_j| - u_i - u_j`` (``u = 0``: the distances)."""
    ab = 0.0
    aa = 0.0
    bb = 0.0
    ra_i = 0.0
    rb_i = 0.0
    for c in range(ux.shape[0]):
        dx = np.sqrt(dx2[c]) - uxi - ux[c]
        dz = np.sqrt(dz2[c]) - uzi - uz[c]
        ab += dx * dz
        aa += dx * dx
        bb += dz * dz
        ra_i += dx
        rb_i += dz
        ra[c] += dx
        rb[c] += dz
    return ab, aa, bb, ra_i, rb_i


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _accumulate_gram(gx, gz, sqx, sqz, ux, uz, tolx, tolz, i0, ra, rb, acc):  # pragma: no cover - compiled
    """Add the pairs (i, j), i < j, of the rows ``i0 .. i0 + m``; ``gx[r, c] = x_{i0+r} . x_{i0+c}``."""
    m, k = gx.shape
    end = i0 + k
    bx = np.empty(k)
    bz = np.empty(k)
    s = np.zeros(3)
    for r in range(m):
        i = i0 + r
        w = end - i - 1
        _gram_sq_row(gx[r, r + 1 :], sqx[i + 1 : end], sqx[i], tolx, bx[:w])
        _gram_sq_row(gz[r, r + 1 :], sqz[i + 1 : end], sqz[i], tolz, bz[:w])
        ab, aa, bb, ra_i, rb_i = _reduce_row(
            bx[:w], bz[:w], ux[i + 1 : end], uz[i + 1 : end], ux[i], uz[i], ra[i + 1 : end], rb[i + 1 : end]
        )
        ra[i] += ra_i
        rb[i] += rb_i
        s[0] += ab
        s[1] += aa
        s[2] += bb
    # each unordered pair stands for (i, j) and (j, i)
    acc += 2.0 * s


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _accumulate_direct(xt, zt, ux, uz, ra, rb, acc):  # pragma: no cover - compiled
    """All pairs i < j from the transposed (d, n) and (q, n) matrices, tile by tile of columns."""
    n = xt.shape[1]
    bx = np.empty(_TILE)
    bz = np.empty(_TILE)
    s = np.zeros(3)
    for jb in range(0, n, _TILE):
        je = min(n, jb + _TILE)
        for i in range(0, je - 1):
            j0 = max(i + 1, jb)
            w = je - j0
            _diff_sq_row(xt, i, j0, je, bx)
            _diff_sq_row(zt, i, j0, je, bz)
            ab, aa, bb, ra_i, rb_i = _reduce_row(
                bx[:w], bz[:w], ux[j0:je], uz[j0:je], ux[i], uz[i], ra[j0:je], rb[j0:je]
            )
            ra[i] += ra_i
            rb[i] += rb_i
            s[0] += ab
            s[1] += aa
            s[2] += bb
    acc += 2.0 * s


def use_direct(n: int, dims: int) -> bool:
    """The "auto" choice between direct differences and Gram blocks.

    Measured on two idle cores (docs/bench_dependence.md): at n = 2048 and 80
    dimensions the differences took 31 ms and the Gram path 60 ms; at
    n = 50,000 and 128 dimensions the Gram blocks (7 to 9 ns a pair, BLAS on both
    cores) beat the differences' estimated 0.16 ns per pair and dimension.
    """
    return dims <= DIRECT_MAX_DIMS or (dims <= DIRECT_MAX_DIMS_SMALL_N and n <= DIRECT_SMALL_N)


def _block_rows(n: int, budget_bytes: int) -> int:
    # two (block x n) float64 Gram blocks must fit the budget
    rows = budget_bytes // max(1, 2 * 8 * n)
    return int(max(16, min(n, rows)))


def _centred(x: np.ndarray, scale: float) -> np.ndarray:
    """A centred copy (:func:`sift_core._pairwise.centre_columns`) divided by ``scale`` in place."""
    x = centre_columns(NUMPY, x)
    if scale != 1.0:
        x *= 1.0 / scale
    return x


def _check_scales(scales) -> tuple[float, float]:
    sx, sz = (float(s) for s in scales)
    if not (sx > 0 and sz > 0 and np.isfinite(sx) and np.isfinite(sz)):
        raise ValueError(f"scales must be two positive finite numbers; got {scales!r}")
    return sx, sz


def distance_sums(
    x: np.ndarray,
    z: np.ndarray,
    *,
    block_bytes: int = 64 * 2**20,
    shifted: bool = False,
    method: str = "auto",
    scales: tuple[float, float] = (1.0, 1.0),
):
    """Sums of the Euclidean distance matrices of ``x`` and ``z`` (rows are samples).

    Returns ``(S_ab, S_aa, S_bb, r_a, r_b)`` as float64 (over all ordered pairs,
    ``r`` the row sums).  ``method`` "gram" works in O(n * block) memory (Gram
    blocks of at most ``block_bytes`` together, at least 16 rows each),
    "direct" in O(n (d + q)); "auto" decides by :func:`use_direct`.

    ``shifted=True`` returns the same sums of the off-diagonal matrices
    ``a'_ij = a_ij - u_i - u_j`` (``i != j``, zero diagonal), followed by ``u``
    and ``v``: ``u_i = |x_i - m|`` is the distance to the column-median point
    ``m`` (:func:`sift_core._pairwise.centre_columns`).  Centring removes such
    additive terms exactly, so the statistic is unchanged, but an outlier's
    large distances, which double centring would cancel, never enter the sums
    (``dependence._inners_from_sums`` adds the V-statistic's diagonal
    ``a'_ii = -2 u_i`` back).

    ``scales = (s_x, s_z)``: the sums of ``x / s_x`` and ``z / s_z`` (the
    division is applied to the centred copy, so it costs no extra memory);
    :func:`sift_core._pairwise.sample_scale` gives scales for which no
    squared distance overflows or underflows.
    """
    x = np.asarray(x, dtype=np.float64)
    z = np.asarray(z, dtype=np.float64)
    if x.ndim != 2 or z.ndim != 2 or x.shape[0] != z.shape[0]:
        raise ValueError(f"x and z must be (n, d) and (n, q) arrays; got shapes {x.shape} and {z.shape}")
    if method not in ("auto", "gram", "direct"):
        raise ValueError(f"method must be 'auto', 'gram' or 'direct'; got {method!r}")
    sx, sz = _check_scales(scales)
    n = x.shape[0]
    x = _centred(x, sx)
    z = _centred(z, sz)
    sqx = np.einsum("ij,ij->i", x, x)
    sqz = np.einsum("ij,ij->i", z, z)
    ux = np.sqrt(sqx) if shifted else np.zeros(n)
    uz = np.sqrt(sqz) if shifted else np.zeros(n)
    ra = np.zeros(n)
    rb = np.zeros(n)
    acc = np.zeros(3)
    if method == "direct" or (method == "auto" and use_direct(n, x.shape[1] + z.shape[1])):
        _accumulate_direct(np.ascontiguousarray(x.T), np.ascontiguousarray(z.T), ux, uz, ra, rb, acc)
    else:
        x = np.ascontiguousarray(x)
        z = np.ascontiguousarray(z)
        tolx = gram_zero_tolerance(x.shape[1], _EPS)
        tolz = gram_zero_tolerance(z.shape[1], _EPS)
        block = _block_rows(n, block_bytes)
        if block >= n:
            # one block: x @ x.T lets BLAS use the symmetric rank-k update
            _accumulate_gram(x @ x.T, z @ z.T, sqx, sqz, ux, uz, tolx, tolz, 0, ra, rb, acc)
        else:
            for i0 in range(0, n, block):
                i1 = min(n, i0 + block)
                gx = x[i0:i1] @ x[i0:].T
                gz = z[i0:i1] @ z[i0:].T
                _accumulate_gram(gx, gz, sqx, sqz, ux, uz, tolx, tolz, i0, ra, rb, acc)
    if shifted:
        return acc[0], acc[1], acc[2], ra, rb, ux, uz
    return acc[0], acc[1], acc[2], ra, rb


# --------------------------------------------------------------------------- HSIC


def _upper_start(i: int, n: int) -> int:
    # the pairs (i, j > i) follow the (n-1) + (n-2) + ... + (n-i) pairs of the earlier rows
    return i * n - i * (i + 1) // 2


_upper_start_jit = njit(cache=True, nogil=True, inline="always")(_upper_start)


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _upper_gram(g, sq, tol, i0, out):  # pragma: no cover - compiled
    """Squared distances of the pairs (i, j > i) of the rows i0.., into the flat upper triangle."""
    m, k = g.shape
    n = sq.shape[0]
    end = i0 + k
    for r in range(m):
        i = i0 + r
        start = _upper_start_jit(i, n)
        _gram_sq_row(g[r, r + 1 :], sq[i + 1 : end], sq[i], tol, out[start : start + end - i - 1])


@njit(cache=True, nogil=True, fastmath=_FASTMATH)
def _upper_direct(xt, out):  # pragma: no cover - compiled
    n = xt.shape[1]
    for jb in range(0, n, _TILE):
        je = min(n, jb + _TILE)
        for i in range(0, je - 1):
            j0 = max(i + 1, jb)
            start = _upper_start_jit(i, n) + j0 - i - 1
            _diff_sq_row(xt, i, j0, je, out[start : start + je - j0])


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
    s = np.zeros(3)
    for i in range(n):
        start = _upper_start_jit(i, n)
        stop = start + n - i - 1
        kl, kk, ll, rk_i, rl_i = _kernel_row(kf[start:stop], lf[start:stop], rk[i + 1 :], rl[i + 1 :])
        rk[i] += rk_i
        rl[i] += rl_i
        s[0] += kl
        s[1] += kk
        s[2] += ll
    acc += 2.0 * s


def upper_sq_distances(
    x: np.ndarray, *, block_bytes: int = 64 * 2**20, method: str = "auto", scale: float = 1.0
) -> np.ndarray:
    """Squared Euclidean distances of the pairs i < j of the rows of ``x / scale``, row by row (flat).

    ``method`` as in :func:`distance_sums` ("auto": :func:`use_direct`).
    """
    x = _centred(np.asarray(x, dtype=np.float64), float(scale))
    n = x.shape[0]
    out = np.empty(n * (n - 1) // 2)
    if method == "direct" or (method == "auto" and use_direct(n, x.shape[1])):
        _upper_direct(np.ascontiguousarray(x.T), out)
        return out
    x = np.ascontiguousarray(x)
    sq = np.einsum("ij,ij->i", x, x)
    tol = gram_zero_tolerance(x.shape[1], _EPS)
    block = max(16, min(n, block_bytes // max(1, 8 * n)))
    for i0 in range(0, n, block):
        _upper_gram(x[i0 : i0 + block] @ x[i0:].T, sq, tol, i0, out)
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


def gaussian_kernel_sums(x: np.ndarray, z: np.ndarray, bandwidth, *, scales: tuple[float, float] = (1.0, 1.0)):
    """Off-diagonal sums of the shifted Gaussian kernel matrices of ``x`` and ``z``, and their diagonals.

    ``K'_ij = exp(-|x_i - x_j|^2 / (2 sigma^2)) - c`` with ``sigma`` the
    number ``bandwidth`` or, for "median", each variable's median pairwise
    distance (:func:`sift_core.dependence.bandwidth_from_distances`), and ``c``
    from :func:`sift_core.dependence.kernel_shift`.  Returns
    ``(S_kl, S_kk, S_ll, r_k, r_l)`` over the pairs i != j, then the diagonals
    ``K'_ii = 1 - c`` and ``L'_ii`` as arrays.

    ``scales = (s_x, s_z)``: distances are formed from ``x / s_x`` and
    ``z / s_z`` and a numeric bandwidth is divided likewise, so the kernel
    matrices are those of ``x`` and ``z`` while no squared distance
    overflows or underflows (:func:`sift_core._pairwise.sample_scale`).
    """
    n = x.shape[0]
    flats = []
    diags = []
    for v, s in zip((x, z), _check_scales(scales)):
        d2 = upper_sq_distances(v, scale=s)
        sigma = _median_from_sq(d2) if isinstance(bandwidth, str) else float(bandwidth) / s
        c = float(kernel_shift(NUMPY, d2.mean() if d2.size else 0.0, sigma))
        # divided by sigma twice: sigma^2 alone could underflow (a bandwidth far below the distances)
        d2 *= -0.5 / sigma
        d2 /= sigma
        k = np.exp(d2, out=d2)
        k -= c
        flats.append(k)
        diags.append(np.full(n, 1.0 - c))
    rk = np.zeros(n)
    rl = np.zeros(n)
    acc = np.zeros(3)
    _upper_sums(flats[0], flats[1], rk, rl, acc)
    return acc[0], acc[1], acc[2], rk, rl, diags[0], diags[1]
