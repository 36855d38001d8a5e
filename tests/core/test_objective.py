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


def _dcor2_v_plain(x, z):
    """Squared V-statistic distance correlation from Euclidean distances, by the textbook formula."""
    x, z = x.reshape(len(x), -1), z.reshape(len(z), -1)

    def centred(a):
        d = np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))
        return d - d.mean(0) - d.mean(1)[:, None] + d.mean()

    a, b = centred(x), centred(z)
    return (a * b).mean() / math.sqrt((a * a).mean() * (b * b).mean())


def _redundancy_plain(z):
    """Mean squared Pearson correlation over ordered channel pairs i != j, per sample, by loops."""
    vals = []
    for s in z:
        c = np.corrcoef(s.reshape(s.shape[0], -1))
        vals += [c[i, j] ** 2 for i in range(len(c)) for j in range(len(c)) if i != j]
    return float(np.mean(vals))


def test_siftfunnel_loss_at_its_defaults_equals_the_formula_by_hand():
    x, z, logits, labels = _batch()
    # y_eps: 1 - 0.25 on the label, 0.25 / 3 elsewhere; KL(y_eps || softmax) by hand
    y = _smoothed(labels, 4, 0.25)
    kl = np.mean(np.sum(y * (np.log(y) - _log_softmax(logits)), axis=1))
    dcor2, l1, red = _dcor2_v_plain(x, z), np.abs(z).mean(), _redundancy_plain(z)
    t = sift_core.siftfunnel_terms(x, z, logits, labels)
    # the authors' defaults: alpha 5, beta 2, lambda_1 0.03, gamma 2, epsilon 0.25
    assert t["total"] == pytest.approx(5 * kl + 2 * dcor2 + 0.03 * l1 + 2 * red, rel=1e-10)
    for key, value in (("task", kl), ("dcor", dcor2), ("l1", l1), ("redundancy", red)):
        assert t[key] == pytest.approx(value, rel=1e-10), key
    # the dependence term can come from another (e.g. gathered) batch; weights are applied as given
    x2, z2, _, _ = _batch(seed=1, n=32)
    t2 = sift_core.siftfunnel_terms(x, z, logits, labels, dependence_batch=(x2, z2), alpha=1.5, beta=0.5,
                                    lambda_1=0.1, gamma=3.0, epsilon=0.2)
    kl2 = np.mean(np.sum(_smoothed(labels, 4, 0.2) * (np.log(_smoothed(labels, 4, 0.2)) - _log_softmax(logits)), 1))
    expected = 1.5 * kl2 + 0.5 * _dcor2_v_plain(x2, z2) + 0.1 * l1 + 3.0 * red
    assert t2["total"] == pytest.approx(expected, rel=1e-10)
    with pytest.raises(ValueError, match="beta"):
        sift_core.siftfunnel_terms(x, z, logits, labels, beta=-1.0)


def test_nopeek_and_bido_terms():
    x, z, logits, labels = _batch()
    t = sift_core.nopeek_terms(x, z, logits, labels, weight=0.3)
    ce = -np.mean(_log_softmax(logits)[np.arange(len(labels)), labels])
    assert t["total"] == pytest.approx(ce + 0.3 * math.sqrt(_dcor2_v_plain(x, z)), rel=1e-10)
    b = sift_core.bido_terms(x, z, logits, labels, weight_x=0.2, weight_y=0.7)
    y = np.eye(4)[labels]
    assert b["hsic_xz"] == pytest.approx(sift_core.hsic(x, z))
    assert b["hsic_zy"] == pytest.approx(sift_core.hsic(z, y))
    assert b["total"] == pytest.approx(b["task"] + 0.2 * b["hsic_xz"] - 0.7 * b["hsic_zy"])


def _softmax(a):
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_distillation_kl_equals_the_plain_formula(temperature):
    rng = np.random.default_rng(0)
    s, t = rng.normal(size=(6, 5)) * 3, rng.normal(size=(6, 5)) * 3
    q, p = _softmax(t / temperature), _softmax(s / temperature)
    want = temperature ** 2 * np.mean([sum(q[i, k] * math.log(q[i, k] / p[i, k]) for k in range(5)) for i in range(6)])
    got = sift_core.distillation_kl(s, t, temperature=temperature)
    assert got == pytest.approx(want, rel=1e-10)
    assert sift_core.distillation_kl(s, s, temperature=temperature) == pytest.approx(0.0, abs=1e-12)
    assert sift_core.distillation_kl(s, s + 7.0) == pytest.approx(0.0, abs=1e-12)  # softmax ignores a shift


def test_siftfunnel_terms_add_the_weighted_distillation_term():
    rng = np.random.default_rng(1)
    x, z = rng.normal(size=(8, 12)), rng.normal(size=(8, 3, 2, 2))
    logits, teacher, labels = rng.normal(size=(8, 4)), rng.normal(size=(8, 4)), rng.integers(0, 4, 8)
    plain = sift_core.siftfunnel_terms(x, z, logits, labels)
    with_kd = sift_core.siftfunnel_terms(x, z, logits, labels, teacher_logits=teacher, distill=2.0, temperature=3.0)
    kd = sift_core.distillation_kl(logits, teacher, temperature=3.0)
    assert with_kd["distill"] == pytest.approx(kd)
    assert with_kd["total"] == pytest.approx(plain["total"] + 2.0 * kd)
    assert "distill" not in sift_core.siftfunnel_terms(x, z, logits, labels, teacher_logits=teacher)
    with pytest.raises(ValueError, match="teacher_logits"):
        sift_core.siftfunnel_terms(x, z, logits, labels, distill=1.0)
    with pytest.raises(ValueError, match="temperature"):
        sift_core.distillation_kl(logits, teacher, temperature=0.0)
    with pytest.raises(ValueError, match="teacher_logits must have the shape"):
        sift_core.distillation_kl(logits, teacher[:, :3])


def test_mid_terms_are_cross_entropy_plus_the_weighted_gaussian_kl():
    rng = np.random.default_rng(2)
    logits, labels = rng.normal(size=(5, 3)), rng.integers(0, 3, 5)
    mean, logvar = rng.normal(size=(5, 4, 2, 2)), rng.normal(size=(5, 4, 2, 2))
    t = sift_core.mid_terms(logits, labels, mean, logvar, weight=0.3)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ce = -np.mean(np.log(p[np.arange(5), labels]))
    kl = np.mean(0.5 * (mean ** 2 + np.exp(logvar) - logvar - 1))  # per-entry mean (reduction="mean")
    assert t["task"] == pytest.approx(ce, rel=1e-12) and t["kl"] == pytest.approx(kl, rel=1e-12)
    assert t["total"] == pytest.approx(ce + 0.3 * kl, rel=1e-12)
    with pytest.raises(ValueError, match="weight"):
        sift_core.mid_terms(logits, labels, mean, logvar, weight=-1.0)
