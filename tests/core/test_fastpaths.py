"""Every numba fast path against the slow plain formula (explicit matrices), float64, 1e-10 relative.

Paths: the blocked Gram kernel (one block and many), the O(n log n)
one-dimensional merge sort, and the Gaussian-kernel sums behind HSIC; each is
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


def assert_sums_match(fast, slow):
    names = ("S_ab", "S_aa", "S_bb", "r_a", "r_b")
    for name, f, s in zip(names, fast, slow):
        s = np.asarray(s, dtype=np.float64)
        scale = float(np.max(np.abs(s))) if s.size else 0.0
        np.testing.assert_allclose(f, s, rtol=RTOL, atol=1e-13 * scale, err_msg=name)


def assert_stat_match(fast, slow, scale):
    """Relative agreement, with a floor for statistics that cancel to near 0."""
    assert abs(fast - slow) <= RTOL * max(abs(slow), 1e-3 * scale), (fast, slow)


@settings(deadline=None, max_examples=40)
@given(seed=SEEDS, n=st.integers(2, 70), d=st.integers(1, 6), q=st.integers(1, 4), kind=KINDS, multi=st.booleans())
def test_blocked_sums_match_plain(plain, pair, seed, n, d, q, kind, multi):
    x, z = pair(seed, n, d, q, kind)
    # block_bytes=1 forces the 16-row minimum: several blocks for n > 16
    fast = distance_sums(x, z, block_bytes=1 if multi else 64 * 2**20)
    assert_sums_match(fast, plain.sums(x, z))


@settings(deadline=None, max_examples=40)
@given(seed=SEEDS, n=st.integers(1, 300), kind=KINDS, levels=st.sampled_from([0, 2, 5]))
def test_1d_sums_match_plain(plain, pair, seed, n, kind, levels):
    x, z = pair(seed, n, 1, 1, kind)
    if levels:  # heavy ties: few distinct values in each variable
        x = np.round(x * levels / (np.ptp(x) + 1e-300))
        z = np.round(z * levels / (np.ptp(z) + 1e-300))
    fast = distance_sums_1d(x[:, 0], z[:, 0])
    assert_sums_match(fast, plain.sums(x, z))


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
@given(seed=SEEDS, n=st.integers(2, 60), d=st.integers(1, 5), kind=KINDS, multi=st.booleans())
def test_upper_sq_distances_match_plain(plain, pair, seed, n, d, kind, multi):
    x, _ = pair(seed, n, d, 1, kind)
    fast = upper_sq_distances(x, block_bytes=1 if multi else 64 * 2**20)
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
    k = plain.gaussian_gram(x, bandwidth) - 1.0
    l_ = plain.gaussian_gram(z, bandwidth) - 1.0
    slow = ((k * l_).sum(), (k * k).sum(), (l_ * l_).sum(), k.sum(1), l_.sum(1))
    assert_sums_match(gaussian_kernel_sums(x, z, bandwidth), slow)


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
