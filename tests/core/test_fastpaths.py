"""Every numba fast path against the slow plain formula (explicit matrices), float64, 1e-10 relative.

Paths: the blocked Gram kernel (one block and many), the direct-difference
kernel, the O(n log n) one-dimensional merge sort (plain and shifted sums),
and the Gaussian-kernel sums behind HSIC; each is
checked on its own and through the public functions, with the dispatch
thresholds lowered so that small hypothesis examples reach it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sift_core as sc
from sift_core import dependence as dep
from sift_core._dcov_1d import distance_sums_1d
from sift_core._dcov_numba import distance_sums, gaussian_kernel_sums, upper_sq_distances

RTOL = 1e-10
KINDS = st.sampled_from(["smooth", "ties", "offset", "outlier", "independent"])
SEEDS = st.integers(0, 2**32 - 1)


def assert_sums_match(fast, slow, magnitude=None):
    """Each sum to RTOL; sums that cancel to ~0 to 1e-13 of ``magnitude`` (default: their own size)."""
    names = ("S_ab", "S_aa", "S_bb", "r_a", "r_b")
    magnitude = slow if magnitude is None else magnitude
    for name, f, s, m in zip(names, fast, slow, magnitude):
        s = np.asarray(s, dtype=np.float64)
        scale = float(np.max(np.abs(m))) if s.size else 0.0
        np.testing.assert_allclose(f, s, rtol=RTOL, atol=1e-13 * scale, err_msg=name)


def assert_stat_match(fast, slow, scale):
    """Relative agreement, with a floor for statistics that cancel to near 0."""
    assert abs(fast - slow) <= RTOL * max(abs(slow), 1e-3 * scale), (fast, slow)


def plain_shifted_sums(plain, x, z, rows=255):
    """Sums of a'_ij = a_ij - u_i - u_j off the diagonal, u = distance to the column-median point.

    The point is the column median of the first ``rows`` samples (all for the 1-D path).
    """
    out = []
    for v in (x, z):
        v = v.reshape(len(v), -1)
        u = np.sqrt(((v - np.median(v[:rows], axis=0)) ** 2).sum(1))
        a = plain.distances(v) - u[:, None] - u[None, :]
        np.fill_diagonal(a, 0.0)
        out.append((a, u))
    (a, u), (b, v) = out
    return (a * b).sum(), (a * a).sum(), (b * b).sum(), a.sum(1), b.sum(1), u, v


@settings(deadline=None, max_examples=40)
@given(
    seed=SEEDS,
    n=st.integers(2, 70),
    d=st.integers(1, 6),
    q=st.integers(1, 4),
    kind=KINDS,
    method=st.sampled_from(["gram", "gram-multi", "direct"]),
    shifted=st.booleans(),
)
def test_blocked_sums_match_plain(plain, pair, seed, n, d, q, kind, method, shifted):
    x, z = pair(seed, n, d, q, kind)
    # block_bytes=1 forces the 16-row minimum: several blocks for n > 16
    block = 1 if method == "gram-multi" else 64 * 2**20
    fast = distance_sums(x, z, block_bytes=block, shifted=shifted, method=method.split("-")[0])
    raw = plain.sums(x, z)
    slow = plain_shifted_sums(plain, x, z) if shifted else raw
    assert_sums_match(fast[:5], slow[:5], raw)
    if shifted:
        np.testing.assert_allclose(fast[5], slow[5], rtol=1e-13)
        np.testing.assert_allclose(fast[6], slow[6], rtol=1e-13)


def test_direct_tiles_match_gram(pair):
    """More samples than one tile of columns (512), many dimensions: both methods agree."""
    x, z = pair(3, 700, 40, 30, "smooth")
    for shifted in (False, True):
        a = distance_sums(x, z, method="direct", shifted=shifted)
        b = distance_sums(x, z, method="gram", shifted=shifted)
        assert_sums_match(a[:5], b[:5])


@settings(deadline=None, max_examples=40)
@given(seed=SEEDS, n=st.integers(1, 300), kind=KINDS, levels=st.sampled_from([0, 2, 5]))
def test_1d_sums_match_plain(plain, pair, seed, n, kind, levels):
    x, z = pair(seed, n, 1, 1, kind)
    if levels:  # heavy ties: few distinct values in each variable
        x = np.round(x * levels / (np.ptp(x) + 1e-300))
        z = np.round(z * levels / (np.ptp(z) + 1e-300))
    fast = distance_sums_1d(x[:, 0], z[:, 0])
    assert_sums_match(fast, plain.sums(x, z))
    shifted = distance_sums_1d(x[:, 0], z[:, 0], shifted=True)
    slow = plain_shifted_sums(plain, x, z, rows=n)
    assert_sums_match(shifted[:5], slow[:5], plain.sums(x, z))
    np.testing.assert_allclose(shifted[5], slow[5], rtol=1e-13, atol=1e-300)


def test_1d_sums_all_tied_and_tiny():
    assert distance_sums_1d(np.zeros(0), np.zeros(0))[0] == 0.0
    s_ab, s_aa, s_bb, ra, rb = distance_sums_1d(np.full(50, 3.0), np.arange(50.0))
    assert s_ab == 0.0 and s_aa == 0.0 and np.all(ra == 0.0) and s_bb > 0


@pytest.mark.parametrize("path", ["dense", "blocked", "1d"])
@settings(deadline=None, max_examples=15)
@given(seed=SEEDS, n=st.integers(6, 60), d=st.integers(1, 4), kind=KINDS)
def test_public_functions_on_each_path(plain, pair, path, seed, n, d, kind):
    if path == "1d":
        d = 1
    x, z = pair(seed, n, d, 1 if path == "1d" else 3, kind)
    thresholds = {"dense": (10**9, 10**9), "blocked": (2, 10**9), "1d": (10**9, 2)}[path]
    a, b = plain.distances(x), plain.distances(z)
    scale = a.mean() * b.mean()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dep, "BLOCKED_MIN_N", thresholds[0])
        mp.setattr(dep, "FAST_1D_MIN_N", thresholds[1])
        for unbiased in (False, True):
            assert_stat_match(
                sc.distance_covariance(x, z, unbiased=unbiased, squared=True), plain.dcov2(x, z, unbiased), scale
            )
            assert_stat_match(
                sc.distance_variance(x, unbiased=unbiased, squared=True), plain.dcov2(x, x, unbiased), a.mean() ** 2
            )
            assert_stat_match(
                sc.distance_correlation(x, z, unbiased=unbiased, squared=True), plain.dcor2(x, z, unbiased), 1.0
            )


def test_dispatch_at_real_thresholds(plain, pair):
    """No patching: n just above each threshold takes the fast path and matches."""
    for n, d in ((dep.BLOCKED_MIN_N + 5, 3), (dep.FAST_1D_MIN_N + 3, 1)):
        x, z = pair(7, n, d, d, "ties" if d == 1 else "smooth")
        for unbiased in (False, True):
            assert_stat_match(
                sc.distance_correlation(x, z, unbiased=unbiased, squared=True), plain.dcor2(x, z, unbiased), 1.0
            )


@settings(deadline=None, max_examples=25)
@given(
    seed=SEEDS,
    n=st.integers(2, 60),
    d=st.integers(1, 5),
    kind=KINDS,
    method=st.sampled_from(["gram", "gram-multi", "direct"]),
)
def test_upper_sq_distances_match_plain(plain, pair, seed, n, d, kind, method):
    x, _ = pair(seed, n, d, 1, kind)
    block = 1 if method == "gram-multi" else 64 * 2**20
    fast = upper_sq_distances(x, block_bytes=block, method=method.split("-")[0])
    slow = plain.distances(x)[np.triu_indices(n, 1)] ** 2
    np.testing.assert_allclose(fast, slow, rtol=RTOL, atol=1e-13 * (slow.max() if slow.size else 0.0))


@settings(deadline=None, max_examples=25)
@given(
    seed=SEEDS,
    n=st.integers(4, 50),
    d=st.integers(1, 4),
    kind=KINDS,
    bandwidth=st.sampled_from(["median", 0.7, 3.0]),
)
def test_gaussian_kernel_sums_match_plain(plain, pair, seed, n, d, kind, bandwidth):
    x, z = pair(seed, n, d, 2, kind)
    fast = gaussian_kernel_sums(x, z, bandwidth)
    # the kernels shifted by their diagonals' complements, off the diagonal
    k = plain.gaussian_gram(x, bandwidth) - (1.0 - fast[5][0])
    l_ = plain.gaussian_gram(z, bandwidth) - (1.0 - fast[6][0])
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l_, 0.0)
    slow = ((k * l_).sum(), (k * k).sum(), (l_ * l_).sum(), k.sum(1), l_.sum(1))
    assert_sums_match(fast[:5], slow, (n * n, n * n, n * n, np.full(n, n), np.full(n, n)))
    for v, shift in ((x, fast[5]), (z, fast[6])):
        d2 = plain.distances(v)[np.triu_indices(n, 1)] ** 2
        sigma = plain.median_bandwidth(v) if bandwidth == "median" else bandwidth
        assert shift == pytest.approx(np.full(n, 1.0 - np.exp(-d2.mean() / (2 * sigma**2))), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("fast", [True, False])
@settings(deadline=None, max_examples=15)
@given(seed=SEEDS, n=st.integers(6, 50), kind=KINDS, unbiased=st.booleans())
def test_hsic_paths_match_trace_formula(plain, pair, fast, seed, n, kind, unbiased):
    x, z = pair(seed, n, 3, 2, kind)
    k, l_ = plain.gaussian_gram(x), plain.gaussian_gram(z)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(dep, "BLOCKED_MIN_N", 2 if fast else 10**9)
        value = sc.hsic(x, z, unbiased=unbiased)
        norm = sc.hsic(x, z, unbiased=unbiased, normalized=True)
    assert_stat_match(value, plain.hsic(k, l_, unbiased), 1.0)
    vk, vl = plain.hsic(k, k, unbiased), plain.hsic(l_, l_, unbiased)
    expected = plain.hsic(k, l_, unbiased) / np.sqrt(vk * vl) if vk > 0 and vl > 0 else 0.0
    assert_stat_match(norm, expected, 1.0)
