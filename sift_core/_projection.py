"""Principal components and covariance spectra of sample matrices (numpy only).

The criterion reduces images of thousands of pixels to a few principal
components before the k-nearest-neighbour estimators run.  Everything here
works on a float64 (n, d) matrix whose rows are samples, with population
normalisation (covariance = A_c' A_c / n).

* :func:`top_components` -- the leading principal-component scores, exact for
  small matrices and by randomised subspace iteration (Halko, Martinsson and
  Tropp 2011, algorithm 4.4) otherwise; seeded, so reproducible.
* :func:`spectrum` -- all covariance eigenvalues, from whichever of the d x d
  covariance or the n x n Gram matrix is smaller, on at most ``max_rows``
  (seeded) rows to bound the cubic cost.
"""

from __future__ import annotations

import numpy as np

__all__ = ["top_components", "spectrum", "RELATIVE_EIG_TOL"]

#: eigenvalues at or below this fraction of the largest count as zero
RELATIVE_EIG_TOL = 1e-10
#: below this many columns (or rows) the exact eigendecomposition is cheap
_EXACT_MAX = 512


def _centred(a: np.ndarray) -> np.ndarray:
    return a - a.mean(axis=0, keepdims=True)


def _keep(variances: np.ndarray) -> np.ndarray:
    """Mask of the components with a non-negligible variance."""
    if variances.size == 0 or not variances[0] > 0:
        return np.zeros(variances.shape, dtype=bool)
    return variances > RELATIVE_EIG_TOL * variances[0]


def top_components(a: np.ndarray, m: int, *, seed: int = 0, n_iter: int = 4,
                   oversample: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Scores (n, m') of the ``m`` leading principal components of ``a`` and their variances.

    The scores are ``A_c V`` with ``V`` (d, m') orthonormal, so the projection
    preserves Euclidean distances within the retained subspace.  Components with
    variance at or below ``RELATIVE_EIG_TOL`` times the largest are dropped
    (m' <= m; m' = 0 for a constant matrix).  Variances are descending.
    """
    ac = _centred(np.asarray(a, dtype=np.float64))
    n, d = ac.shape
    m = min(m, n, d)
    if m <= 0:
        return np.zeros((n, 0)), np.zeros(0)
    if min(n, d) <= _EXACT_MAX or m + oversample >= min(n, d):
        vectors = _exact_right_vectors(ac, m)
    else:
        vectors = _randomised_right_vectors(ac, m, seed=seed, n_iter=n_iter, oversample=oversample)
    scores = ac @ vectors
    variances = np.mean(scores * scores, axis=0)
    order = np.argsort(variances)[::-1]
    scores, variances = scores[:, order], variances[order]
    keep = _keep(variances)
    return np.ascontiguousarray(scores[:, keep]), variances[keep]


def _exact_right_vectors(ac: np.ndarray, m: int) -> np.ndarray:
    n, d = ac.shape
    if d <= n:
        w, v = np.linalg.eigh(ac.T @ ac)
        return v[:, ::-1][:, :m]
    # d > n: left vectors from the Gram matrix, mapped through A_c' and normalised
    w, u = np.linalg.eigh(ac @ ac.T)
    u, w = u[:, ::-1][:, :m], w[::-1][:m]
    v = ac.T @ u
    norms = np.sqrt(np.maximum(w, 0.0))
    norms[norms == 0] = 1.0
    return v / norms


def _randomised_right_vectors(ac: np.ndarray, m: int, *, seed: int, n_iter: int, oversample: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ell = m + oversample
    q, _ = np.linalg.qr(ac @ rng.standard_normal((ac.shape[1], ell)))
    # subspace iteration with re-orthonormalisation: power iterations sharpen
    # the spectrum's decay, QR keeps rounding from collapsing the basis
    for _ in range(n_iter):
        p, _ = np.linalg.qr(ac.T @ q)
        q, _ = np.linalg.qr(ac @ p)
    _, _, vt = np.linalg.svd(q.T @ ac, full_matrices=False)
    return vt[:m].T


def spectrum(a: np.ndarray, *, max_rows: int | None = None, seed: int = 0) -> np.ndarray:
    """Eigenvalues (descending, >= 0) of the sample covariance of ``a`` (n, d).

    With ``max_rows`` below n, a seeded subsample of that many rows is used:
    the eigendecomposition costs O(min(n, d)^3), and spectrum-based measures
    (effective rank, participation ratio) of a subsample are what one compares
    across reports computed with the same setting.  Values at or below
    ``RELATIVE_EIG_TOL`` times the largest are set to 0.
    """
    a = np.asarray(a, dtype=np.float64)
    if max_rows is not None and a.shape[0] > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(a.shape[0], size=max_rows, replace=False))
        a = a[rows]
    ac = _centred(a)
    n, d = ac.shape
    gram = ac.T @ ac if d <= n else ac @ ac.T
    w = np.linalg.eigvalsh(gram)[::-1] / n
    w = np.maximum(w, 0.0)
    w[~_keep(w)] = 0.0
    return w
