"""Exact k-nearest-neighbour kernels (numba): O(n^2) time, O(n) memory, parallel over samples.

Each sample keeps its k smallest distances in a sorted buffer of length k;
a distance computation stops as soon as its partial value reaches the
current k-th best (the maximum and the sum of squares only grow), which
is what makes brute force fast enough for n = 10^4 in 20 dimensions.
:func:`knn_radius_plain` and :func:`ksg_counts_plain` are the plain
numpy formulas the tests compare the kernels with.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _insert(best, dist):  # pragma: no cover - compiled
    # best is sorted ascending; drop its last entry, keep the order
    k = best.shape[0]
    p = k - 1
    while p > 0 and best[p - 1] > dist:
        best[p] = best[p - 1]
        p -= 1
    best[p] = dist


@njit(cache=True, parallel=True)
def knn_radius(x, k, chebyshev, skip_zero, out):  # pragma: no cover - compiled
    """out[i] = distance from x[i] to its k-th nearest other point (Euclidean or max-norm).

    With ``skip_zero`` points at distance 0 (duplicates of x[i]) are ignored.
    Returns nothing; Euclidean radii are returned squared-then-rooted.
    """
    n, d = x.shape
    for i in prange(n):
        best = np.full(k, np.inf)
        for j in range(n):
            if j == i:
                continue
            bound = best[k - 1]
            dist = 0.0
            if chebyshev:
                for c in range(d):
                    v = abs(x[i, c] - x[j, c])
                    if v > dist:
                        dist = v
                        if dist > bound:
                            break
            else:
                for c in range(d):
                    v = x[i, c] - x[j, c]
                    dist += v * v
                    if dist > bound:
                        break
            if skip_zero and dist == 0.0:
                continue
            if dist < bound:
                _insert(best, dist)
        out[i] = best[k - 1] if chebyshev else np.sqrt(best[k - 1])


@njit(cache=True, inline="always")
def _maxnorm(a, i, j, stop):  # pragma: no cover - compiled
    dist = 0.0
    for c in range(a.shape[1]):
        v = abs(a[i, c] - a[j, c])
        if v > dist:
            dist = v
            if dist > stop:
                break
    return dist


@njit(cache=True, parallel=True)
def ksg_counts(x, z, k, mixed, eps, nx, nz, kt):  # pragma: no cover - compiled
    """KSG neighbour statistics in the max-norm of the joint space.

    eps[i]: distance to the k-th nearest other point of (x, z);
    nx[i], nz[i]: points j != i with |x_j - x_i| < eps[i] (resp. z) -- strictly, as in
    Kraskov et al. (2004), algorithm 1.  With ``mixed`` (Gao et al. 2017) a zero
    radius counts ties instead: kt[i] = #{j != i: (x_j, z_j) = (x_i, z_i)} and
    nx[i] = #{j != i: x_j = x_i}; otherwise kt[i] = k.
    """
    n = x.shape[0]
    for i in prange(n):
        best = np.full(k, np.inf)
        for j in range(n):
            if j == i:
                continue
            bound = best[k - 1]
            dx = _maxnorm(x, i, j, bound)
            if dx >= bound:
                continue
            dz = _maxnorm(z, i, j, bound)
            dist = dx if dx > dz else dz
            if dist < bound:
                _insert(best, dist)
        e = best[k - 1]
        eps[i] = e
        cx = 0
        cz = 0
        ties = 0
        if mixed and e == 0.0:
            for j in range(n):
                if j == i:
                    continue
                ax = _maxnorm(x, i, j, 0.0) == 0.0
                az = _maxnorm(z, i, j, 0.0) == 0.0
                cx += ax
                cz += az
                ties += ax and az
            kt[i] = ties
        else:
            for j in range(n):
                if j == i:
                    continue
                if _maxnorm(x, i, j, e) < e:
                    cx += 1
                if _maxnorm(z, i, j, e) < e:
                    cz += 1
            kt[i] = k
        nx[i] = cx
        nz[i] = cz


def knn_radius_plain(x: np.ndarray, k: int, chebyshev: bool) -> np.ndarray:
    """Reference for :func:`knn_radius` (n x n memory): sort the full distance matrix."""
    diff = np.abs(x[:, None, :] - x[None, :, :])
    d = diff.max(axis=2) if chebyshev else np.sqrt((diff**2).sum(axis=2))
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def ksg_counts_plain(x: np.ndarray, z: np.ndarray, k: int):
    """Reference for :func:`ksg_counts` without ties (n x n memory)."""
    dx = np.abs(x[:, None, :] - x[None, :, :]).max(axis=2)
    dz = np.abs(z[:, None, :] - z[None, :, :]).max(axis=2)
    d = np.maximum(dx, dz)
    np.fill_diagonal(d, np.inf)
    eps = np.sort(d, axis=1)[:, k - 1]
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dz, np.inf)
    nx = (dx < eps[:, None]).sum(axis=1)
    nz = (dz < eps[:, None]).sum(axis=1)
    return eps, nx, nz
