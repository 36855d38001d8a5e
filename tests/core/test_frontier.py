"""sift_core.frontier: Pareto points, interpolation and iso-cost comparison, against hand values and a plain rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sift_core.frontier import frontier, interpolate, iso_cost, pareto_mask

# cost = accuracy drop, value = SSIM (lower is better). (2, 0.7) is dominated by (1, 0.6):
# cheaper and more private. The front is (0, 0.9), (1, 0.6), (3, 0.3).
COST = [0.0, 1.0, 2.0, 3.0]
SSIM = [0.9, 0.6, 0.7, 0.3]
# MSE (higher is better): (2, 0.005) is dominated by (1, 0.01); front (0, 1e-3), (1, 1e-2), (3, 1e-1)
MSE = [1e-3, 1e-2, 5e-3, 1e-1]


def plain_mask(cost, value, better="low"):
    """The dominance rule written out, O(n^2), in plain Python."""
    sign = 1.0 if better == "low" else -1.0
    pts = [(float(c), sign * float(v)) for c, v in zip(cost, value)]
    out = []
    for i, (ci, vi) in enumerate(pts):
        if not (math.isfinite(ci) and math.isfinite(vi)):
            out.append(False)
            continue
        dominated = any(
            math.isfinite(cj) and math.isfinite(vj) and cj <= ci and vj <= vi and (cj < ci or vj < vi)
            for j, (cj, vj) in enumerate(pts) if j != i
        )
        out.append(not dominated)
    return np.array(out, dtype=bool)


def test_hand_computed_front_and_interpolation():
    np.testing.assert_array_equal(pareto_mask(COST, SSIM), [True, True, False, True])
    c, v = frontier(COST, SSIM)
    np.testing.assert_array_equal(c, [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(v, [0.9, 0.6, 0.3])
    # at cost 2: halfway from (1, 0.6) to (3, 0.3) -> 0.6 - 0.3 / 2 = 0.45 (the dominated 0.7 plays no part)
    assert interpolate(COST, SSIM, 2.0) == pytest.approx(0.45, abs=1e-12)
    # at 0.5: halfway from (0, 0.9) to (1, 0.6) -> 0.75
    assert interpolate(COST, SSIM, 0.5) == pytest.approx(0.75, abs=1e-12)
    # exactly at a frontier point: that point's value, bit for bit
    assert interpolate(COST, SSIM, 1.0) == 0.6
    assert interpolate(COST, SSIM, 3.0) == 0.3


def test_hand_computed_mse_front_with_log_interpolation():
    np.testing.assert_array_equal(pareto_mask(COST, MSE, better="high"), [True, True, False, True])
    # at 2: halfway in log10 from 1e-2 to 1e-1 -> 10 ** -1.5; linearly it would be 0.055
    assert interpolate(COST, MSE, 2.0, better="high", log=True) == pytest.approx(10**-1.5, rel=1e-12)
    assert interpolate(COST, MSE, 2.0, better="high") == pytest.approx(0.055, rel=1e-12)
    assert interpolate(COST, MSE, 0.5, better="high", log=True) == pytest.approx(10**-2.5, rel=1e-12)
    assert interpolate(COST, MSE, 1.0, better="high", log=True) == 1e-2


def test_out_of_range_is_none():
    assert interpolate(COST, SSIM, 3.5) is None
    assert interpolate(COST, SSIM, -0.1) is None
    assert interpolate([], [], 1.0) is None
    assert interpolate([1.0, np.nan], [np.nan, 0.5], 1.0) is None  # no finite point: no frontier
    # a single frontier point reaches only its own cost
    assert interpolate([2.0], [0.4], 2.0) == 0.4
    assert interpolate([2.0], [0.4], 2.1) is None


def test_identical_points_both_stay_and_collapse_in_the_frontier():
    np.testing.assert_array_equal(pareto_mask([1.0, 1.0, 2.0], [0.5, 0.5, 0.5]), [True, True, False])
    c, v = frontier([1.0, 1.0, 0.0], [0.5, 0.5, 0.8])
    np.testing.assert_array_equal(c, [0.0, 1.0])
    np.testing.assert_array_equal(v, [0.8, 0.5])


def test_non_finite_points_are_never_on_the_front_and_never_dominate():
    cost = [0.0, 1.0, np.nan, 2.0, -np.inf]
    value = [0.9, 0.5, 0.0, np.inf, 0.0]
    np.testing.assert_array_equal(pareto_mask(cost, value), [True, True, False, False, False])


_num = st.one_of(st.sampled_from([0.0, 1.0, 2.0, 3.0, np.nan, np.inf, -np.inf]),
                 st.floats(-5, 5, allow_nan=False))
_points = st.lists(st.tuples(_num, _num), max_size=25)


@settings(deadline=None, max_examples=200)
@given(_points, st.sampled_from(["low", "high"]))
def test_mask_matches_the_plain_dominance_rule(points, better):
    cost = [p[0] for p in points]
    value = [p[1] for p in points]
    np.testing.assert_array_equal(pareto_mask(cost, value, better=better), plain_mask(cost, value, better))


@settings(deadline=None, max_examples=100)
@given(_points)
def test_high_is_low_on_the_negated_values(points):
    cost = np.array([p[0] for p in points], dtype=np.float64)
    value = np.array([p[1] for p in points], dtype=np.float64)
    np.testing.assert_array_equal(pareto_mask(cost, value, better="high"), pareto_mask(cost, -value))
    ch, vh = frontier(cost, value, better="high")
    cl, vl = frontier(cost, -value)
    np.testing.assert_array_equal(ch, cl)
    np.testing.assert_array_equal(vh, -vl)
    for at in (0.0, 0.5, 1.7, 3.0):
        a, b = interpolate(cost, value, at, better="high"), interpolate(cost, -value, at)
        assert (a is None) == (b is None)
        if a is not None:
            assert a == pytest.approx(-b, abs=1e-12)


@settings(deadline=None, max_examples=100)
@given(_points)
def test_frontier_is_sorted_and_strictly_improving(points):
    cost = [p[0] for p in points]
    value = [p[1] for p in points]
    c, v = frontier(cost, value)
    assert np.all(np.diff(c) > 0) and np.all(np.diff(v) < 0)
    mask = pareto_mask(cost, value)
    assert {(a, b) for a, b in zip(c, v)} == {(cost[i], value[i]) for i in np.flatnonzero(mask)}


@settings(deadline=None, max_examples=100)
@given(st.lists(st.tuples(st.floats(0, 10), st.floats(1e-6, 1.0)), min_size=1, max_size=12),
       st.floats(-1, 11))
def test_log_interpolation_is_linear_interpolation_of_log10(points, at):
    cost = np.array([p[0] for p in points])
    mse = np.array([p[1] for p in points])
    got = interpolate(cost, mse, at, better="high", log=True)
    lin = interpolate(cost, np.log10(mse), at, better="high")
    assert (got is None) == (lin is None)
    if got is not None:
        assert got == pytest.approx(10**lin, rel=1e-9)


def test_iso_cost_mean_and_sd_over_seeds():
    # three seeds, each a two-point front; at cost 2 each reads halfway: 0.5, 0.6, 0.7
    curves = [([1.0, 3.0], [0.6, 0.4]), ([1.0, 3.0], [0.7, 0.5]), ([0.0, 4.0], [0.9, 0.5])]
    r = iso_cost(curves, 2.0)
    assert r["values"] == pytest.approx([0.5, 0.6, 0.7])
    assert r["mean"] == pytest.approx(0.6) and r["sd"] == pytest.approx(0.1)
    assert (r["at"], r["n_seeds"], r["n_in_range"]) == (2.0, 3, 3)


def test_iso_cost_log_averages_the_values_not_their_logs():
    curves = [([0.0, 2.0], [1e-3, 1e-1]), ([0.0, 2.0], [1e-2, 1e-2 + 1e-9])]
    r = iso_cost(curves, 1.0, better="high", log=True)
    v = [10**-2.0, 10 ** ((-2.0 + math.log10(1e-2 + 1e-9)) / 2)]
    assert r["values"] == pytest.approx(v, rel=1e-9)
    assert r["mean"] == pytest.approx(np.mean(v), rel=1e-9)
    assert r["sd"] == pytest.approx(np.std(v, ddof=1), rel=1e-6)


def test_iso_cost_is_out_of_range_unless_every_seed_reaches():
    curves = [([1.0, 3.0], [0.6, 0.4]), ([1.0, 3.0], [0.7, 0.5]), ([2.5, 3.0], [0.9, 0.5])]
    r = iso_cost(curves, 2.0)
    assert r["mean"] is None and r["sd"] is None
    assert r["n_in_range"] == 2 and r["values"][:2] == pytest.approx([0.5, 0.6]) and r["values"][2] is None
    one = iso_cost(curves[:1], 2.0)
    assert one["mean"] == pytest.approx(0.5) and one["sd"] is None
    empty = iso_cost([], 2.0)
    assert empty["mean"] is None and empty["n_seeds"] == 0


@pytest.mark.parametrize("call, name", [
    (lambda: pareto_mask(COST, SSIM, better="mid"), "better: must be 'low' or 'high'; got 'mid'"),
    (lambda: pareto_mask([[1.0, 2.0]], [1.0]), "cost: must be 1-D"),
    (lambda: pareto_mask([1.0], [[1.0]]), "value: must be 1-D"),
    (lambda: pareto_mask([1.0, 2.0], [1.0]), "cost and value: must have the same length"),
    (lambda: frontier(COST, SSIM, better="lo"), "better"),
    (lambda: interpolate(COST, [0.1, 0.0, 0.2, 0.3], 1.0, better="high", log=True), "value: must be > 0"),
    (lambda: interpolate(COST, SSIM, float("nan")), "at: must be a finite number"),
    (lambda: interpolate(COST, SSIM, "1"), "at: must be a finite number"),
    (lambda: iso_cost([(COST,)], 1.0), "curves: item 0"),
    (lambda: iso_cost("abc", 1.0), "curves: must be a list"),
    (lambda: iso_cost([(COST, SSIM)], 1.0, better="x"), "better"),
])
def test_bad_arguments_raise_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name.replace("(", r"\(")):
        call()
