"""sift_core.stats: tie-averaged ranks and Spearman's rho against scipy, ties and degenerate input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sift_core import stats

values = st.lists(st.integers(-4, 4) | st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40)


@settings(deadline=None, max_examples=80)
@given(values)
def test_rankdata_matches_scipy_with_ties(v):
    scipy_stats = pytest.importorskip("scipy.stats")
    np.testing.assert_array_equal(stats.rankdata(v), scipy_stats.rankdata(v, method="average"))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_rankdata_along_an_axis_matches_scipy(axis):
    scipy_stats = pytest.importorskip("scipy.stats")
    m = np.random.default_rng(0).integers(0, 4, size=(7, 5, 3)).astype(float)
    np.testing.assert_array_equal(stats.rankdata(m, axis=axis), scipy_stats.rankdata(m, axis=axis))


def test_rankdata_ties_and_edge_cases():
    np.testing.assert_array_equal(stats.rankdata([10, 20, 10, 30]), [1.5, 3, 1.5, 4])
    np.testing.assert_array_equal(stats.rankdata([7, 7, 7]), [2, 2, 2])
    np.testing.assert_array_equal(stats.rankdata([-0.0, 0.0, math.inf, -math.inf]), [2.5, 2.5, 4, 1])
    assert stats.rankdata([]).shape == (0,)
    # NaNs rank last, each on its own
    np.testing.assert_array_equal(stats.rankdata([np.nan, 1.0, np.nan, 0.0]), [3, 2, 4, 1])
    with pytest.raises(ValueError, match="at least one dimension"):
        stats.rankdata(3.0, axis=0)


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(st.integers(-5, 5), st.floats(-10, 10, allow_nan=False)), min_size=3, max_size=25))
def test_spearman_matches_scipy_with_ties(pairs):
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = np.array(pairs, dtype=float).T
    got = stats.spearman(a, b)
    assert got["n"] == len(a)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        assert got["rho"] is None and got["p_value"] is None and "constant" in got["note"]
    else:
        ref = scipy_stats.spearmanr(a, b)
        assert got["rho"] == pytest.approx(ref.statistic, abs=1e-12)
        if len(a) > stats.EXACT_MAX_N:
            assert got["p_value"] == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-300)
        else:
            assert got["p_value"] == pytest.approx(_brute_force_p(a, b), abs=1e-12)


def _brute_force_p(a, b) -> float:
    """Two-sided permutation p-value by a plain loop: Pearson's r of the ranks (scipy's rankdata for
    ties) over every ordering of b."""
    import itertools

    scipy_stats = pytest.importorskip("scipy.stats")
    ra, rb = scipy_stats.rankdata(a), scipy_stats.rankdata(b)
    observed = abs(np.corrcoef(ra, rb)[0, 1])
    hits = total = 0
    for order in itertools.permutations(range(len(a))):
        total += 1
        hits += abs(np.corrcoef(ra, rb[list(order)])[0, 1]) >= observed - 1e-12
    return hits / total


def test_small_samples_get_the_exact_permutation_p_value():
    # untied: rho = 1 - 6 sum d^2 / (n (n^2 - 1)); for n = 5 only the two monotone orderings reach |rho| = 1
    assert stats.spearman([1, 2, 3, 4, 5], [2, 4, 6, 8, 10]) == {"rho": pytest.approx(1.0), "p_value":
                                                                 pytest.approx(2 / 120), "n": 5}
    # n = 3, rho = 0.5: the six orderings give rho 1, 0.5, 0.5, -0.5, -0.5, -1, all with |rho| >= 0.5
    assert stats.spearman([1, 2, 3], [1, 3, 2])["p_value"] == pytest.approx(1.0)
    # n = 4, rho = 0.8: |rho| >= 0.8 for the orderings 1234, 2134, 1243, 1324 and their reverses: 8 of 24
    assert stats.spearman([1, 2, 3, 4], [1, 3, 2, 4])["p_value"] == pytest.approx(8 / 24)


def test_spearman_degenerate_cases():
    assert stats.spearman([1, 2], [3, 4]) == {"rho": None, "p_value": None, "n": 2,
                                              "note": "fewer than 3 rows with both values"}
    got = stats.spearman([1, 2, np.nan, 4, 5], [1, 2, 3, np.inf, 5])  # non-finite pairs are left out
    assert got["n"] == 3 and got["rho"] == pytest.approx(1.0)
    assert stats.spearman([1, 2, 3], [3, 2, 1])["rho"] == pytest.approx(-1.0)
    assert stats.spearman([1, 1, 1, 1], [1, 2, 3, 4])["rho"] is None
    with pytest.raises(ValueError, match="a and b"):
        stats.spearman([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="a and b"):
        stats.spearman([[1, 2, 3]], [[1, 2, 3]])


def test_spearman_without_scipy_gives_no_p_value(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_scipy(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("scipy is hidden")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scipy)
    got = stats.spearman(np.arange(10), [0, 2, 1, 3, 4, 5, 6, 7, 9, 8])
    assert got["rho"] == pytest.approx(1 - 6 * 4 / (10 * 99)) and got["p_value"] is None
    # the exact p-value of a small sample needs numpy only
    assert stats.spearman([1, 2, 3, 4], [1, 3, 2, 4])["p_value"] == pytest.approx(8 / 24)


def test_core_stats_imports_without_scipy():
    import subprocess
    import sys

    code = ("import sys; sys.modules['scipy'] = None; import sift_core; s = sift_core.stats; "
            "print(s.spearman(list(range(9)), [1, 0, 2, 3, 4, 5, 6, 7, 8])['p_value'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "None"


def test_pooled_moments_equal_those_of_the_whole_set():
    from sift_core.stats import pool_moments

    rng = np.random.default_rng(0)
    a = 1e4 + rng.standard_normal((1000, 3))  # a large mean: E[a^2] - E[a]^2 would cancel
    cuts = [0, 7, 300, 301, 1000]
    parts = [a[i:j] for i, j in zip(cuts, cuts[1:])]
    mean, var = pool_moments([len(p) for p in parts], [p.mean(0) for p in parts], [p.var(0) for p in parts])
    np.testing.assert_allclose(mean, a.mean(0), rtol=1e-14)
    np.testing.assert_allclose(var, a.var(0), rtol=1e-9)
    with pytest.raises(ValueError, match="counts"):
        pool_moments([0, 0], [[1.0], [2.0]], [[1.0], [1.0]])
    with pytest.raises(ValueError, match="shapes"):
        pool_moments([1], [[1.0], [2.0]], [[1.0], [1.0]])
