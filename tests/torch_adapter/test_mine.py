"""MINE in torch: an unbounded critic on sift_core's bounds, checked against closed-form Gaussian MI."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sift_torch.mine import MineCritic, estimate_mi_torch  # noqa: E402

from sift_core import bounds  # noqa: E402
from sift_core.mi import MIEstimate, gaussian_mi, pairs_covariance, sample_gaussian  # noqa: E402

FAST = dict(folds=1, test_fraction=0.3, max_steps=500)


def gaussian_pairs(rho, n=1500, seed=0, dim=3):
    cov = pairs_covariance(dim, dim, n_pairs=2, correlation=rho)
    x, z = sample_gaussian(cov, n, dim_x=dim, seed=seed)
    return x, z, gaussian_mi(cov, dim_x=dim)


def test_estimate_matches_gaussian_closed_form():
    # Over seeds 0-3 these settings gave 0.96-1.02 nats for the true 1.022.
    x, z, true = gaussian_pairs(0.8)
    est = estimate_mi_torch(x, z, seed=0, **FAST)
    assert isinstance(est, MIEstimate) and est.method == "torch-mine[mine]"
    assert abs(est.value - true) < 0.15
    assert 0 < est.stderr < 0.1


@pytest.mark.parametrize("objective", ["nwj", "smile", "dv"])
def test_companion_bounds_also_match_closed_form(objective):
    x, z, true = gaussian_pairs(0.8, seed=1)
    est = estimate_mi_torch(x, z, seed=1, objective=objective, **FAST)
    assert abs(est.value - true) < 0.15


def test_infonce_matches_closed_form_below_its_log_batch_cap():
    # The truth (1.02 nats) is far below InfoNCE's cap of log(batch) = 4.16 nats.
    x, z, true = gaussian_pairs(0.8, seed=2)
    est = estimate_mi_torch(x, z, seed=2, objective="infonce", batch_size=64, **FAST)
    assert est.method == "torch-mine[infonce]"
    assert abs(est.value - true) < 0.2


def test_unbounded_critic_reports_more_than_one_nat():
    # A critic squashed into (0, 1) cannot exceed 1 nat under the DV bound; the truth here is 2.33.
    x, z, true = gaussian_pairs(0.95, seed=0)
    est = estimate_mi_torch(x, z, seed=0, **FAST)
    assert est.value > 1.9 and est.value < true + 0.1


def test_independent_variables_give_about_zero():
    x, z = sample_gaussian(np.eye(6), 1500, dim_x=3, seed=0)
    est = estimate_mi_torch(x, z, seed=0, **FAST)
    assert abs(est.value) < 0.05


def test_convolutional_critic_on_image_shaped_x():
    # x: 8x8 Gaussian "images", two of whose pixels are correlated (rho 0.9) with z: MI 1.66 nats.
    cov = pairs_covariance(64, 2, n_pairs=2, correlation=0.9)
    true = gaussian_mi(cov, dim_x=64)
    x, z = sample_gaussian(cov, 1500, dim_x=64, seed=0)
    est = estimate_mi_torch(x.reshape(-1, 1, 8, 8), z, seed=0, **FAST)
    assert 0.7 * true < est.value < true + 0.1


def test_reproducible_with_seed():
    x, z, _ = gaussian_pairs(0.8, n=400)
    kw = dict(folds=2, max_steps=60, eval_every=20, n_blocks=4)
    a = estimate_mi_torch(x, z, seed=7, **kw)
    b = estimate_mi_torch(x, z, seed=7, **kw)
    c = estimate_mi_torch(x, z, seed=8, **kw)
    assert a.value == b.value and a.fold_values == b.fold_values
    np.testing.assert_array_equal(a.train_curves[0], b.train_curves[0])
    assert a.value != c.value


@pytest.mark.parametrize(
    "objective, bound", [("mine", "mine_ema"), ("dv", "dv"), ("nwj", "nwj"), ("smile", "smile"), ("infonce", "infonce")]
)
def test_training_objective_is_the_sift_core_bound(monkeypatch, objective, bound):
    calls = []
    original = getattr(bounds, bound)

    def spy(*args, **kwargs):
        calls.append([a for a in args if isinstance(a, torch.Tensor)])
        return original(*args, **kwargs)

    monkeypatch.setattr(bounds, bound, spy)
    x, z, _ = gaussian_pairs(0.8, n=200)
    estimate_mi_torch(x, z, seed=0, objective=objective, max_steps=3, eval_every=10, folds=1, n_blocks=4,
                      batch_size=32)
    assert len(calls) >= 3  # one call per training step at least
    assert all(t.requires_grad for t in calls[0][:1])  # called on the critic's differentiable scores


def test_critic_score_matrix_scores_every_pair():
    torch.manual_seed(0)
    critic = MineCritic((3,), (1, 8, 8), hidden=(16, 8))
    x, z = torch.randn(5, 3), torch.randn(5, 1, 8, 8)
    s = critic.score_matrix(x, z)
    assert s.shape == (5, 5)
    for j in range(5):
        torch.testing.assert_close(s[:, j], critic(x, z[j].expand(5, 1, 8, 8)))
    torch.testing.assert_close(torch.diagonal(s), critic(x, z))
    # Unbounded output: scale the last layer and the scores follow, far outside (0, 1).
    with torch.no_grad():
        critic.head[-1].weight.mul_(1e3)
        critic.head[-1].bias.fill_(-50.0)
    assert float(critic(x, z).detach().abs().max()) > 10.0  # a squashed critic stays within (0, 1)


def test_inputs_are_validated_with_the_argument_named():
    x, z, _ = gaussian_pairs(0.8, n=100)
    with pytest.raises(ValueError, match="same number of samples"):
        estimate_mi_torch(x, z[:50], seed=0)
    with pytest.raises(ValueError, match="objective"):
        estimate_mi_torch(x, z, seed=0, objective="jsd")
    with pytest.raises(TypeError, match="seed"):
        estimate_mi_torch(x, z, seed=None)
    with pytest.raises(ValueError, match="x contains NaN"):
        estimate_mi_torch(np.full_like(x, np.nan), z, seed=0)
    with pytest.raises(ValueError, match="too few samples"):
        estimate_mi_torch(x[:10], z[:10], seed=0)
    with pytest.raises(ValueError, match="hidden"):
        MineCritic((3,), (3,), hidden=())


def test_runs_through_the_shared_driver_with_the_shared_defaults(monkeypatch):
    import inspect

    from sift_core.mi import driver

    procedures = []
    real = driver.fit_folds

    def spy(critic, n, procedure, **kw):
        procedures.append(procedure)
        return real(critic, n, procedure, **kw)

    monkeypatch.setattr(driver, "fit_folds", spy)
    x, z, _ = gaussian_pairs(0.8, n=200)
    est = estimate_mi_torch(x, z, seed=0, max_steps=5, eval_every=5, n_blocks=4)
    assert procedures == [driver.Procedure(max_steps=5, eval_every=5, n_blocks=4)]
    assert est.value == pytest.approx(np.mean(est.fold_values))  # two held-out parts of 100 rows
    sig = inspect.signature(estimate_mi_torch).parameters
    for name, value in vars(driver.DEFAULTS).items():
        assert sig[name].default == value, name
