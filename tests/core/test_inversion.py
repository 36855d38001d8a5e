"""sift_core.inversion: the attacks' objective, stopping rule, scores and worst case, against plain formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sift_core import metrics
from sift_core.inversion import (
    Plateau,
    PlateauPerImage,
    feature_matching_objective,
    latent_prior,
    reconstruction_scores,
    relative_feature_error,
    worst_case,
)


def test_feature_matching_objective_matches_the_plain_formula():
    rng = np.random.default_rng(0)
    feat, z = rng.normal(size=(3, 4, 2, 2)), rng.normal(size=(3, 4, 2, 2))
    z[2] = 0.0  # an all-zero observation: the scale floor keeps the objective finite
    x = rng.random((3, 1, 5, 5))
    got = feature_matching_objective(feat, z, x, tv_weight=0.3)
    for i in range(3):
        err = np.mean((feat[i] - z[i]) ** 2) / max(np.mean(z[i] ** 2), 1e-12)
        tv = np.mean(np.abs(np.diff(x[i], axis=1))) + np.mean(np.abs(np.diff(x[i], axis=2)))
        assert got[i] == pytest.approx(err + 0.3 * tv, rel=1e-12)
    # relative: one tv_weight means the same at any feature scale
    scaled = feature_matching_objective(1e3 * feat, 1e3 * z, x, tv_weight=0.3)
    np.testing.assert_allclose(scaled[:2], got[:2], rtol=1e-12)
    with pytest.raises(ValueError, match="features must have"):
        feature_matching_objective(feat[:, :2], z, x, tv_weight=0.0)
    with pytest.raises(ValueError, match="tv_weight"):
        feature_matching_objective(feat, z, x, tv_weight=-1.0)


def test_latent_prior_is_the_scaled_mean_square():
    w = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(latent_prior(w, weight=0.5), 0.5 * np.array([5 / 3, 50 / 3]))


def test_relative_feature_error_closed_form_and_degenerate_values():
    z = np.array([[1.0, 2.0], [0.0, 2.0]])
    assert relative_feature_error(z + np.array([[0.0, 1.0], [1.0, 0.0]]), z) == pytest.approx(2.0 / 9.0)
    assert relative_feature_error(z, z) == 0.0
    assert relative_feature_error(np.zeros(3), np.zeros(3)) == 0.0
    assert relative_feature_error(np.ones(3), np.zeros(3)) == math.inf
    with pytest.raises(ValueError, match="same shape"):
        relative_feature_error(np.ones(3), np.ones(4))


def test_plateau_stops_after_patience_checks_and_reduces_first():
    p = Plateau(patience=3, min_delta=0.1, reductions=1, reduce_patience=2)
    seen = []
    for v in (10.0, 9.5, 9.5, 9.5, 8.0, 7.9, 7.9, 7.9):
        seen.append((p.update(v), p.reduce, p.stop))
    # 9.5 is not 10 % below 10; two flat checks trigger the one reduction, 8.0 improves,
    # then three flat checks (7.9 is within 10 % of 8.0) stop it
    assert [s[0] for s in seen] == [True, False, False, False, True, False, False, False]
    assert [s[1] for s in seen].index(True) == 2
    assert seen[-2][2] is False and seen[-1][2] is True
    assert p.best == 8.0 and p.best_index == 4


def test_plateau_never_counts_nan_as_an_improvement():
    p = Plateau(patience=2)
    assert p.update(float("nan")) is False and p.update(float("inf")) is False and p.stop
    assert p.best == math.inf and p.best_index == -1


@pytest.mark.parametrize("bad", [dict(patience=0), dict(patience=2, min_delta=1.5), dict(patience=2, reductions=-1),
                                 dict(patience=2, reduce_patience=0)])
def test_plateau_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        Plateau(**bad)


def test_per_image_rule_equals_the_scalar_rule_run_on_each_image():
    rng = np.random.default_rng(1)
    losses = np.cumsum(rng.normal(-0.05, 0.2, size=(40, 5)), axis=0) + 10  # 40 checks of 5 images
    losses[7, 2] = np.nan
    rule = PlateauPerImage(5, patience=4, reductions=2, reduce_patience=2)
    scalars = [Plateau(patience=4, reductions=2, reduce_patience=2) for _ in range(5)]
    halves = np.zeros(5)
    stopped_at = [None] * 5
    for t in range(40):
        improved = rule.update(losses[t])
        for i, p in enumerate(scalars):
            if stopped_at[i] is not None:
                assert not improved[i]  # a stopped image never changes again
                continue
            assert improved[i] == p.update(losses[t, i])
            halves[i] += p.reduce
            if p.stop:
                stopped_at[i] = t
        np.testing.assert_array_equal(rule.done, [s is not None for s in stopped_at])
    np.testing.assert_allclose(rule.scale, 0.5**halves)
    np.testing.assert_allclose(rule.best, [p.best for p in scalars])


def test_halt_stops_images_at_once():
    rule = PlateauPerImage(3, patience=5)
    rule.update([1.0, 1.0, 1.0])
    rule.halt([False, True, False])
    assert rule.done.tolist() == [False, True, False] and not rule.stop
    assert rule.step_scale.tolist() == [1.0, 0.0, 1.0]  # a stopped image no longer moves
    assert not rule.update([0.5, 0.5, 0.5])[1]
    assert rule.halted.tolist() == [False, True, False]  # stopped by the halt, not by the rule
    rule.done[0] = True
    rule.halt([True, False, False])  # already stopped: not counted as halted
    assert rule.halted.tolist() == [False, True, False]


def test_reconstruction_scores_clip_cap_and_window():
    rng = np.random.default_rng(2)
    a = rng.random((2, 1, 8, 8))
    scores = reconstruction_scores(a, a)
    assert scores["mse"] == 0.0 and scores["psnr"] == 100.0 and scores["ssim"] == pytest.approx(1.0)
    b = a + 2.0  # out of the data range: clipped to 1 before scoring
    assert reconstruction_scores(a, b)["mse"] == pytest.approx(np.mean((a - 1.0) ** 2))
    # channels-last gives the same numbers as channels-first
    c = np.clip(a + 0.1 * rng.normal(size=a.shape), 0, 1)
    last = reconstruction_scores(a.transpose(0, 2, 3, 1), c.transpose(0, 2, 3, 1), channels_last=True)
    first = reconstruction_scores(a, c)
    for k in first:
        assert last[k] == pytest.approx(first[k], rel=1e-12)
    # 8x8 images get the narrower window of attack_result.ssim_sigma, the same as AttackResult's SSIM
    from sift_core.attack_result import ssim_sigma

    assert first["ssim"] == pytest.approx(float(np.mean(metrics.ssim(a, c, data_range=1.0, sigma=ssim_sigma(8, 8)))))
    with pytest.raises(ValueError, match="NaN"):
        reconstruction_scores(a, a * np.nan)


def test_worst_case_picks_each_metric_separately_and_skips_failures():
    attacks = {
        "inverse_network": {"mse": 0.02, "psnr": 17.0, "ssim": 0.60},
        "rmle": {"mse": 0.015, "psnr": 18.5, "ssim": 0.40},
        "hybrid": {"failed": True, "reason": "FloatingPointError: diverged"},
        "generative": {"mse": 0.05, "psnr": 13.0, "ssim": 0.65},
    }
    w = worst_case(attacks)
    assert w == {"n_attacks": 3, "ssim": 0.65, "ssim_attack": "generative", "mse": 0.015, "mse_attack": "rmle",
                 "psnr": 18.5, "psnr_attack": "rmle"}
    none = worst_case({"rmle": {"failed": True, "reason": "x"}})
    assert none["n_attacks"] == 0 and none["ssim"] is None and none["mse_attack"] is None
