"""Units of the inputs: dCor, HSIC, R_P and KSG at magnitudes from 1e-100 to 1e100, constants and ties.

dCor, HSIC with the median bandwidth, CKA and R_P do not change when an input is multiplied by
a positive number or shifted; distance covariance scales as sqrt(|a b|).  Rescaled and shifted
copies must give the same values (equal within rounding) or a ValueError, never 0, 1 or NaN
from an underflow or overflow.

Tolerances (measured on 300 random draws of scale 10^[-100, 100] and shift up to 1,000 spreads,
n = 6 to 40): largest differences 2.3e-14 (dCor), 4.0e-13 (unbiased dCor^2), 6.2e-15 (HSIC),
4.8e-14 (CKA), 1.9e-14 (R_P), 5.9e-14 relative (dCov); KSG was unchanged exactly.  The tests
allow 1e-10 (1e-9 relative for dCov, 1e-6 for KSG, whose neighbour counts could flip on a
rounding tie).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sift_core
from sift_core import mi

TOL = 1e-10
DCOV_REL_TOL = 1e-9
KSG_TOL = 1e-6

scales = st.floats(-100.0, 100.0).map(lambda e: 10.0**e)
shifts = st.floats(-1000.0, 1000.0)


def _pair(seed: int, n: int, d: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    z = np.tanh(x[:, :1]) + 0.5 * rng.standard_normal((n, 2))
    return x, z


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), n=st.integers(6, 40), d=st.integers(1, 3),
       sx=scales, sz=scales, tx=shifts, tz=shifts)
def test_dcor_and_hsic_do_not_depend_on_units(seed, n, d, sx, sz, tx, tz):
    x, z = _pair(seed, n, d)
    xs, zs = (x + tx) * sx, (z + tz) * sz
    for kw in ({}, {"unbiased": True, "squared": True}):
        assert abs(sift_core.distance_correlation(xs, zs, **kw) - sift_core.distance_correlation(x, z, **kw)) <= TOL
    assert abs(sift_core.hsic(xs, zs) - sift_core.hsic(x, z)) <= TOL
    assert abs(sift_core.hsic(xs, zs, normalized=True) - sift_core.hsic(x, z, normalized=True)) <= TOL
    assert abs(sift_core.hsic(xs, zs, kernel="linear", normalized=True)
               - sift_core.hsic(x, z, kernel="linear", normalized=True)) <= TOL
    expected = sift_core.distance_covariance(x, z) * math.sqrt(sx) * math.sqrt(sz)
    assert sift_core.distance_covariance(xs, zs) == pytest.approx(expected, rel=DCOV_REL_TOL)


@settings(max_examples=40)
@given(seed=st.integers(0, 2**31), s=scales, t=shifts, channel_scales=st.lists(scales, min_size=4, max_size=4))
def test_channel_redundancy_does_not_depend_on_units(seed, s, t, channel_scales):
    rng = np.random.default_rng(seed)
    fm = rng.standard_normal((3, 4, 5, 5))
    fm[:, 1] += 0.7 * fm[:, 0]  # correlated channels: R_P well above 0
    ref = sift_core.channel_redundancy(fm)
    assert abs(sift_core.channel_redundancy((fm + t) * s) - ref) <= TOL
    # a correlation does not change when one channel alone is rescaled
    per_channel = fm * np.asarray(channel_scales)[None, :, None, None]
    assert abs(sift_core.channel_redundancy(per_channel) - ref) <= TOL


@settings(max_examples=10)
@given(seed=st.integers(0, 2**31), sx=scales, sz=scales, tx=shifts)
def test_ksg_does_not_depend_on_units(seed, sx, sz, tx):
    x, z = _pair(seed, 300, 2)
    assert abs(mi.ksg((x + tx) * sx, z * sz) - mi.ksg(x, z)) <= KSG_TOL


@pytest.mark.parametrize("n", [300, 2100], ids=["blocked", "one-dimensional"])
@pytest.mark.parametrize("s", [1e-200, 1e-90, 1e200])
def test_fast_paths_at_extreme_units(n, s):
    # n >= 256 runs the numba kernels; one-dimensional samples with n >= 2048 the O(n log n) path
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, 1))
    z = x + 0.5 * rng.standard_normal((n, 1))
    ref = sift_core.distance_correlation(x, z)
    assert 0.5 < ref < 1.0
    assert abs(sift_core.distance_correlation(x * s, z) - ref) <= TOL
    assert abs(sift_core.distance_correlation(x * s, z * s) - ref) <= TOL
    assert abs(sift_core.hsic(x * s, z * s) - sift_core.hsic(x, z)) <= TOL
    assert abs(sift_core.hsic(x * s, z * s, bandwidth=2.0 * s) - sift_core.hsic(x, z, bandwidth=2.0)) <= TOL


def test_fixed_bandwidth_moves_with_the_units():
    # a numeric bandwidth is in the units of the data: scaling data and bandwidth together changes nothing
    x, z = _pair(3, 30, 2)
    ref = sift_core.hsic(x, z, bandwidth=1.5)
    for s in (1e-150, 1e150):
        assert abs(sift_core.hsic(x * s, z * s, bandwidth=1.5 * s) - ref) <= TOL
    # a bandwidth far below every distance makes both kernels the identity (sigma^2 underflows)
    tiny = sift_core.hsic(x, z, bandwidth=1e-200)
    assert math.isfinite(tiny) and tiny == pytest.approx(sift_core.hsic(x, z, bandwidth=1e-3), abs=TOL)


@pytest.mark.parametrize("s", [1e-200, 1.0, 1e200])
def test_constants_keep_their_documented_values(s):
    x, _ = _pair(1, 30, 3)
    const = np.full((30, 2), 3.0 * s)
    assert sift_core.distance_correlation(x, const) == 0.0
    assert sift_core.distance_correlation(const, const) == 0.0
    assert sift_core.hsic(x * s, const, normalized=True) == 0.0
    assert sift_core.channel_redundancy(np.full((2, 3, 4, 4), 5.0 * s)) == 0.0


def test_statistics_beyond_the_float64_range_raise():
    x, z = _pair(2, 30, 2)
    with pytest.raises(ValueError, match="float64 range"):
        sift_core.hsic(x * 1e200, z * 1e200, kernel="linear")  # ~1e800
    with pytest.raises(ValueError, match="float64 range"):
        sift_core.distance_covariance(x * 1e300, z * 1e300, squared=True)  # ~1e600
    # unsquared it is representable
    assert sift_core.distance_covariance(x * 1e300, z * 1e300) == pytest.approx(
        sift_core.distance_covariance(x, z) * 1e300, rel=DCOV_REL_TOL)


def test_framework_autograd_survives_the_rescaling():
    torch = pytest.importorskip("torch")
    x, z = _pair(4, 40, 3)
    grads = {}
    for s in (1.0, 1e-150, 1e150):
        xt = torch.tensor(x * s, requires_grad=True)
        d = sift_core.distance_correlation(xt, torch.tensor(z))
        d.backward()
        assert abs(float(d) - sift_core.distance_correlation(x, z)) <= TOL
        grads[s] = xt.grad.numpy() * s  # dCor(c x) = dCor(x): the gradient scales as 1/c
    for s in (1e-150, 1e150):
        np.testing.assert_allclose(grads[s], grads[1.0], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- KSG on constants and ties


def test_ksg_of_a_constant_is_exactly_zero():
    rng = np.random.default_rng(0)
    for ties in ("exact", "mixed"):
        assert mi.ksg(np.ones(200), np.ones(200), ties=ties) == 0.0
        assert mi.ksg(rng.standard_normal((200, 2)), np.full((200, 3), 7.0), ties=ties) == 0.0


def test_ksg_of_independent_atoms_is_near_zero():
    # measured over seeds 0-19 (3 and 4 atoms, n = 2,000, default ties="exact"): mean -0.009,
    # standard deviation 0.014, range -0.029 to 0.020; before the ties were broken: 9.7 nats
    for seed in range(3):
        rng = np.random.default_rng(seed)
        a, b = rng.integers(0, 3, 2000), rng.integers(0, 4, 2000)
        assert abs(mi.ksg(a, b)) < 0.06


def test_ksg_of_identical_atoms_is_their_entropy():
    # x = z uniform on 3 atoms: I = log 3; measured within 0.025 over seeds 0-7
    a = np.random.default_rng(11).integers(0, 3, 2000)
    assert mi.ksg(a, a.copy()) == pytest.approx(math.log(3), abs=0.05)


def test_ksg_tie_breaking_is_seeded_and_leaves_continuous_data_alone():
    rng = np.random.default_rng(5)
    a, b = rng.integers(0, 3, 500), rng.integers(0, 3, 500)
    assert mi.ksg(a, b, seed=1) == mi.ksg(a, b, seed=1)
    x, z = _pair(6, 400, 2)
    assert mi.ksg(x, z, seed=0) == mi.ksg(x, z, seed=123)  # no ties: no noise, the seed is unused
    with pytest.raises(ValueError, match="seed"):
        mi.ksg(x, z, seed=-1)
