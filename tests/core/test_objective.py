"""sift_core.objective: the training objectives' terms against closed forms and the core's own estimators."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sift_core
from sift_core.objective import smoothed_target_entropy


def _smoothed(labels, k, eps):
    t = np.full((len(labels), k), eps / (k - 1))
    t[np.arange(len(labels)), labels] = 1 - eps
    return t


def _log_softmax(a):
    a = a - a.max(axis=1, keepdims=True)
    return a - np.log(np.exp(a).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35])
def test_cross_entropy_matches_plain_formula(eps):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(7, 5)) * 3
    labels = rng.integers(0, 5, size=7)
    expected = -np.mean(np.sum(_smoothed(labels, 5, eps) * _log_softmax(logits), axis=1))
    got = sift_core.label_smoothed_cross_entropy(logits, labels, epsilon=eps)
    assert isinstance(got, np.float64)
    assert got == pytest.approx(expected, rel=1e-12)


def test_uniform_logits_give_log_k_and_kl_is_zero_at_the_target():
    labels = np.array([0, 3, 2, 2])
    for eps in (0.0, 0.25):
        ce = sift_core.label_smoothed_cross_entropy(np.zeros((4, 4)), labels, epsilon=eps)
        assert ce == pytest.approx(math.log(4), rel=1e-12)
    eps = 0.25
    logits = np.log(_smoothed(labels, 4, eps))
    kl = sift_core.label_smoothed_cross_entropy(logits, labels, epsilon=eps, kl=True)
    assert kl == pytest.approx(0.0, abs=1e-12)
    # H(y_eps) closed form for K = 4
    h = -(0.75 * math.log(0.75)) - 0.25 * math.log(0.25 / 3)
    assert smoothed_target_entropy(eps, 4) == pytest.approx(h, rel=1e-12)


def test_label_and_option_validation_names_the_argument():
    logits = np.zeros((3, 4))
    with pytest.raises(ValueError, match="labels"):
        sift_core.label_smoothed_cross_entropy(logits, np.array([0, 1, 4]))
    with pytest.raises(TypeError, match="labels"):
        sift_core.label_smoothed_cross_entropy(logits, np.array([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match="labels"):
        sift_core.label_smoothed_cross_entropy(logits, np.array([0, 1]))
    with pytest.raises(ValueError, match="epsilon"):
        sift_core.label_smoothed_cross_entropy(logits, np.array([0, 1, 2]), epsilon=1.0)
    with pytest.raises(ValueError, match="logits"):
        sift_core.label_smoothed_cross_entropy(np.zeros(3), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="num_classes"):
        sift_core.label_smoothed_cross_entropy(logits, np.array([0, 1, 2]), num_classes=5)
    with pytest.raises(ValueError, match="logits"):
        sift_core.label_smoothed_cross_entropy(np.array([[0.0, np.nan]] * 3), np.array([0, 1, 0]))


def test_gaussian_kl_closed_form():
    mean = np.zeros((2, 3))
    assert sift_core.gaussian_kl(mean, np.zeros((2, 3))) == 0.0
    # KL(N(1, 1) || N(0, 1)) = 1/2 per dimension; KL(N(0, e^2) || N(0, 1)) = (e^2 - 2 - 1) / 2
    assert sift_core.gaussian_kl(np.ones((2, 3)), np.zeros((2, 3))) == pytest.approx(0.5)
    assert sift_core.gaussian_kl(np.ones((2, 3)), np.zeros((2, 3)), reduction="batchmean") == pytest.approx(1.5)
    lv = np.full((1, 1), 2.0)
    assert sift_core.gaussian_kl(np.zeros((1, 1)), lv) == pytest.approx(0.5 * (math.exp(2) - 3))
    with pytest.raises(ValueError, match="reduction"):
        sift_core.gaussian_kl(mean, mean, reduction="sum")


def _batch(seed=0, n=16):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 6, 6))
    z = rng.normal(size=(n, 3, 4, 4))
    logits = rng.normal(size=(n, 4))
    labels = rng.integers(0, 4, size=n)
    return x, z, logits, labels


def test_siftfunnel_terms_are_the_core_estimators_and_their_weighted_sum():
    x, z, logits, labels = _batch()
    t = sift_core.siftfunnel_terms(x, z, logits, labels, alpha=1.5, beta=0.5, lambda_1=0.1, gamma=3.0, epsilon=0.2)
    assert t["task"] == pytest.approx(sift_core.label_smoothed_cross_entropy(logits, labels, epsilon=0.2, kl=True))
    assert t["dcor"] == pytest.approx(sift_core.distance_correlation(x, z, squared=True))
    assert t["l1"] == pytest.approx(np.abs(z).mean())
    assert t["redundancy"] == pytest.approx(sift_core.channel_redundancy(z))
    total = 1.5 * t["task"] + 0.5 * t["dcor"] + 0.1 * t["l1"] + 3.0 * t["redundancy"]
    assert t["total"] == pytest.approx(total, rel=1e-12)
    # the dependence term can come from another (e.g. gathered) batch
    x2, z2, _, _ = _batch(seed=1, n=32)
    t2 = sift_core.siftfunnel_terms(x, z, logits, labels, dependence_batch=(x2, z2))
    assert t2["dcor"] == pytest.approx(sift_core.distance_correlation(x2, z2, squared=True))
    with pytest.raises(ValueError, match="beta"):
        sift_core.siftfunnel_terms(x, z, logits, labels, beta=-1.0)


def test_nopeek_and_bido_terms():
    x, z, logits, labels = _batch()
    t = sift_core.nopeek_terms(x, z, logits, labels, weight=0.3)
    assert t["dcor"] == pytest.approx(sift_core.distance_correlation(x, z))
    assert t["total"] == pytest.approx(t["task"] + 0.3 * t["dcor"])
    b = sift_core.bido_terms(x, z, logits, labels, weight_x=0.2, weight_y=0.7)
    y = np.eye(4)[labels]
    assert b["hsic_xz"] == pytest.approx(sift_core.hsic(x, z))
    assert b["hsic_zy"] == pytest.approx(sift_core.hsic(z, y))
    assert b["total"] == pytest.approx(b["task"] + 0.2 * b["hsic_xz"] - 0.7 * b["hsic_zy"])
