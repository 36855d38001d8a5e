"""SiftFunnelLoss: term values against independent formulas, gradient routing, dead-feature warnings."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import sift_torch as st  # noqa: E402

import sift_core  # noqa: E402


def _batch(seed=0, n=24, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 6, 6, generator=g, dtype=dtype)
    z = torch.randn(n, 4, 3, 3, generator=g, dtype=dtype)
    logits = torch.randn(n, 5, generator=g, dtype=dtype)
    labels = torch.randint(0, 5, (n,), generator=g)
    return x, z, logits, labels


def _redundancy_loop(z: np.ndarray) -> float:
    """Plain per-sample formula: mean squared off-diagonal Pearson correlation of the channels."""
    vals = []
    for s in z:
        c = np.corrcoef(s.reshape(s.shape[0], -1))
        k = c.shape[0]
        vals.append((c[~np.eye(k, dtype=bool)] ** 2).mean())
    return float(np.mean(vals))


def _dcor_sq_plain(a: np.ndarray, b: np.ndarray) -> float:
    """Squared V-statistic distance correlation from explicitly double-centred distance matrices."""

    def centred(m):
        d = np.sqrt(((m[:, None, :] - m[None, :, :]) ** 2).sum(-1))
        return d - d.mean(0, keepdims=True) - d.mean(1, keepdims=True) + d.mean()

    A, B = centred(a), centred(b)
    return float((A * B).mean() / np.sqrt((A * A).mean() * (B * B).mean()))


def test_terms_equal_independent_and_numpy_values():
    x, z, logits, labels = _batch()
    loss_fn = st.SiftFunnelLoss(alpha=5.0, beta=2.0, lambda_1=0.03, gamma=2.0, epsilon=0.25)
    total = loss_fn(x, z, logits, labels)
    t = loss_fn.terms
    # the authors' form of the task term: KL to the smoothed target, batch mean
    target = torch.full((24, 5), 0.25 / 4, dtype=torch.float64)
    target[torch.arange(24), labels] = 0.75
    torch.testing.assert_close(t["task"], F.kl_div(F.log_softmax(logits, 1), target, reduction="batchmean"))
    xn, zn = x.numpy().reshape(24, -1), z.numpy()
    assert float(t["dcor"]) == pytest.approx(_dcor_sq_plain(xn, zn.reshape(24, -1)), rel=1e-9)
    assert float(t["l1"]) == pytest.approx(np.abs(zn).mean(), rel=1e-12)
    assert float(t["redundancy"]) == pytest.approx(_redundancy_loop(zn), rel=1e-9)
    # and each equals sift_core's numpy value on the same batch
    ref = sift_core.siftfunnel_terms(xn, zn, logits.numpy(), labels.numpy())
    for k in ("task", "dcor", "l1", "redundancy", "total"):
        assert float(t[k]) == pytest.approx(ref[k], rel=1e-10), k
    assert float(total) == pytest.approx(5 * ref["task"] + 2 * ref["dcor"] + 0.03 * ref["l1"] + 2 * ref["redundancy"])
    assert float(t["nonzero"]) == 1.0
    assert all(not v.requires_grad for v in t.values())


def test_float32_terms_stay_close_to_float64():
    x, z, logits, labels = _batch(seed=3)
    a = st.SiftFunnelLoss()
    b = st.SiftFunnelLoss()
    a(x, z, logits, labels)
    b(x.float(), z.float(), logits.float(), labels)
    for k in ("task", "dcor", "l1", "redundancy"):
        assert b.terms[k].dtype == torch.float32
        assert float(b.terms[k]) == pytest.approx(float(a.terms[k]), rel=1e-4, abs=1e-6), k


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.edge = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.LeakyReLU(0.1))
        self.cloud = nn.Sequential(nn.Flatten(), nn.Linear(3 * 36, 4))


@pytest.mark.parametrize(
    "weights",
    [dict(beta=1.0), dict(lambda_1=1.0), dict(gamma=1.0)],
    ids=["dcor", "l1", "redundancy"],
)
def test_penalties_train_the_edge_only(weights):
    torch.manual_seed(0)
    m = _Tiny()
    x = torch.rand(16, 1, 6, 6)
    y = torch.randint(0, 4, (16,))
    settings = dict(alpha=0.0, beta=0.0, lambda_1=0.0, gamma=0.0)
    settings.update(weights)
    z = m.edge(x)
    loss = st.SiftFunnelLoss(**settings)(x, z, m.cloud(z), y)
    loss.backward()
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in m.cloud.parameters())
    assert any(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in m.edge.parameters())


def test_task_term_trains_both_parts():
    torch.manual_seed(0)
    m = _Tiny()
    x = torch.rand(16, 1, 6, 6)
    z = m.edge(x)
    st.SiftFunnelLoss(beta=0.0, lambda_1=0.0, gamma=0.0)(x, z, m.cloud(z), torch.randint(0, 4, (16,))).backward()
    for part in (m.edge, m.cloud):
        assert all(p.grad is not None and torch.count_nonzero(p.grad) > 0 for p in part.parameters())


def test_dead_features_warn_with_what_to_change():
    x, z, logits, labels = _batch(dtype=torch.float32)
    loss_fn = st.SiftFunnelLoss()
    with pytest.warns(st.DeadFeaturesWarning, match="learning rate") as rec:
        value = loss_fn(x, torch.zeros_like(z), logits, labels)
    msg = str(rec[0].message)
    assert "LeakyReLU" in msg and "every transmitted feature" in msg
    assert torch.isfinite(value)  # degenerate but valid: dCor and R_P are 0, not NaN
    assert float(loss_fn.terms["dcor"]) == 0.0 and float(loss_fn.terms["redundancy"]) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", st.DeadFeaturesWarning)
        loss_fn(x, z, logits, labels)  # live features: silent
        st.SiftFunnelLoss(check_dead=False)(x, torch.zeros_like(z), logits, labels)


def test_validation_names_the_argument():
    with pytest.raises(ValueError, match="beta"):
        st.SiftFunnelLoss(beta=-1.0)
    with pytest.raises(ValueError, match="epsilon"):
        st.SiftFunnelLoss(epsilon=1.0)
    with pytest.raises(ValueError, match="penalty_batch"):
        st.SiftFunnelLoss(penalty_batch="everything")
    x, z, logits, labels = _batch()
    with pytest.raises(ValueError, match="same number of samples"):
        st.SiftFunnelLoss()(x, z[:-1], logits, labels)
    with pytest.raises(TypeError, match="labels"):
        st.SiftFunnelLoss()(x, z, logits, labels.double())
    with pytest.raises(ValueError, match="labels"):
        st.SiftFunnelLoss()(x, z, logits, labels + 5)


def test_unbiased_and_diagonal_options_reach_the_core():
    x, z, logits, labels = _batch(seed=5)
    fn = st.SiftFunnelLoss(unbiased=True, include_diagonal=True)
    fn(x, z, logits, labels)
    xn, zn = x.numpy(), z.numpy()
    assert float(fn.terms["dcor"]) == pytest.approx(sift_core.distance_correlation(xn, zn, squared=True, unbiased=True))
    assert float(fn.terms["redundancy"]) == pytest.approx(sift_core.channel_redundancy(zn, include_diagonal=True))


def test_distillation_from_a_teacher_matches_torch_and_trains_the_student_only():
    x, z, logits, labels = _batch(seed=3)
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(36, 5)).double()
    plain = st.SiftFunnelLoss()
    loss = st.SiftFunnelLoss(teacher=teacher, distill=2.0, temperature=3.0)
    teacher.train()  # the loss must switch it (back) to evaluation mode and keep its gradients off
    logits = logits.clone().requires_grad_(True)
    total = loss(x, z, logits, labels)
    with torch.no_grad():
        t = teacher(x)
    kd = 9.0 * F.kl_div(F.log_softmax(logits / 3.0, 1), F.log_softmax(t / 3.0, 1), reduction="batchmean",
                        log_target=True)
    assert float(loss.terms["distill"]) == pytest.approx(float(kd), rel=1e-9)
    assert float(total) == pytest.approx(float(plain(x, z, logits, labels)) + 2.0 * float(kd), rel=1e-9)
    total.backward()
    assert logits.grad is not None and all(p.grad is None for p in teacher.parameters())
    assert not teacher.training
    assert not list(loss.parameters()) and not loss.state_dict()  # the teacher is not the criterion's state


def test_distillation_settings_are_validated():
    with pytest.raises(ValueError, match="teacher"):
        st.SiftFunnelLoss(distill=1.0)
    with pytest.raises(TypeError, match="teacher"):
        st.SiftFunnelLoss(teacher="model", distill=1.0)
    with pytest.raises(ValueError, match="distill"):
        st.SiftFunnelLoss(teacher=nn.Linear(2, 2), distill=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        st.SiftFunnelLoss(teacher=nn.Linear(2, 2), distill=1.0, temperature=0)


def test_one_table_of_siftfunnel_defaults():
    import inspect

    from sift_reference.spec import DEFENCE_KEYS

    from sift_core.objective import SIFTFUNNEL_DEFAULTS

    for fn in (st.SiftFunnelLoss, sift_core.siftfunnel_terms):
        params = inspect.signature(fn).parameters
        assert {k: params[k].default for k in SIFTFUNNEL_DEFAULTS} == SIFTFUNNEL_DEFAULTS
    assert {k: DEFENCE_KEYS["siftfunnel"][k][1] for k in SIFTFUNNEL_DEFAULTS} == SIFTFUNNEL_DEFAULTS
    assert SIFTFUNNEL_DEFAULTS == {"alpha": 5.0, "beta": 2.0, "lambda_1": 0.03, "gamma": 2.0, "epsilon": 0.25}
