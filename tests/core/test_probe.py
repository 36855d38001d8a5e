"""sift_core.probe: the probe decoder's held-out MSE against exact MMSEs and hand-made inverses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sift_core.probe import ndtri, probe_decoder


def test_ndtri_inverts_the_normal_cdf():
    p = np.concatenate([np.geomspace(1e-12, 0.02, 40), np.linspace(0.02, 0.5, 49)[:-1]])
    q = ndtri(p)
    # reference: two Newton steps on Phi(x) = p, Phi from math.erfc (accurate in the lower tail)
    ref = q.copy()
    for _ in range(2):
        cdf = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in ref])
        ref = ref - (cdf - p) / (np.exp(-0.5 * ref * ref) / math.sqrt(2.0 * math.pi))
    np.testing.assert_allclose(q, ref, rtol=1.2e-9)  # Acklam's stated relative error
    mid = p > 1e-4  # 1 - p keeps p's digits there
    np.testing.assert_allclose(ndtri(1.0 - p[mid]), -q[mid], rtol=1e-8, atol=1e-12)
    assert ndtri(np.array([0.5]))[0] == 0.0


def _gaussian_channel(n, seed, noise):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((16, 24)) / 4
    x = rng.standard_normal((n, 16))
    z = x @ a + noise * rng.standard_normal((n, 24))
    post = np.linalg.inv(np.eye(16) + a @ a.T / noise**2)  # posterior covariance of x given z
    return x, z, float(np.trace(post)) / 16


@pytest.mark.parametrize("noise", [0.3, 1.0])
def test_gaussian_channel_probe_is_within_5_percent_of_the_exact_mmse(noise):
    # the linear MMSE is the MMSE here.  Measured over seeds 0-4 at n = 6000 (1,500 held out;
    # standard error of the held-out mean about 1.3 %): probe / MMSE between 0.991 and 1.012
    x, z, mmse = _gaussian_channel(6000, 0, noise)
    res = probe_decoder(x, z, seed=0, max_n=6000)
    assert res.mse == pytest.approx(mmse, rel=0.05)
    assert res.mse_ci[0] <= mmse * 1.02 and res.mse_ci[1] >= mmse * 0.98
    assert res.n_test == 1500 and res.n_train == 4500


def _relu_net(x, rng, noise):
    w1 = rng.standard_normal((x.shape[1], 64)) / math.sqrt(x.shape[1])
    b1 = 0.1 * rng.standard_normal(64)
    w2 = np.linalg.qr(rng.standard_normal((64, 64)))[0]  # orthogonal: the second layer is invertible
    z = np.maximum(x @ w1 + b1, 0.0) @ w2 + noise * rng.standard_normal((x.shape[0], 64))
    h = z @ w2.T
    # hand-made white-box inverse: Gauss-Newton on the active set of the first layer
    xh = np.linalg.lstsq(w1.T, (np.maximum(h, 0.0) - b1).T, rcond=None)[0].T
    for _ in range(10):
        act = xh @ w1 + b1 > 0
        xh = np.array([np.linalg.lstsq(w1[:, a].T, h[i, a] - b1[a], rcond=None)[0] if a.sum() >= x.shape[1]
                       else xh[i] for i, a in enumerate(act)])
    return z, xh


@pytest.mark.parametrize("channel", ["cube", "tanh", "relu"])
def test_invertible_nonlinear_channels_probe_is_within_2x_of_a_hand_made_inverse(channel):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 8))
    if channel == "cube":
        z = x**3 + 0.01 * rng.standard_normal(x.shape)
        xh = np.cbrt(z)
    elif channel == "tanh":
        z = np.tanh(x) + 0.05 * rng.standard_normal(x.shape)
        xh = np.arctanh(np.clip(z, -0.999, 0.999))
    else:
        # measured: at noise 0.3 the probe reaches 1.8x the white-box inverse's MSE; at 0.1, 4x
        # and at 0.02, 30x -- a kernel ridge on 1,500 samples does not learn this inverse exactly
        z, xh = _relu_net(x, rng, 0.3)
    hand = float(np.mean((xh - x) ** 2))
    res = probe_decoder(x, z, seed=0)
    # measured ratios probe / hand: cube 0.9, tanh 0.3, relu 1.8
    assert res.mse <= 2.0 * hand, (res.mse, hand, res.kind)
    assert res.mse_fraction < 0.1


@pytest.mark.parametrize("value", [0.0, 5.0])
def test_constant_z_gives_the_training_mean(value):
    x = np.random.default_rng(2).standard_normal((300, 5))
    res = probe_decoder(x, np.full((300, 3), value))
    assert res.kind == "mean" and res.mse_fraction == 1.0 and res.mse == res.baseline_mse
    test = np.sort(np.random.default_rng(0).permutation(300)[:75])
    train = np.setdiff1d(np.arange(300), test)
    assert res.mse == pytest.approx(np.mean((x[test] - x[train].mean(0)) ** 2), rel=1e-12)


def test_independent_z_explains_nothing():
    rng = np.random.default_rng(3)
    res = probe_decoder(rng.standard_normal((1000, 6)), rng.standard_normal((1000, 20)))
    # measured over seeds: fractions 0.99-1.01 (the chosen penalty is large or the mean wins)
    assert 0.97 < res.mse_fraction < 1.05


@pytest.mark.parametrize("exponent", [-100, -7, 0, 13, 100])
def test_scale_free(exponent):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((400, 6))
    z = np.tanh(x[:, :4]) + 0.1 * rng.standard_normal((400, 4))
    ref = probe_decoder(x, z)
    scaled = probe_decoder(x * 10.0**exponent + 3 * 10.0**exponent, z * 10.0**-exponent)
    assert scaled.mse_fraction == pytest.approx(ref.mse_fraction, rel=1e-6)
    assert scaled.mse == pytest.approx(ref.mse * 10.0 ** (2 * exponent), rel=1e-6)
    exact = probe_decoder(x * 2.0**40, z * 2.0**-60)  # powers of two change no digit
    assert exact.mse == ref.mse * 2.0**80 and exact.kind == ref.kind


def test_bad_input_names_the_argument():
    x = np.random.default_rng(5).standard_normal((100, 3))
    with pytest.raises(ValueError, match="x has a scale"):
        probe_decoder(x * 1e200, x)
    with pytest.raises(ValueError, match="x is constant"):
        probe_decoder(np.ones((100, 3)), x)
    with pytest.raises(ValueError, match="same number"):
        probe_decoder(x, x[:50])
    for kwargs, match in (({"features": -1}, "features"), ({"test_fraction": 1.0}, "test_fraction"),
                          ({"confidence": 0.0}, "confidence"), ({"max_n": 10}, "max_n"), ({"seed": 1.5}, "seed")):
        with pytest.raises((ValueError, TypeError), match=match):
            probe_decoder(x, x, **kwargs)
    assert probe_decoder(x, x * 1e200).mse_fraction < 1e-3  # z's units never show


def test_a_rare_value_of_a_nearly_constant_column_does_not_wreck_the_probe():
    # a ReLU channel active on almost no training row: standardised with its tiny training spread,
    # one test row's value became thousands and that row's prediction blew up (probe MSE 5x the
    # training mean's, seen on real edges). Test rows are clipped to the train range per column.
    from sift_core.probe import split_rows

    rng = np.random.default_rng(0)
    x, z, _ = _gaussian_channel(400, 1, 0.3)
    clean = probe_decoder(x, z, seed=3)
    # the rows fit_probe holds out for seed 3 (its first draw splits the rows)
    test, _, _ = split_rows(400, np.random.default_rng(3), 0.25, 0.2)
    rare = 1e-6 * rng.standard_normal((400, 1))
    rare[test[:3]] = 1e3
    spiked = probe_decoder(x, np.hstack([z, rare]), seed=3)
    assert spiked.mse_fraction < 0.5
    assert spiked.mse <= 1.02 * clean.mse


def test_a_heavy_tailed_z_cannot_throw_a_prediction_far_outside_the_range_of_x():
    # x in [0, 1] and a heavy-tailed z: each prediction is clipped to the train rows' range of its
    # coordinate widened by its width on each side, inside [-1, 2], so no coordinate misses by more
    # than 2 and no test row's mean squared error exceeds 4 (unclipped, one seed's worst row: 24.8)
    from sift_core.probe import fit_probe

    rng = np.random.default_rng(1)
    x = rng.uniform(0.0, 1.0, (300, 6))
    z = x @ rng.standard_normal((6, 12)) + 0.5 * rng.standard_cauchy((300, 12))
    worst = []
    for seed in range(4):
        fit = fit_probe(x - x.mean(axis=0), z, seed=seed, features=0)
        assert fit.kind != "mean"
        worst.append(float(fit.sq_err.max()))
    assert max(worst) <= 4.0
