"""Rank statistics: tie-averaged ranks and Spearman's rank correlation, in numpy.

scipy is optional: it is imported inside :func:`spearman`, and only for the p-value.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

__all__ = ["pool_moments", "rankdata", "spearman"]


def _ranks_along_first(v: np.ndarray) -> np.ndarray:
    """Tie-averaged ranks 1..n of every column of ``v`` (n, m), without a Python loop over values."""
    n = v.shape[0]
    order = np.argsort(v, axis=0, kind="stable")
    s = np.take_along_axis(v, order, axis=0)
    pos = np.arange(n, dtype=np.float64)[:, None]
    # NaN != NaN, so NaNs (sorted last) stay distinct, each with its own rank
    differs = s[1:] != s[:-1]
    starts = np.vstack([np.ones((1, v.shape[1]), dtype=bool), differs])
    ends = np.vstack([differs, np.ones((1, v.shape[1]), dtype=bool)])
    # the first and last sorted position of each position's run of equal values
    first = np.maximum.accumulate(np.where(starts, pos, 0.0), axis=0)
    last = np.minimum.accumulate(np.where(ends, pos, n - 1.0)[::-1], axis=0)[::-1]
    ranks = np.empty_like(s)
    np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=0)
    return ranks


def rankdata(values: Any, *, axis: int | None = None) -> np.ndarray:
    """Ranks 1..n; tied values share the mean of the ranks they span (the "average" method).

    Parameters
    ----------
    values : array_like of real numbers.
    axis : rank along this axis; ``None`` (default) ranks the flattened array.

    Returns
    -------
    ranks : float64 array, the shape of ``values`` (1-D when ``axis`` is None). NaNs rank
        after every number, each with a rank of its own.

    Notes
    -----
    The same ranks as ``scipy.stats.rankdata(values, method="average", axis=axis)`` for finite
    input (Kendall and Gibbons, *Rank Correlation Methods*, 1990, ch. 3).
    """
    v = np.asarray(values, dtype=np.float64)
    if axis is None:
        v = v.reshape(-1)
        axis = 0
    if v.ndim == 0:
        raise ValueError("values must have at least one dimension when axis is given")
    if v.size == 0:
        return np.empty(v.shape)
    moved = np.moveaxis(v, axis, 0)
    flat = moved.reshape(moved.shape[0], -1)
    ranks = _ranks_along_first(flat).reshape(moved.shape)
    return np.moveaxis(ranks, 0, axis)


#: the most pairs for which :func:`spearman` computes the exact permutation p-value (8! orderings)
EXACT_MAX_N = 8


def spearman(a: Any, b: Any) -> dict[str, Any]:
    """Spearman's rho: the Pearson correlation of the tie-averaged ranks of ``a`` and ``b``.

    Pairs where either value is NaN or infinite are left out.

    Parameters
    ----------
    a, b : 1-D array_like of equal length.

    Returns
    -------
    result : dict ``{"rho", "p_value", "n"}``. ``rho`` is None, with a ``"note"`` saying why,
        when it is undefined: fewer than 3 pairs, or a constant variable. ``p_value`` is
        two-sided: for ``n <= EXACT_MAX_N`` the exact permutation p-value (the share of all
        n! orderings of ``b``'s ranks whose |rho| reaches the observed one; numpy only), above
        it scipy's t approximation (``scipy.stats.spearmanr``), None when scipy is not
        installed. (The t approximation is far off for a handful of rows: for n = 5 and
        rho = 1 it gives 1e-24, where no ordering can give less than 2 / 120.) ``n`` is the
        number of pairs used.

    References
    ----------
    Spearman (1904), "The proof and measurement of association between two things";
    Zar, *Biostatistical Analysis*, ch. 19.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"a and b must be 1-D of equal length; got {a.shape} and {b.shape}")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = len(a)
    if n < 3:
        return {"rho": None, "p_value": None, "n": n, "note": "fewer than 3 rows with both values"}
    ra, rb = rankdata(a), rankdata(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float(ra @ ra) * float(rb @ rb))
    if denom == 0:
        return {"rho": None, "p_value": None, "n": n, "note": "one variable is constant across rows"}
    rho = float(np.clip((ra @ rb) / denom, -1.0, 1.0))
    if n <= EXACT_MAX_N:
        orders = np.array(list(itertools.permutations(range(n))))
        permuted = (rb[orders] @ ra) / denom
        # a tolerance for the rounding of equal correlations reached by another ordering
        return {"rho": rho, "p_value": float(np.mean(np.abs(permuted) >= abs(rho) - 1e-12)), "n": n}
    p = None
    try:
        from scipy import stats
    except ImportError:  # optional: rho needs numpy only
        pass
    else:
        p = float(stats.spearmanr(a, b).pvalue)
    return {"rho": rho, "p_value": p, "n": n}


def pool_moments(counts: Any, means: Any, variances: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) variance of a set from those of its disjoint parts, in float64.

    Part ``b`` holds ``counts[b]`` rows with per-column mean ``means[b]`` and variance
    ``variances[b]`` (divided by the part's count); with ``N = sum_b n_b``:

        mean = sum_b n_b m_b / N,   var = sum_b n_b (v_b + (m_b - mean)^2) / N

    (the law of total variance), exact for any split and free of the cancellation of
    ``E[a^2] - E[a]^2``. ``means`` and ``variances`` are (parts, ...) arrays.
    """
    n = np.asarray(counts, dtype=np.float64)
    m = np.asarray(means, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    if n.ndim != 1 or n.size < 1 or m.shape != v.shape or m.shape[:1] != n.shape:
        raise ValueError(f"counts must be (parts,) and means, variances (parts, ...) alike; got shapes {n.shape}, "
                         f"{m.shape}, {v.shape}")
    if not np.all(np.isfinite(n)) or np.any(n < 0) or n.sum() <= 0:
        raise ValueError("counts must be finite, non-negative and not all zero")
    w = (n / n.sum()).reshape((-1,) + (1,) * (m.ndim - 1))
    mean = np.sum(w * m, axis=0)
    var = np.sum(w * (v + (m - mean) ** 2), axis=0)
    return mean, np.maximum(var, 0.0)
