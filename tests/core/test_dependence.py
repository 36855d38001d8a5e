"""Distance correlation/covariance and HSIC on numpy: properties, closed forms, other libraries, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sift_core as sc

SEEDS = st.integers(0, 2**32 - 1)
KINDS = st.sampled_from(["smooth", "ties", "offset", "outlier", "independent"])
# sizes that reach the dense path and the blocked numba path
SIZES = st.one_of(st.integers(4, 40), st.integers(256, 300))


def _orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


@settings(deadline=None, max_examples=30)
@given(seed=SEEDS, n=SIZES, d=st.integers(1, 5), q=st.integers(1, 3), kind=KINDS)
def test_bounds_and_symmetry(pair, seed, n, d, q, kind):
    x, z = pair(seed, n, d, q, kind)
    for squared in (False, True):
        v = sc.distance_correlation(x, z, squared=squared)
        assert isinstance(v, np.float64)
        assert 0.0 <= v <= 1.0
        assert v == pytest.approx(sc.distance_correlation(z, x, squared=squared), abs=1e-12)
    u = sc.distance_correlation(x, z, unbiased=True, squared=True)
    assert -1.0 <= u <= 1.0
    assert u == pytest.approx(sc.distance_correlation(z, x, unbiased=True, squared=True), abs=1e-12)
    assert sc.hsic(x, z) >= 0.0
    assert sc.hsic(x, z) == pytest.approx(sc.hsic(z, x), rel=1e-10, abs=1e-15)
    assert 0.0 <= sc.hsic(x, z, normalized=True) <= 1.0
    assert sc.hsic(x, z, kernel="linear") >= 0.0


@settings(deadline=None, max_examples=25)
@given(
    seed=SEEDS,
    n=SIZES,
    d=st.integers(1, 4),
    kind=st.sampled_from(["smooth", "ties", "independent"]),
    unbiased=st.booleans(),
    which=st.sampled_from(["x", "z"]),
)
def test_invariance_to_translation_rotation_scaling(pair, seed, n, d, kind, unbiased, which):
    x, z = pair(seed, n, d, 2, kind)
    rng = np.random.default_rng(seed)
    base = sc.distance_correlation(x, z, unbiased=unbiased, squared=True)
    v = x if which == "x" else z
    moved = 3.7 * v @ _orthogonal(rng, v.shape[1]) + rng.normal(size=v.shape[1]) * 50.0
    args = (moved, z) if which == "x" else (x, moved)
    assert sc.distance_correlation(*args, unbiased=unbiased, squared=True) == pytest.approx(base, abs=1e-9)
    # distance covariance scales with the product of the scales
    cov = sc.distance_covariance(x, z, unbiased=unbiased, squared=True)
    assert sc.distance_covariance(*args, unbiased=unbiased, squared=True) == pytest.approx(
        3.7 * cov, rel=1e-9, abs=1e-9 * abs(3.7 * sc.distance_variance(v, unbiased=unbiased))
    )


@settings(deadline=None, max_examples=20)
@given(seed=SEEDS, n=SIZES, d=st.integers(1, 5), scale=st.floats(1e-3, 1e3), unbiased=st.booleans())
def test_similarity_transform_gives_one(seed, n, d, scale, unbiased):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    z = scale * x @ _orthogonal(rng, d) - 17.0
    assert sc.distance_correlation(x, z, unbiased=unbiased) == pytest.approx(1.0, abs=1e-9)
    assert sc.hsic(x, z, normalized=True, bandwidth="median") == pytest.approx(1.0, abs=1e-9)


def test_two_samples_closed_form():
    # n = 2: both centred distance matrices are a/2 [[-1, 1], [1, -1]]
    x = np.array([[0.0, 0.0], [3.0, 4.0]])
    z = np.array([1.0, -1.0])
    assert sc.distance_covariance(x, z, squared=True) == pytest.approx(5.0 * 2.0 / 4.0)
    assert sc.distance_variance(x) == pytest.approx(5.0 / 2.0)
    assert sc.distance_correlation(x, z) == pytest.approx(1.0)


def test_u_statistic_near_zero_for_independent_samples():
    rng = np.random.default_rng(2024)
    x, z = rng.normal(size=(2000, 5)), rng.normal(size=(2000, 3))
    u = sc.distance_correlation(x, z, unbiased=True, squared=True)
    v = sc.distance_correlation(x, z, squared=True)
    assert abs(u) < 3e-3
    assert v > 3e-3  # the V-statistic's upward bias, which the U-statistic removes
    assert abs(sc.hsic(x, z, unbiased=True, normalized=True)) < 3e-3
    # and a dependent pair of the same size is far from zero
    assert sc.distance_correlation(x, x[:, :3] ** 2, unbiased=True, squared=True) > 0.05


def test_detects_nonlinear_dependence_that_correlation_misses():
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=500)
    z = x**2
    assert abs(np.corrcoef(x, z)[0, 1]) < 0.1
    assert sc.distance_correlation(x, z, unbiased=True) > 0.4


@pytest.mark.parametrize("unbiased", [False, True])
def test_constant_variable_gives_zero(unbiased):
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 3))
    for x in (np.full((30, 4), 0.1), np.full(30, 7.3e5), np.zeros((300, 2))):
        zz = rng.normal(size=(len(x), 3)) if len(x) != 30 else z
        for v in (
            sc.distance_correlation(x, zz, unbiased=unbiased),
            sc.distance_correlation(zz, x, unbiased=unbiased, squared=True),
            sc.distance_covariance(x, zz, unbiased=unbiased),
            sc.distance_variance(x, unbiased=unbiased),
            sc.hsic(x, zz, unbiased=unbiased, normalized=True),
        ):
            assert v == 0.0
        # K is all ones, which centring removes (up to the rounding of the sums)
        assert abs(sc.hsic(x, zz, unbiased=unbiased)) < 1e-15


def test_integers_are_cast_without_overflow():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(40, 64)).astype(np.uint8)
    z = rng.normal(size=(40, 4))
    assert sc.distance_correlation(img, z) == sc.distance_correlation(img.astype(np.float64), z)
    big = rng.integers(-(2**40), 2**40, size=(40, 3)).astype(np.int64)  # squares overflow int64
    ref = sc.distance_correlation(big.astype(np.float64), z)
    assert sc.distance_correlation(big, z) == ref
    assert 0.0 < ref <= 1.0
    assert sc.hsic(img, z) == sc.hsic(img.astype(np.float64), z)
    assert sc.distance_correlation(img > 127, z) == sc.distance_correlation((img > 127).astype(float), z)


@pytest.mark.parametrize("n", [50, 300])
def test_float32_input_close_to_float64(n):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, 8))
    z = x[:, :2] ** 2 + 0.1 * rng.normal(size=(n, 2))
    for kw in ({}, {"unbiased": True}, {"squared": True}):
        v64 = sc.distance_correlation(x, z, **kw)
        v32 = sc.distance_correlation(x.astype(np.float32), z.astype(np.float32), **kw)
        assert isinstance(v32, np.float64)
        assert abs(v32 - v64) < 1e-5 and v32 <= 1.0
    same = sc.distance_correlation(x.astype(np.float32), x.astype(np.float32))
    assert same <= 1.0 and same == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------- other libraries

# dcor's U-statistic comes from sums that an outlier makes cancel (about 1e-9
# off on the "outlier" kind, where ours matches the explicit matrices to
# 1e-12: test_fastpaths); the comparison uses the other kinds.
LIB_KINDS = st.sampled_from(["smooth", "ties", "offset", "independent"])


@settings(deadline=None, max_examples=15)
@given(seed=SEEDS, n=st.one_of(st.integers(5, 40), st.integers(256, 270)), kind=LIB_KINDS)
def test_agrees_with_dcor(pair, seed, n, kind):
    dcor = pytest.importorskip("dcor")
    x, z = pair(seed, n, 3, 2, kind)
    assert sc.distance_covariance(x, z) == pytest.approx(dcor.distance_covariance(x, z), rel=1e-9, abs=1e-12)
    assert sc.distance_covariance(x, z, squared=True) == pytest.approx(
        dcor.distance_covariance_sqr(x, z), rel=1e-9, abs=1e-12
    )
    assert sc.distance_covariance(x, z, unbiased=True, squared=True) == pytest.approx(
        dcor.u_distance_covariance_sqr(x, z), rel=1e-9, abs=1e-9 * sc.distance_covariance(x, z, squared=True)
    )
    assert sc.distance_correlation(x, z) == pytest.approx(dcor.distance_correlation(x, z), abs=1e-9)
    assert sc.distance_correlation(x, z, squared=True) == pytest.approx(dcor.distance_correlation_sqr(x, z), abs=1e-9)
    assert sc.distance_correlation(x, z, unbiased=True, squared=True) == pytest.approx(
        dcor.u_distance_correlation_sqr(x, z), abs=1e-9
    )


def test_agrees_with_dcor_one_dimensional_fast_path():
    dcor = pytest.importorskip("dcor")
    rng = np.random.default_rng(9)
    x = rng.standard_cauchy(2100)  # above FAST_1D_MIN_N
    z = np.round(x + rng.normal(size=2100))  # heavy tails and ties
    assert sc.distance_covariance(x, z, squared=True) == pytest.approx(
        dcor.distance_covariance_sqr(x, z, method="naive"), rel=1e-9
    )
    assert sc.distance_correlation(x, z, unbiased=True, squared=True) == pytest.approx(
        dcor.u_distance_correlation_sqr(x, z, method="naive"), rel=1e-9
    )


@settings(deadline=None, max_examples=10)
@given(seed=SEEDS, n=st.one_of(st.integers(8, 40), st.integers(256, 270)), kind=LIB_KINDS)
def test_agrees_with_hyppo(pair, seed, n, kind):
    """hyppo's Dcorr is dCor^2 (U, bias=False) or dCor (V, bias=True); its Hsic is a normalised HSIC.

    hyppo.independence.Hsic turns the Gaussian kernel K (max 1) into the
    distance 1 - K and passes it to Dcorr.  U-centring removes the constant,
    so bias=False gives <K~, L~> / sqrt(<K~, K~><L~, L~>) with K~ the
    U-centred, zero-diagonal K: our ``hsic(unbiased=True, normalized=True)``;
    bias=True gives the square root of the V (biased) version.  hyppo takes
    one bandwidth for both variables: gamma = 1 / (2 median_x^2) from x.
    hyppo's distances come from the Gram identity without centring, which
    loses digits far from the origin, so it gets centred copies (every
    statistic is translation invariant).
    """
    independence = pytest.importorskip("hyppo.independence")
    x, z = pair(seed, n, 3, 2, kind)
    xc, zc = x - x.mean(0), z - z.mean(0)
    u = sc.distance_correlation(x, z, unbiased=True, squared=True)
    assert independence.Dcorr().statistic(xc, zc) == pytest.approx(u, abs=1e-9)
    assert independence.Dcorr(bias=True).statistic(xc, zc) == pytest.approx(sc.distance_correlation(x, z), abs=1e-9)
    # one bandwidth for both: standardise, or a kernel near the identity (K_ij ~ 1e-40)
    # vanishes in hyppo's 1 - K (ours keeps it, as the explicit trace formula does)
    xs, zs = xc / xc.std(), zc / zc.std()
    sigma = 0.9
    gamma = 1.0 / (2.0 * sigma**2)
    expected = sc.hsic(xs, zs, bandwidth=sigma, unbiased=True, normalized=True)
    assert independence.Hsic(gamma=gamma).statistic(xs, zs) == pytest.approx(expected, abs=1e-9)
    biased = sc.hsic(xs, zs, bandwidth=sigma, normalized=True)
    assert independence.Hsic(bias=True, gamma=gamma).statistic(xs, zs) == pytest.approx(np.sqrt(biased), abs=1e-9)


def test_hyppo_default_bandwidth_is_the_median_of_x():
    independence = pytest.importorskip("hyppo.independence")
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 3))
    z = np.tanh(x[:, :2]) + 0.2 * rng.normal(size=(60, 2))
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    med = np.median(d[np.triu_indices(60, 1)])
    expected = sc.hsic(x, z, bandwidth=med, unbiased=True, normalized=True)
    assert independence.Hsic().statistic(x, z) == pytest.approx(expected, abs=1e-9)


def test_hsic_scaling_conventions(plain):
    rng = np.random.default_rng(8)
    x = rng.normal(size=(25, 3))
    z = x[:, :1] ** 2 + rng.normal(size=(25, 1))
    k, l_ = plain.gaussian_gram(x), plain.gaussian_gram(z)
    n = 25
    h = np.eye(n) - 1.0 / n
    assert sc.hsic(x, z) == pytest.approx(np.trace(k @ h @ l_ @ h) / n**2, rel=1e-12)
    assert sc.hsic(x, z, unbiased=True) == pytest.approx(plain.hsic(k, l_, unbiased=True), rel=1e-10)
    xc, zc = x - x.mean(0), z - z.mean(0)
    # linear kernel: tr(K H L H) / n^2 = |X_c' Z_c|_F^2 / n^2
    assert sc.hsic(x, z, kernel="linear") == pytest.approx(np.sum((xc.T @ zc) ** 2) / n**2, rel=1e-10)


# ----------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "fn", [sc.distance_correlation, sc.distance_covariance, sc.hsic], ids=["dcor", "dcov", "hsic"]
)
def test_bad_input_names_the_argument(fn):
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(10, 3)), rng.normal(size=(10, 2))
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        fn(bad, z)
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="z contains NaN or infinite"):
        fn(x, bad)
    with pytest.raises(ValueError, match="x and z must have the same number of samples"):
        fn(x, z[:9])
    with pytest.raises(ValueError, match="x needs at least 2 samples"):
        fn(x[:1], z[:1])
    with pytest.raises(ValueError, match="z needs at least 4 samples"):
        fn(x[:5], z[:3], unbiased=True)
    with pytest.raises(ValueError, match="x must have at least 1 dimension"):
        fn(np.float64(3.0), z)
    with pytest.raises(ValueError, match="z has no features"):
        fn(x, np.zeros((10, 0)))
    with pytest.raises(TypeError, match="x: .*complex"):
        fn(x + 1j, z)
    with pytest.raises(TypeError, match="z: .*not supported"):
        fn(x, np.array(["a"] * 10))
    with pytest.raises(ValueError, match="x: "):
        fn([[1.0, 2.0], [3.0]], z)
    with pytest.raises(TypeError, match="unbiased"):
        fn(x, z, unbiased="yes")
    assert fn(x[:4], z[:4], unbiased=True) == fn(x[:4].tolist(), z[:4].tolist(), unbiased=True)


def test_distance_variance_and_hsic_options_are_checked():
    x = np.arange(12.0).reshape(6, 2)
    with pytest.raises(ValueError, match="x needs at least 4"):
        sc.distance_variance(x[:3], unbiased=True)
    with pytest.raises(TypeError, match="squared"):
        sc.distance_variance(x, squared=None)
    with pytest.raises(ValueError, match="kernel"):
        sc.hsic(x, x, kernel="rbf")
    for bad, err in (("mean", ValueError), (-1.0, ValueError), (0.0, ValueError), (np.inf, ValueError)) + (
        (True, TypeError),
    ):
        with pytest.raises(err, match="bandwidth"):
            sc.hsic(x, x, bandwidth=bad)
    with pytest.raises(TypeError, match="normalized"):
        sc.hsic(x, x, normalized=1)
