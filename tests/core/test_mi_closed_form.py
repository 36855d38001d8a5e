"""Closed-form entropies and MIs, the covariance builders and the samplers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import sift_core.mi as mi
from sift_core.mi._special import digamma, digamma_table

SETTINGS = settings(max_examples=25, deadline=None)


@SETTINGS
@given(rho=st.floats(-0.99, 0.99))
def test_bivariate_gaussian_mi(rho):
    expected = -0.5 * math.log1p(-rho * rho)
    assert mi.gaussian_mi(mi.bivariate_covariance(rho), dim_x=1) == pytest.approx(expected, abs=1e-12)


def _random_blocks(rng, dx, dz):
    a = np.eye(dx) + 0.5 * rng.standard_normal((dx, dx))
    b = np.eye(dz) + 0.5 * rng.standard_normal((dz, dz))
    m = np.zeros((dx + dz, dx + dz))
    m[:dx, :dx], m[dx:, dx:] = a, b
    return m


@SETTINGS
@given(dx=st.integers(1, 4), dz=st.integers(1, 4), seed=st.integers(0, 2**31), target=st.floats(0.0, 3.0))
def test_gaussian_mi_invariant_under_invertible_maps_of_each_side(dx, dz, seed, target):
    rng = np.random.default_rng(seed)
    k = min(dx, dz)
    cov = mi.pairs_covariance(dx, dz, n_pairs=k, correlation=mi.pair_correlation_for_mi(target, n_pairs=k))
    m = _random_blocks(rng, dx, dz)
    if abs(np.linalg.det(m[:dx, :dx])) < 1e-3 or abs(np.linalg.det(m[dx:, dx:])) < 1e-3:
        return
    mixed = m @ cov @ m.T
    assert mi.gaussian_mi(cov, dim_x=dx) == pytest.approx(target, abs=1e-9)
    assert mi.gaussian_mi(mixed, dim_x=dx) == pytest.approx(target, abs=1e-6)


@SETTINGS
@given(dx=st.integers(1, 5), dz=st.integers(1, 5), seed=st.integers(0, 2**31))
def test_gaussian_mi_is_the_entropy_difference(dx, dz, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((dx + dz, dx + dz + 3))
    cov = a @ a.T
    h = mi.gaussian_entropy
    expected = h(cov[:dx, :dx]) + h(cov[dx:, dx:]) - h(cov)
    assert mi.gaussian_mi(cov, dim_x=dx) == pytest.approx(expected, abs=1e-9)


def test_independent_blocks_have_zero_mi():
    cov = np.diag([1.0, 2.0, 3.0, 4.0])
    assert mi.gaussian_mi(cov, dim_x=2) == 0.0


def test_gaussian_entropy_of_the_standard_normal():
    assert mi.gaussian_entropy(np.eye(3)) == pytest.approx(1.5 * math.log(2 * math.pi * math.e))


def test_dense_task_values():
    # 5 x 5 with all correlations 0.5: det-based value by hand
    by_hand = 0.5 * (2 * math.log(3.0) - math.log(5.5) + math.log(2.0))
    assert mi.dense_mi(5, 5, 0.5) == pytest.approx(by_hand)
    assert mi.gaussian_mi(mi.dense_covariance(5, 5), dim_x=5) == pytest.approx(0.5928, abs=1e-4)
    assert mi.gaussian_mi(mi.dense_covariance(3, 3), dim_x=3) == pytest.approx(0.5 * (3 * math.log(2) - math.log(3.5)))


@SETTINGS
@given(dx=st.integers(1, 12), dz=st.integers(1, 12), rho=st.floats(0.0, 0.95))
def test_dense_mi_matches_the_determinant_formula(dx, dz, rho):
    cov = mi.dense_covariance(dx, dz, off_diag=rho)
    assert mi.dense_mi(dx, dz, rho) == pytest.approx(mi.gaussian_mi(cov, dim_x=dx), abs=1e-9)


@SETTINGS
@given(dx=st.integers(1, 10), dz=st.integers(1, 10), target=st.floats(0.01, 2.0))
def test_builders_hit_the_requested_mi(dx, dz, target):
    assert mi.gaussian_mi(mi.bivariate_covariance(mi.correlation_for_mi(target)), dim_x=1) == pytest.approx(target)
    if dx > 1 or dz > 1:
        rho = mi.dense_off_diag_for_mi(dx, dz, target)
        assert mi.gaussian_mi(mi.dense_covariance(dx, dz, off_diag=rho), dim_x=dx) == pytest.approx(target, rel=1e-8)
    k = min(dx, dz, 2)
    cov = mi.pairs_covariance(dx, dz, n_pairs=k, correlation=mi.pair_correlation_for_mi(target, n_pairs=k))
    assert mi.gaussian_mi(cov, dim_x=dx) == pytest.approx(target, rel=1e-9)


def test_two_pair_task_matches_the_latent_variable_model():
    # X_i = 2 Z_i + E_i, Y_i = 2 Z_i + F_i for i < 2, other coordinates noise: correlation 4 / 5
    lam = 2.0
    load = np.zeros((10, 2 + 10))
    for i in range(2):
        load[i, i] = load[5 + i, i] = lam
    load[np.arange(10), 2 + np.arange(10)] = 1.0
    load[[2, 3, 4, 7, 8, 9], 2 + np.array([2, 3, 4, 7, 8, 9])] = math.sqrt(1 + lam**2)
    cov = load @ load.T
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    np.testing.assert_allclose(corr, mi.pairs_covariance(5, 5, n_pairs=2, correlation=0.8), atol=1e-12)
    assert mi.gaussian_mi(corr, dim_x=5) == pytest.approx(-math.log(1 - 0.64))


def test_digamma_against_scipy():
    special = pytest.importorskip("scipy.special")
    for x in [0.01, 0.5, 1.0, 1.5, 2.0, 3.7, 6.0, 10.5, 123.25, 1e5]:
        assert digamma(x) == pytest.approx(special.digamma(x), abs=1e-12, rel=1e-12)
    np.testing.assert_allclose(digamma_table(500)[1:], special.digamma(np.arange(1, 501)), rtol=1e-13, atol=1e-13)


def test_student_t_correction_known_value_and_limits():
    # 1-D standard Cauchy: entropy log(4 pi); the correction with df -> infinity vanishes
    from sift_core.mi.closed_form import _student_entropy_standard

    assert _student_entropy_standard(1, 1.0) == pytest.approx(math.log(4 * math.pi))
    values = [mi.student_t_correction(2, 2, df) for df in (1, 2, 5, 30, 1e6)]
    assert all(v > 0 for v in values[:-1])
    assert all(a > b for a, b in zip(values, values[1:]))
    assert values[-1] < 1e-5


def test_student_t_mi_against_monte_carlo():
    stats = pytest.importorskip("scipy.stats")
    disp = mi.dense_covariance(2, 2, off_diag=0.3)
    df = 3.0
    x, z = mi.sample_student_t(disp, 200_000, dim_x=2, df=df, seed=0)
    w = np.hstack([x, z])
    pointwise = (
        stats.multivariate_t(shape=disp, df=df).logpdf(w)
        - stats.multivariate_t(shape=disp[:2, :2], df=df).logpdf(x)
        - stats.multivariate_t(shape=disp[2:, 2:], df=df).logpdf(z)
    )
    se = pointwise.std() / math.sqrt(len(pointwise))
    assert mi.student_t_mi(disp, dim_x=2, df=df) == pytest.approx(pointwise.mean(), abs=4 * se)


def test_uniform_entropy():
    assert mi.uniform_entropy([0.0, -1.0], [2.0, 2.0]) == pytest.approx(math.log(6.0))
    with pytest.raises(ValueError, match="high"):
        mi.uniform_entropy([0.0], [0.0])


def test_samplers_are_seeded_and_have_the_covariance():
    cov = mi.dense_covariance(2, 3, off_diag=0.4)
    x1, z1 = mi.sample_gaussian(cov, 50_000, dim_x=2, seed=3)
    x2, z2 = mi.sample_gaussian(cov, 50_000, dim_x=2, seed=3)
    np.testing.assert_array_equal(x1, x2)
    assert x1.shape == (50_000, 2) and z1.shape == (50_000, 3)
    np.testing.assert_allclose(np.cov(np.hstack([x1, z1]).T), cov, atol=0.02)
    xs, zs = mi.sample_student_t(cov, 50_000, dim_x=2, df=8.0, seed=4)
    np.testing.assert_allclose(np.cov(np.hstack([xs, zs]).T), cov * 8 / 6, atol=0.06)


def test_standard_tasks():
    tasks = {t.name: t for t in mi.standard_tasks()}
    assert len(tasks) == 6
    assert tasks["dense 5x5"].mi == pytest.approx(0.5928, abs=1e-4)
    assert tasks["2-pair 5x5"].mi == pytest.approx(-math.log(0.36))
    t = tasks["Student-t 2x2 (dof=1)"]
    assert t.mi == pytest.approx(mi.student_t_correction(2, 2, 1))
    x, z = t.sample(10, seed=0)
    assert x.shape == (10, 2) and z.shape == (10, 2)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: mi.gaussian_mi([[1.0, 2.0], [2.0, 1.0]], dim_x=1), "positive definite"),
        (lambda: mi.gaussian_mi([[1.0, 0.5], [0.4, 1.0]], dim_x=1), "symmetric"),
        (lambda: mi.gaussian_mi(np.eye(3), dim_x=3), "dim_x"),
        (lambda: mi.gaussian_mi(np.eye(3), dim_x=0), "dim_x"),
        (lambda: mi.gaussian_mi(np.ones(3), dim_x=1), "square"),
        (lambda: mi.gaussian_mi([[np.nan, 0], [0, 1]], dim_x=1), "NaN"),
        (lambda: mi.bivariate_covariance(1.0), "rho"),
        (lambda: mi.correlation_for_mi(-1.0), "mi"),
        (lambda: mi.student_t_mi(np.eye(2), dim_x=1, df=0), "df"),
        (lambda: mi.pairs_covariance(2, 3, n_pairs=3), "n_pairs"),
        (lambda: mi.sample_gaussian(np.eye(2), 0, dim_x=1), "n"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
