"""Digamma and log-gamma without scipy (the core depends on numpy and numba only)."""

from __future__ import annotations

import math

import numpy as np

EULER_GAMMA = 0.57721566490153286061


def digamma(x: float) -> float:
    """psi(x) = d/dx log Gamma(x) for real x > 0.

    Recurrence psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic
    series psi(x) ~ log x - 1/(2x) - sum_k B_2k / (2k x^2k) (Abramowitz and
    Stegun 6.3.18); absolute error below 1e-14.
    """
    x = float(x)
    if not x > 0:
        raise ValueError(f"digamma is implemented for x > 0; got {x!r}")
    acc = 0.0
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    inv2 = 1.0 / (x * x)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 * (1 / 132)))))
    return acc + math.log(x) - 0.5 / x - series


def digamma_table(n: int) -> np.ndarray:
    """psi(m) for integers m = 0..n (entry 0 is -inf): psi(m) = -gamma + sum_{j<m} 1/j."""
    out = np.empty(n + 1)
    out[0] = -np.inf
    if n >= 1:
        harmonic = np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, n, dtype=np.float64))))
        out[1:] = harmonic - EULER_GAMMA
    return out


def lgamma(x: float) -> float:
    """log Gamma(x) for x > 0."""
    return math.lgamma(float(x))


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """Phi^{-1}(p) for p in (0, 1): Acklam's rational approximation (relative error < 1.2e-9)."""
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)  # fmt: skip
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    p = np.asarray(p, dtype=np.float64)
    out = np.empty_like(p)
    lo = p < 0.02425
    hi = p > 1 - 0.02425
    mid = ~(lo | hi)
    q = p[mid] - 0.5
    r = q * q
    num = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
    den = ((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0
    out[mid] = num / den
    for mask, sign, tail in ((lo, 1.0, p[lo]), (hi, -1.0, 1.0 - p[hi])):
        q = np.sqrt(-2.0 * np.log(tail))
        num = ((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]
        den = (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0
        out[mask] = sign * num / den
    return out
