"""MINE in Keras: the critic of sift_torch on sift_core's bounds and driver, against closed-form Gaussian MI."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

import sift_keras as sk  # noqa: E402
from sift_keras.mine import MineCritic, estimate_mi_keras  # noqa: E402

from sift_core import bounds  # noqa: E402
from sift_core.mi import MIEstimate, driver, gaussian_mi, pairs_covariance, sample_gaussian  # noqa: E402

# the settings and tolerance of the torch test (tests/torch_adapter/test_mine.py)
FAST = dict(folds=1, test_fraction=0.3, max_steps=500)


def gaussian_pairs(rho, n=1500, seed=0, dim=3):
    cov = pairs_covariance(dim, dim, n_pairs=2, correlation=rho)
    x, z = sample_gaussian(cov, n, dim_x=dim, seed=seed)
    return x, z, gaussian_mi(cov, dim_x=dim)


def test_exported_beside_the_other_keras_names():
    assert sk.MineCritic is MineCritic and sk.estimate_mi_keras is estimate_mi_keras


def test_estimate_matches_gaussian_closed_form():
    # seeds 0 and 1 gave 1.032 and 1.071 nats for the true 1.022
    x, z, true = gaussian_pairs(0.8)
    est = estimate_mi_keras(x, z, seed=0, **FAST)
    assert isinstance(est, MIEstimate) and est.method == "keras-mine[mine]"
    assert abs(est.value - true) < 0.15
    assert 0 < est.stderr < 0.1
    assert est.best_steps[0] in est.eval_steps[0] and len(est.train_curve) <= FAST["max_steps"]


def test_infonce_matches_closed_form_below_its_log_batch_cap():
    x, z, true = gaussian_pairs(0.8, seed=2)
    est = estimate_mi_keras(x, z, seed=2, objective="infonce", batch_size=64, max_steps=300, folds=1,
                            test_fraction=0.3)
    assert est.method == "keras-mine[infonce]" and abs(est.value - true) < 0.2


def test_reproducible_with_seed_and_folds_aggregated_by_the_driver():
    x, z, _ = gaussian_pairs(0.8, n=400)
    kw = dict(folds=2, max_steps=60, eval_every=20, n_blocks=4)
    a = estimate_mi_keras(x, z, seed=7, **kw)
    b = estimate_mi_keras(x, z, seed=7, **kw)
    c = estimate_mi_keras(x, z, seed=8, **kw)
    assert a.value == b.value and a.fold_values == b.fold_values
    np.testing.assert_array_equal(a.train_curves[1], b.train_curves[1])
    assert a.value != c.value
    assert a.value == pytest.approx(np.mean(a.fold_values))  # two parts of 200 rows


def test_runs_through_the_shared_driver_with_the_shared_defaults(monkeypatch):
    procedures = []
    real = driver.fit_folds

    def spy(critic, n, procedure, **kw):
        procedures.append(procedure)
        return real(critic, n, procedure, **kw)

    monkeypatch.setattr(driver, "fit_folds", spy)
    x, z, _ = gaussian_pairs(0.8, n=200)
    estimate_mi_keras(x, z, seed=0, max_steps=5, eval_every=5, n_blocks=4)
    assert procedures == [driver.Procedure(max_steps=5, eval_every=5, n_blocks=4)]
    sig = inspect.signature(estimate_mi_keras).parameters
    for name, value in vars(driver.DEFAULTS).items():
        assert sig[name].default == value, name


@pytest.mark.parametrize(
    "objective, bound", [("mine", "mine_ema"), ("dv", "dv"), ("nwj", "nwj"), ("smile", "smile"), ("infonce", "infonce")]
)
def test_training_objective_is_the_sift_core_bound(monkeypatch, objective, bound):
    calls = []
    original = getattr(bounds, bound)

    def spy(*args, **kwargs):
        calls.append([a for a in args if isinstance(a, tf.Tensor)])
        return original(*args, **kwargs)

    monkeypatch.setattr(bounds, bound, spy)
    x, z, _ = gaussian_pairs(0.8, n=200)
    estimate_mi_keras(x, z, seed=0, objective=objective, max_steps=3, eval_every=10, folds=1, n_blocks=4,
                      batch_size=32)
    assert calls and calls[0]  # traced once into the training step, on TensorFlow tensors


def test_convolutional_critic_on_channels_last_images():
    cov = pairs_covariance(64, 2, n_pairs=2, correlation=0.9)
    true = gaussian_mi(cov, dim_x=64)  # 1.66 nats
    x, z = sample_gaussian(cov, 1500, dim_x=64, seed=0)
    est = estimate_mi_keras(x.reshape(-1, 8, 8, 1), z, seed=0, **FAST)
    assert 0.7 * true < est.value < true + 0.1


def test_critic_scores_every_pair_and_round_trips_through_a_keras_file(tmp_path):
    critic = MineCritic((3,), (8, 8, 1), hidden=(16, 8), seed=0)
    assert any(isinstance(layer, keras.layers.Conv2D) for layer in critic.enc_z)
    rng = np.random.default_rng(0)
    x, z = rng.standard_normal((5, 3)).astype("float32"), rng.standard_normal((5, 8, 8, 1)).astype("float32")
    s = keras.ops.convert_to_numpy(critic.score_matrix(x, z))
    assert s.shape == (5, 5)
    for j in range(5):
        np.testing.assert_allclose(s[:, j], critic((x, np.repeat(z[j : j + 1], 5, axis=0))), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.diagonal(s), critic((x, z)), rtol=1e-5, atol=1e-6)
    again = MineCritic((3,), (8, 8, 1), hidden=(16, 8), seed=0)
    assert all(np.array_equal(u, v) for u, v in zip(critic.get_weights(), again.get_weights()))
    critic.save(tmp_path / "critic.keras")
    loaded = keras.models.load_model(tmp_path / "critic.keras")
    np.testing.assert_allclose(loaded((x, z)), critic((x, z)), rtol=1e-6)


def test_inputs_are_validated_with_the_argument_named():
    x, z, _ = gaussian_pairs(0.8, n=100)
    with pytest.raises(ValueError, match="same number of samples"):
        estimate_mi_keras(x, z[:50], seed=0)
    with pytest.raises(ValueError, match="objective"):
        estimate_mi_keras(x, z, seed=0, objective="jsd")
    with pytest.raises(TypeError, match="seed"):
        estimate_mi_keras(x, z, seed=None)
    with pytest.raises(ValueError, match="x contains NaN"):
        estimate_mi_keras(np.full_like(x, np.nan), z, seed=0)
    with pytest.raises(ValueError, match="too few samples"):
        estimate_mi_keras(x[:10], z[:10], seed=0)
    with pytest.raises(ValueError, match="inputs"):
        estimate_mi_keras(x, z, seed=0, inputs="log")
    with pytest.raises(ValueError, match="hidden"):
        MineCritic((3,), (3,), hidden=())
    with pytest.raises(ValueError, match="activation"):
        MineCritic((3,), (3,), activation="gelu")
