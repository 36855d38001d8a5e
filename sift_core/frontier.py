"""Privacy-utility frontiers: Pareto points, interpolation along them, comparison at one cost.

A defence trained at several strengths gives points ``(cost_i, value_i)``: ``cost`` is the
accuracy it costs (lower is better for the defender) and ``value`` a privacy figure, either
one where lower is better (the worst-case SSIM of the reconstructions, ``better="low"``) or
one where higher is better (the worst-case MSE, ``better="high"``).

* :func:`pareto_mask` and :func:`frontier`: the points no other point beats on both axes;
* :func:`interpolate`: the value the frontier reaches at a given cost, linear between
  consecutive frontier points (log-linear for figures that span decades, such as MSE);
* :func:`iso_cost`: that value over several seeds, reported only where every seed's
  frontier reaches the cost.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["pareto_mask", "frontier", "interpolate", "iso_cost"]

_BETTER = ("low", "high")


def _points(cost: Any, value: Any, better: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated float64 (cost, value) with value negated for ``better="high"``: lower is better on both."""
    if better not in _BETTER:
        raise ValueError(f"better: must be 'low' or 'high'; got {better!r}")
    out = []
    for name, x in (("cost", cost), ("value", value)):
        try:
            a = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: must be a 1-D array of numbers; {exc}") from None
        if a.ndim != 1:
            raise ValueError(f"{name}: must be 1-D; got shape {a.shape}")
        out.append(a)
    c, v = out
    if len(c) != len(v):
        raise ValueError(f"cost and value: must have the same length; got {len(c)} and {len(v)}")
    return c, (v if better == "low" else -v)


def _mask(c: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Non-dominated finite points when lower is better on both axes; O(n log n)."""
    mask = np.zeros(len(c), dtype=bool)
    ok = np.flatnonzero(np.isfinite(c) & np.isfinite(v))
    if len(ok) == 0:
        return mask
    order = ok[np.lexsort((v[ok], c[ok]))]  # by cost, then value
    cs, vs = c[order], v[order]
    start = np.searchsorted(cs, cs, side="left")  # first index of each point's equal-cost group
    running = np.minimum.accumulate(vs)
    # best value among strictly cheaper points: the running minimum just before the group starts
    before = np.where(start > 0, running[np.maximum(start - 1, 0)], np.inf)
    # on the front: the best value of its cost group, strictly better than anything cheaper
    mask[order] = (vs == vs[start]) & (vs < before)
    return mask


def pareto_mask(cost: Any, value: Any, *, better: str = "low") -> np.ndarray:
    """Which points lie on the Pareto frontier of (cost, value).

    Point ``i`` is dominated when another point ``j`` has ``cost_j <= cost_i`` and a value
    at least as good (``value_j <= value_i`` for ``better="low"``, ``>=`` for ``"high"``),
    with at least one of the two strict. The frontier is the set of points no other point
    dominates; identical points do not dominate each other, so both stay.

    Parameters
    ----------
    cost : array-like of shape (n,)
        The cost of each point (e.g. accuracy drop); lower is better.
    value : array-like of shape (n,)
        The figure traded against it.
    better : {"low", "high"}, default="low"
        Whether a lower value (SSIM) or a higher one (MSE) is better.

    Returns
    -------
    mask : ndarray of bool, shape (n,)
        True for frontier points. A point with a non-finite cost or value is never on the
        frontier and never dominates another.
    """
    c, v = _points(cost, value, better)
    return _mask(c, v)


def frontier(cost: Any, value: Any, *, better: str = "low") -> tuple[np.ndarray, np.ndarray]:
    """The Pareto frontier's points sorted by cost ascending.

    Identical frontier points are returned once. Along the result the value strictly
    improves as the cost grows (two frontier points of one cost would dominate each other).

    Returns
    -------
    cost, value : ndarray of shape (k,)
        The frontier's costs and values (the values as given, not negated).
    """
    c, v = _points(cost, value, better)
    idx = np.flatnonzero(_mask(c, v))
    idx = idx[np.argsort(c[idx], kind="stable")]
    _, first = np.unique(c[idx], return_index=True)  # one per cost: on the front equal costs are identical
    idx = idx[first]
    raw = np.asarray(value, dtype=np.float64)
    return c[idx], raw[idx]


def _check_at(at: Any) -> float:
    if isinstance(at, bool) or not isinstance(at, (int, float, np.integer, np.floating)) or not math.isfinite(at):
        raise ValueError(f"at: must be a finite number; got {at!r}")
    return float(at)


def interpolate(cost: Any, value: Any, at: float, *, better: str = "low", log: bool = False) -> float | None:
    """The value the frontier reaches at cost ``at``.

    Linear interpolation between the two consecutive frontier points around ``at``, in
    ``log10(value)`` when ``log`` is True (for figures spanning decades, such as MSE), so
    ``value = 10 ** interp(at, cost_f, log10(value_f))``. Exactly at a frontier point the
    result is that point's value.

    Parameters
    ----------
    cost, value : array-like of shape (n,)
        The points; see :func:`pareto_mask`.
    at : float
        The cost at which to read the frontier.
    better : {"low", "high"}, default="low"
    log : bool, default=False
        Interpolate in log10 of the value; every value must then be > 0.

    Returns
    -------
    value : float or None
        None when the frontier has no point, or ``at`` lies outside ``[min cost, max cost]``
        of the frontier: the frontier does not reach that cost, and extrapolating would
        report a privacy no trained model showed.
    """
    at = _check_at(at)
    if not isinstance(log, bool):
        raise ValueError(f"log: must be a bool; got {log!r}")
    c, v = frontier(cost, value, better=better)
    if log:
        raw = np.asarray(value, dtype=np.float64)
        if np.any(raw <= 0):
            raise ValueError(f"value: must be > 0 with log=True; got a minimum of {float(np.nanmin(raw))!r}")
    if len(c) == 0 or at < c[0] or at > c[-1]:
        return None
    hit = np.flatnonzero(c == at)
    if len(hit):
        return float(v[hit[0]])
    if log:
        return float(10.0 ** np.interp(at, c, np.log10(v)))
    return float(np.interp(at, c, v))


def iso_cost(curves: list[tuple[Any, Any]], at: float, *, better: str = "low", log: bool = False) -> dict[str, Any]:
    """The frontier's value at cost ``at`` over seeds: each seed's own frontier, interpolated.

    Parameters
    ----------
    curves : list of (cost, value) pairs
        One pair of 1-D arrays per seed.
    at, better, log
        As in :func:`interpolate`.

    Returns
    -------
    result : dict
        ``{"at", "mean", "sd", "n_seeds", "n_in_range", "values"}``. ``values`` holds each
        seed's interpolated value (None where its frontier does not reach ``at``). ``mean``
        and the sample standard deviation ``sd`` (ddof=1) are taken over the values
        themselves (also with ``log=True``), and only when *every* seed's frontier reaches
        ``at``: a cost that some seeds reach is out of range, since averaging those alone
        would favour the lucky seeds. Out of range, both are None; ``sd`` is also None
        with fewer than two seeds.
    """
    at = _check_at(at)
    if not isinstance(curves, (list, tuple)):
        raise ValueError(f"curves: must be a list of (cost, value) pairs; got {type(curves).__name__}")
    values: list[float | None] = []
    for i, pair in enumerate(curves):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ValueError(f"curves: item {i} must be a (cost, value) pair")
        values.append(interpolate(pair[0], pair[1], at, better=better, log=log))
    reached = [x for x in values if x is not None]
    mean = sd = None
    if curves and len(reached) == len(curves):
        arr = np.asarray(reached, dtype=np.float64)
        mean = float(arr.mean())
        sd = float(arr.std(ddof=1)) if len(arr) >= 2 else None
    return {"at": at, "mean": mean, "sd": sd, "n_seeds": len(curves), "n_in_range": len(reached), "values": values}
