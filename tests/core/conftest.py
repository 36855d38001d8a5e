"""Slow plain formulas (explicit matrices) that the fast paths and backends are checked against."""

from __future__ import annotations

import types

import numpy as np
import pytest


def plain_distances(x):
    """|x_i - x_j| from explicit differences (no Gram identity, no cancellation)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))


def plain_sums(x, z):
    """(S_ab, S_aa, S_bb, r_a, r_b) of the explicit distance matrices."""
    a, b = plain_distances(x), plain_distances(z)
    return (a * b).sum(), (a * a).sum(), (b * b).sum(), a.sum(1), b.sum(1)


def double_centre(a, unbiased=False):
    """H a H (V) or the U-centred matrix of Szekely and Rizzo (2014), zero diagonal."""
    n = len(a)
    if unbiased:
        c = a - a.sum(0)[None, :] / (n - 2) - a.sum(1)[:, None] / (n - 2) + a.sum() / ((n - 1) * (n - 2))
        np.fill_diagonal(c, 0.0)
        return c
    return a - a.mean(0)[None, :] - a.mean(1)[:, None] + a.mean()


def centred_product(a, b, unbiased=False):
    n = len(a)
    s = (double_centre(a, unbiased) * double_centre(b, unbiased)).sum()
    return s / (n * (n - 3)) if unbiased else s / n**2


def plain_dcov2(x, z, unbiased=False):
    return centred_product(plain_distances(x), plain_distances(z), unbiased)


def plain_dcor2(x, z, unbiased=False):
    a, b = plain_distances(x), plain_distances(z)
    vx, vz = centred_product(a, a, unbiased), centred_product(b, b, unbiased)
    if vx <= 0 or vz <= 0:
        return 0.0
    return centred_product(a, b, unbiased) / np.sqrt(vx * vz)


def median_bandwidth(x):
    """Median of the off-diagonal distances; if 0, the mean of the positive ones; if none, 1."""
    d = plain_distances(x)
    off = d[np.triu_indices(len(d), 1)]
    med = np.median(off)
    if med <= 0:
        med = off[off > 0].mean() if (off > 0).any() else 1.0
    return med


def gaussian_gram(x, sigma="median"):
    if sigma == "median":
        sigma = median_bandwidth(x)
    return np.exp(-(plain_distances(x) ** 2) / (2.0 * sigma**2))


def plain_hsic(k, l, unbiased=False):
    """tr(K H L H) / n^2, or the unbiased estimator of Song et al. (2012) in its trace form."""
    n = len(k)
    if not unbiased:
        h = np.eye(n) - 1.0 / n
        return np.trace(k @ h @ l @ h) / n**2
    k = k.copy()
    l = l.copy()
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    one = np.ones(n)
    return (
        np.trace(k @ l) + (one @ k @ one) * (one @ l @ one) / ((n - 1) * (n - 2)) - 2.0 / (n - 2) * one @ k @ l @ one
    ) / (n * (n - 3))


def plain_redundancy(z, include_diagonal=False):
    """Per sample np.corrcoef of the channels; constant channels count as 0."""
    z = np.asarray(z, dtype=np.float64)
    b, c = z.shape[:2]
    z = z.reshape(b, c, -1)
    total = 0.0
    for s in range(b):
        live = np.ptp(z[s], axis=1) > 0  # channels that are not constant
        corr = np.zeros((c, c))
        corr[np.ix_(live, live)] = np.corrcoef(z[s][live]) if live.sum() > 1 else 1.0
        sq = corr**2
        total += sq.sum() if include_diagonal else sq.sum() - np.trace(sq)
    pairs = c * c if include_diagonal else c * (c - 1)
    return total / (b * pairs) if pairs else 0.0


@pytest.fixture(scope="session")
def plain():
    """The slow formulas above as one namespace."""
    return types.SimpleNamespace(
        distances=plain_distances,
        sums=plain_sums,
        dcov2=plain_dcov2,
        dcor2=plain_dcor2,
        gaussian_gram=gaussian_gram,
        median_bandwidth=median_bandwidth,
        hsic=plain_hsic,
        redundancy=plain_redundancy,
    )


def make_pair(seed, n, d, q, kind="smooth"):
    """Reproducible (x, z) pairs with the awkward cases that matter for exactness.

    kinds: "smooth" (continuous, dependent), "ties" (small integers: many ties
    and repeated rows), "offset" (far from the origin, small spread),
    "outlier" (heavy tail), "independent".
    """
    rng = np.random.default_rng(seed)
    if kind == "ties":
        x = rng.integers(0, 3, size=(n, d)).astype(np.float64)
        z = (x[:, :1] + rng.integers(0, 2, size=(n, q))).astype(np.float64)
        return x, z
    x = rng.normal(size=(n, d))
    if kind == "independent":
        return x, rng.normal(size=(n, q))
    z = np.tanh(x @ rng.normal(size=(d, q))) + 0.3 * rng.normal(size=(n, q))
    if kind == "offset":
        x = x * 1e-2 + 1e4
        z = z * 1e3 - 5e5
    elif kind == "outlier":
        x = x.copy()
        x[0] *= 1e4
    return x, z


@pytest.fixture(scope="session")
def pair():
    return make_pair

