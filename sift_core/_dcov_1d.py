"""Distance covariance of two one-dimensional samples in O(n log n) time and O(n) memory.

Huo and Szekely (2016), "Fast computing for distance covariance",
Technometrics 58(4): the five sums that :func:`sift_core._pairwise.centred_inner`
needs are obtained without forming the n x n distance matrices.

* Row sums: with the sample sorted, ``v_(0) <= ... <= v_(n-1)``, prefix sums
  ``P_k = sum_{j<k} v_(j)`` and total ``T``::

      sum_j |v_(k) - v_(j)| = (2k - n) v_(k) + T - 2 P_k

* ``S_aa = sum_ij (x_i - x_j)^2 = 2 n sum_i (x_i - xbar)^2``.
* ``S_ab = sum_ij |x_i - x_j| |y_i - y_j| = 2 sum_{j<i} (x_i - x_j) |y_i - y_j|``
  with the points ordered by x, so ``x_i - x_j >= 0``.  A stable merge sort of
  y in that order meets every pair (j, i) exactly once, when the run holding j
  is merged with the later run holding i.  At that moment, for each i of the
  right run, the left run splits into the points already output
  (``y_j <= y_i``) and the rest, and::

      sum_{j in left} (x_i - x_j)|y_i - y_j| = sum_{y_j <= y_i} (x_i - x_j)(y_i - y_j)
                                             - sum_{y_j >  y_i} (x_i - x_j)(y_i - y_j)

  Expanding the products, both sums need only running sums of 1, x, y and xy
  over the left run: O(1) per point, O(n log n) in all.  Pairs inside the
  short runs that start the sort are summed directly.  Ties are harmless: a
  pair tied in x or in y contributes a zero product on either side.

The samples are centred on their medians first, because the expanded
products cancel far from the origin; every sum is translation invariant.

``shifted=True`` returns the sums of ``a'_ij = a_ij - |x_i| - |x_j|`` over
``i != j`` instead (x median-centred; see
:func:`sift_core._dcov_numba.distance_sums`): the same statistics without
the cancellation that an outlier causes in double centring.  In one
dimension ``a'_ij = -2 min(|x_i|, |x_j|)`` when x_i and x_j have the same sign
and 0 otherwise, so every sum is one of non-negative terms::

    S'_ab = 4 sum over the four sign quadrants of
            sum_{i != j} min(|x_i|, |x_j|) min(|y_i|, |y_j|)

and with the points of a quadrant ordered by |x|, the inner sum is
``2 sum_{j<i} |x_j| min(|y_i|, |y_j|)``: a dominance sum over |y| that the
same merge sort yields, without expanded products.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["distance_sums_1d"]

#: length of the runs sorted by insertion before merging (pairs inside summed directly)
_RUN = 16


@njit(cache=True, nogil=True)
def _row_sums_sorted(v_sorted, order, out):  # pragma: no cover - compiled
    """Row sums of |v_i - v_j| from the sorted sample, written to ``out[order[k]]``."""
    n = v_sorted.shape[0]
    total = 0.0
    for k in range(n):
        total += v_sorted[k]
    prefix = 0.0
    for k in range(n):
        v = v_sorted[k]
        out[order[k]] = (2.0 * k - n) * v + total - 2.0 * prefix
        prefix += v


@njit(cache=True, nogil=True)
def _cross_sum_mergesort(key, val, idx):  # pragma: no cover - compiled
    """``sum_{j<i} (val_i - val_j) |key_i - key_j|`` for ``val`` ascending; sorts ``key`` in place.

    ``val`` and ``idx`` travel with ``key``, so on return ``key`` is sorted
    and ``idx`` holds the matching permutation of the input ``idx``.
    """
    n = key.shape[0]
    total = 0.0
    for lo in range(0, n, _RUN):
        hi = min(lo + _RUN, n)
        for i in range(lo + 1, hi):
            for j in range(lo, i):
                total += (val[i] - val[j]) * abs(key[i] - key[j])
        # stable insertion sort of the run by key
        for i in range(lo + 1, hi):
            k = key[i]
            v = val[i]
            d = idx[i]
            j = i - 1
            while j >= lo and key[j] > k:
                key[j + 1] = key[j]
                val[j + 1] = val[j]
                idx[j + 1] = idx[j]
                j -= 1
            key[j + 1] = k
            val[j + 1] = v
            idx[j + 1] = d
    src_k, src_v, src_i = key, val, idx
    dst_k, dst_v, dst_i = np.empty_like(key), np.empty_like(val), np.empty_like(idx)
    width = _RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            n_left = float(mid - lo)
            tx = 0.0
            ty = 0.0
            txy = 0.0
            for a in range(lo, mid):
                tx += src_v[a]
                ty += src_k[a]
                txy += src_v[a] * src_k[a]
            # running sums over the left points already output (key <= current key)
            c = 0.0
            sx = 0.0
            sy = 0.0
            sxy = 0.0
            a = lo
            b = mid
            o = lo
            while b < hi:
                if a < mid and src_k[a] <= src_k[b]:
                    xa = src_v[a]
                    ya = src_k[a]
                    c += 1.0
                    sx += xa
                    sy += ya
                    sxy += xa * ya
                    dst_k[o] = ya
                    dst_v[o] = xa
                    dst_i[o] = src_i[a]
                    a += 1
                else:
                    xb = src_v[b]
                    yb = src_k[b]
                    below = xb * yb * c - xb * sy - yb * sx + sxy
                    above = xb * yb * (n_left - c) - xb * (ty - sy) - yb * (tx - sx) + (txy - sxy)
                    total += below - above
                    dst_k[o] = yb
                    dst_v[o] = xb
                    dst_i[o] = src_i[b]
                    b += 1
                o += 1
            while a < mid:
                dst_k[o] = src_k[a]
                dst_v[o] = src_v[a]
                dst_i[o] = src_i[a]
                a += 1
                o += 1
        src_k, dst_k = dst_k, src_k
        src_v, dst_v = dst_v, src_v
        src_i, dst_i = dst_i, src_i
        width *= 2
    if src_k is not key:
        key[:] = src_k
        val[:] = src_v
        idx[:] = src_i
    return total


@njit(cache=True, nogil=True)
def _min_product_mergesort(key, val, suffix):  # pragma: no cover - compiled
    """``sum_{j<i} val_j min(key_i, key_j)`` for ``val`` ascending and ``key >= 0``; sorts ``key``.

    ``val`` travels with ``key``; ``suffix`` is scratch of the same length.
    Every term is non-negative: the left run's values above ``key_i`` come
    from suffix sums, not from a difference of totals.
    """
    n = key.shape[0]
    total = 0.0
    for lo in range(0, n, _RUN):
        hi = min(lo + _RUN, n)
        for i in range(lo + 1, hi):
            for j in range(lo, i):
                total += val[j] * min(key[i], key[j])
        for i in range(lo + 1, hi):
            k = key[i]
            v = val[i]
            j = i - 1
            while j >= lo and key[j] > k:
                key[j + 1] = key[j]
                val[j + 1] = val[j]
                j -= 1
            key[j + 1] = k
            val[j + 1] = v
    src_k, src_v = key, val
    dst_k, dst_v = np.empty_like(key), np.empty_like(val)
    width = _RUN
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            acc = 0.0
            for a in range(mid - 1, lo - 1, -1):
                acc += src_v[a]
                suffix[a] = acc
            below = 0.0  # sum of val * key over the left points already output (key <= current key)
            a = lo
            b = mid
            o = lo
            while b < hi:
                if a < mid and src_k[a] <= src_k[b]:
                    below += src_v[a] * src_k[a]
                    dst_k[o] = src_k[a]
                    dst_v[o] = src_v[a]
                    a += 1
                else:
                    above = suffix[a] if a < mid else 0.0
                    total += below + src_k[b] * above
                    dst_k[o] = src_k[b]
                    dst_v[o] = src_v[b]
                    b += 1
                o += 1
            while a < mid:
                dst_k[o] = src_k[a]
                dst_v[o] = src_v[a]
                a += 1
                o += 1
        src_k, dst_k = dst_k, src_k
        src_v, dst_v = dst_v, src_v
        width *= 2
    return total


@njit(cache=True, nogil=True)
def _first_nonneg(v, order):  # pragma: no cover - compiled
    """Position in ``order`` (an argsort of v) of the first v >= 0."""
    lo = 0
    hi = order.shape[0]
    while lo < hi:
        mid = (lo + hi) // 2
        if v[order[mid]] < 0.0:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def _shifted_rows(v, order, out):  # pragma: no cover - compiled
    """Row sums of ``a'`` into ``out``; returns ``S'_aa``.

    Within a sign group visited in increasing ``p = |v|`` (m points)::

        sum_{j != k} min(p_k, p_j) = sum_{j<k} p_j + p_k (m - 1 - k)
    """
    n = order.shape[0]
    k0 = _first_nonneg(v, order)
    s_aa = 0.0
    for group in range(2):
        m = n - k0 if group == 0 else k0
        before = 0.0
        for t in range(m):
            # v >= 0 ascending; v < 0 from the largest (smallest |v|) down
            i = order[k0 + t] if group == 0 else order[k0 - 1 - t]
            p = abs(v[i])
            later = m - 1 - t
            out[i] = -2.0 * (before + p * later)
            s_aa += 8.0 * p * p * later
            before += p
    return s_aa


@njit(cache=True, nogil=True)
def _quadrants(xc, yc, order, key, val, bounds):  # pragma: no cover - compiled
    """Lay out (key=|y|, val=|x|) by sign quadrant, each quadrant in increasing |x|."""
    n = order.shape[0]
    k0 = _first_nonneg(xc, order)
    counts = np.zeros(4, np.int64)
    for i in range(n):
        counts[(0 if xc[i] >= 0.0 else 2) + (0 if yc[i] >= 0.0 else 1)] += 1
    pos = np.zeros(4, np.int64)
    for g in range(1, 4):
        pos[g] = pos[g - 1] + counts[g - 1]
    bounds[:4] = pos
    bounds[4] = n
    for t in range(n):
        i = order[k0 + t] if t < n - k0 else order[n - 1 - t]
        g = (0 if xc[i] >= 0.0 else 2) + (0 if yc[i] >= 0.0 else 1)
        key[pos[g]] = abs(yc[i])
        val[pos[g]] = abs(xc[i])
        pos[g] += 1


def _shifted_sums(xc: np.ndarray, yc: np.ndarray):
    n = xc.shape[0]
    order_x = np.argsort(xc)
    ra = np.empty(n)
    rb = np.empty(n)
    s_aa = _shifted_rows(xc, order_x, ra)
    s_bb = _shifted_rows(yc, np.argsort(yc), rb)
    key = np.empty(n)
    val = np.empty(n)
    bounds = np.zeros(5, np.int64)
    _quadrants(xc, yc, order_x, key, val, bounds)
    scratch = np.empty(n)
    s_ab = 0.0
    for g in range(4):
        lo, hi = bounds[g], bounds[g + 1]
        s_ab += 8.0 * _min_product_mergesort(key[lo:hi], val[lo:hi], scratch[lo:hi])
    return np.float64(s_ab), np.float64(s_aa), np.float64(s_bb), ra, rb, np.abs(xc), np.abs(yc)


def _sum_sq_dev(v: np.ndarray) -> float:
    """``sum_ij (v_i - v_j)^2 = 2 n sum_i (v_i - vbar)^2 - 2 (sum_i (v_i - vbar))^2``."""
    c = v - v.mean()
    return 2.0 * v.shape[0] * float(np.dot(c, c)) - 2.0 * float(c.sum()) ** 2


def distance_sums_1d(x: np.ndarray, y: np.ndarray, *, shifted: bool = False):
    """Sums of the distance matrices ``a_ij = |x_i - x_j|``, ``b_ij = |y_i - y_j|`` of 1-D samples.

    Returns ``(S_ab, S_aa, S_bb, r_a, r_b)`` in float64, the tuple of
    :func:`sift_core._dcov_numba.distance_sums`: ``S_ab = sum_ij a_ij b_ij`` over
    all ordered pairs, ``S_aa = sum_ij a_ij^2``, ``r_a = a 1`` (row sums).
    O(n log n) time (one argsort and one merge sort), O(n) memory.

    ``shifted=True`` returns the sums of the off-diagonal ``a'_ij = a_ij - u_i
    - u_j`` with ``u = |x - median(x)|`` and then ``u`` and ``v``, as
    :func:`sift_core._dcov_numba.distance_sums` does (two argsorts and four
    merge sorts of non-negative terms).
    """
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length; got {x.shape[0]} and {y.shape[0]}")
    n = x.shape[0]
    if n == 0:
        empty = (np.float64(0.0), np.float64(0.0), np.float64(0.0), np.zeros(0), np.zeros(0))
        return empty + (np.zeros(0), np.zeros(0)) if shifted else empty
    xc = x - np.median(x)
    yc = y - np.median(y)
    if shifted:
        return _shifted_sums(xc, yc)
    s_aa = _sum_sq_dev(x)
    s_bb = _sum_sq_dev(y)
    # ties in x may come in any order: their pairs contribute zero
    order_x = np.argsort(xc)
    xs = xc[order_x]
    ra = np.empty(n)
    _row_sums_sorted(xs, order_x, ra)
    ys = yc[order_x]
    order_y = order_x.copy()
    s_ab = 2.0 * _cross_sum_mergesort(ys, xs.copy(), order_y)
    rb = np.empty(n)
    _row_sums_sorted(ys, order_y, rb)
    return np.float64(s_ab), np.float64(s_aa), np.float64(s_bb), ra, rb
