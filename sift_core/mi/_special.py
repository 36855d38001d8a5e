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
