"""sift_core.mi.driver: the MINE procedure shared by every critic, checked with scripted fake critics."""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest

import sift_core.mi as mi
from sift_core.mi import driver
from sift_core.mi.driver import DEFAULTS, MIEstimate, Procedure, averaging_weight, fit_folds


class Scripted:
    """A critic whose held-out DV value after step t is ``curve(fold, t)``, exactly.

    Held-out scores: T = value + offsets on the joint pairs (offsets of mean 0 inside each block),
    T = 0 on the marginal pairs, so the DV value of the whole part is ``value`` and that of block
    b is ``value + block_offsets[b]``.
    """

    def __init__(self, curve, n_blocks, block_offsets=None):
        self.curve, self.n_blocks, self.block_offsets = curve, n_blocks, block_offsets
        self.calls = []

    def init(self, fold):
        return {"fold": fold, "t": 0, "avg": self.curve(fold.index, 0), "betas": []}

    def step(self, s, joint, marginal, beta):
        s["t"] += 1
        s["avg"] = self.curve(s["fold"].index, s["t"])
        s["betas"].append(beta)
        self.calls.append((s["fold"], joint.copy(), marginal.copy()))
        return -float(s["t"])

    def scores(self, s):
        m = len(s["fold"].test)
        tj = np.full(m, s["avg"], dtype=float)
        if self.block_offsets is not None:
            for b, rows in enumerate(np.array_split(np.arange(m), self.n_blocks)):
                tj[rows] += self.block_offsets[s["fold"].index][b]
        return tj, np.zeros((len(s["fold"].shifts), m))

    def score_matrices(self, s):
        return [np.eye(len(c)) * s["avg"] for c in s["fold"].chunks]

    def snapshot(self, s):
        return s["avg"]

    def restore(self, s, snapshot):
        s["avg"] = snapshot


def test_early_stopping_keeps_the_best_evaluation_and_stops_after_patience():
    # held-out value rises until step 300, then falls: evaluations at 100..600, patience 3
    values = {100: 0.1, 200: 0.4, 300: 0.5, 400: 0.45, 500: 0.3, 600: 0.2, 700: 0.9}
    critic = Scripted(lambda k, t: values.get(t, -1.0), n_blocks=4)
    p = Procedure(folds=1, test_fraction=0.5, max_steps=2000, eval_every=100, patience=3, n_blocks=4, averaging=0.0)
    est = fit_folds(critic, 200, p, seed=0, method="fake")
    assert isinstance(est, MIEstimate) and est.method == "fake" and est.n_samples == 200
    assert est.best_steps == (300,) and est.value == pytest.approx(0.5)
    np.testing.assert_array_equal(est.eval_steps[0], [100, 200, 300, 400, 500, 600])  # 700 never reached
    np.testing.assert_allclose(est.eval_curves[0], [0.1, 0.4, 0.5, 0.45, 0.3, 0.2])
    np.testing.assert_array_equal(est.train_curve, -np.arange(1, 601))
    assert est.stderr == 0.0  # every block has the same value


def test_the_last_step_is_always_evaluated():
    critic = Scripted(lambda k, t: 0.1 * t, n_blocks=2)
    p = Procedure(folds=1, max_steps=7, eval_every=5, n_blocks=2, averaging=0.0)
    est = fit_folds(critic, 100, p, seed=0, method="fake")
    np.testing.assert_array_equal(est.eval_steps[0], [5, 7])
    assert est.best_steps == (7,) and est.value == pytest.approx(0.7)


def test_folds_are_aggregated_by_held_out_size_and_blocks_give_the_stderr():
    n, folds, n_blocks = 101, 3, 4  # unequal parts: 34, 34, 33 rows
    offsets = [[-0.1, 0.1, 0.2, -0.2], [0.0, 0.3, -0.3, 0.0], [0.05, -0.05, 0.1, -0.1]]
    critic = Scripted(lambda k, t: [1.0, 2.0, 4.0][k], n_blocks=n_blocks, block_offsets=offsets)
    p = Procedure(folds=folds, max_steps=10, eval_every=5, n_blocks=n_blocks)
    est = fit_folds(critic, n, p, seed=1, method="fake")
    sizes = np.array([34, 34, 33])
    # the value of a fold is the DV value of its whole part: the size-weighted mean of its blocks
    fold_values = []
    for k in range(folds):
        blocks = [len(b) for b in np.array_split(np.arange(sizes[k]), n_blocks)]
        fold_values.append([1.0, 2.0, 4.0][k] + np.dot(blocks, offsets[k]) / sizes[k])
    np.testing.assert_allclose(est.fold_values, fold_values)
    assert est.value == pytest.approx(np.dot(sizes, fold_values) / n)
    blocks = np.concatenate([np.array([1.0, 2.0, 4.0][k]) + np.array(offsets[k]) for k in range(folds)])
    assert est.stderr == pytest.approx(blocks.std(ddof=1) / math.sqrt(folds * n_blocks))


def test_folds_partition_the_rows_and_training_never_sees_held_out_rows():
    critic = Scripted(lambda k, t: 0.0, n_blocks=2)
    p = Procedure(folds=3, batch_size=16, max_steps=20, eval_every=10, n_blocks=2, eval_shifts=4)
    fit_folds(critic, 90, p, seed=2, method="fake")
    tests = {}
    for fold, joint, marginal in critic.calls:
        tests[fold.index] = fold.test
        assert len(joint) == 16 and len(set(joint.tolist())) == 16  # distinct joint rows
        assert np.isin(joint, fold.train).all() and np.isin(marginal, fold.train).all()
        assert not np.isin(joint, fold.test).any()
        assert len(np.intersect1d(fold.train, fold.test)) == 0 and len(fold.train) + len(fold.test) == 90
        assert fold.shifts.min() >= 1 and fold.shifts.max() < len(fold.test)  # derangements
    np.testing.assert_array_equal(np.sort(np.concatenate(list(tests.values()))), np.arange(90))


def test_averaging_schedule_and_reproducibility():
    critic = Scripted(lambda k, t: 0.0, n_blocks=2)
    p = Procedure(folds=1, max_steps=30, eval_every=10, n_blocks=2, averaging=0.9)
    fit_folds(critic, 60, p, seed=3, method="fake")
    first = [c[1] for c in critic.calls]
    assert averaging_weight(1, 0.9) == pytest.approx(2 / 11) and averaging_weight(1000, 0.9) == 0.9
    again = Scripted(lambda k, t: 0.0, n_blocks=2)
    fit_folds(again, 60, p, seed=3, method="fake")
    assert all(np.array_equal(a, b[1]) for a, b in zip(first, again.calls))
    other = Scripted(lambda k, t: 0.0, n_blocks=2)
    fit_folds(other, 60, p, seed=4, method="fake")
    assert not all(np.array_equal(a, b[1]) for a, b in zip(first, other.calls))


def test_workers_do_not_change_the_result():
    def curve(k, t):
        return math.sin(t + k)

    p = Procedure(folds=2, max_steps=50, eval_every=5, n_blocks=2)
    a = fit_folds(Scripted(curve, 2), 80, p, seed=5, method="fake", workers=1)
    b = fit_folds(Scripted(curve, 2), 80, p, seed=5, method="fake", workers=2)
    assert (a.value, a.stderr, a.fold_values, a.best_steps) == (b.value, b.stderr, b.fold_values, b.best_steps)
    assert all(np.array_equal(u, v) for u, v in zip(a.train_curves, b.train_curves))


def test_infonce_is_scored_on_the_chunks():
    critic = Scripted(lambda k, t: 2.0, n_blocks=2)
    p = Procedure(objective="infonce", folds=1, test_fraction=0.5, batch_size=25, max_steps=3, eval_every=1,
                  n_blocks=2)
    est = fit_folds(critic, 100, p, seed=0, method="fake")
    # S = 2 I on chunks of 25: log 25 + 2 - log(e^2 + 24) per chunk, two chunks
    expected = math.log(25) + 2.0 - math.log(math.exp(2.0) + 24)
    assert est.value == pytest.approx(expected) and est.stderr == pytest.approx(0.0, abs=1e-12)


def test_progress_wraps_each_folds_steps():
    seen = []

    def progress(steps, desc):
        seen.append(desc)
        return steps

    fit_folds(Scripted(lambda k, t: 0.0, 2), 60, Procedure(folds=2, max_steps=4, n_blocks=2), method="fake",
              progress=progress)
    assert seen == ["MINE fold 1/2", "MINE fold 2/2"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"objective": "jsd"}, "objective"), ({"batch_size": 1}, "batch_size"), ({"folds": 0}, "folds"),
     ({"test_fraction": 1.0}, "test_fraction"), ({"averaging": 1.0}, "averaging"), ({"n_blocks": 1}, "n_blocks"),
     ({"patience": 0}, "patience"), ({"eval_shifts": 0}, "eval_shifts")],
)
def test_procedure_options_are_validated(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Procedure(**kwargs)


def test_too_few_samples_is_a_clear_error():
    with pytest.raises(ValueError, match="too few samples"):
        fit_folds(Scripted(lambda k, t: 0.0, 10), 30, Procedure(), method="fake")


def test_the_numpy_estimator_runs_through_the_driver_with_the_shared_defaults(monkeypatch):
    calls = []
    real = driver.fit_folds

    def spy(critic, n, procedure, **kw):
        calls.append(procedure)
        return real(critic, n, procedure, **kw)

    # sift_core.mi.mine is the function; its module is reached by name
    monkeypatch.setattr(importlib.import_module("sift_core.mi.mine"), "fit_folds", spy)
    x, z = mi.gaussian_task(mi.bivariate_covariance(0.8), dim_x=1).sample(400, seed=0)
    est = mi.mine(x, z, seed=0, max_steps=200, eval_every=50, hidden=(8,))
    assert calls == [Procedure(max_steps=200, eval_every=50)]
    assert est.value == pytest.approx(np.dot([200, 200], est.fold_values) / 400)
    assert all(s in steps for s, steps in zip(est.best_steps, est.eval_steps))


def test_one_table_of_defaults():
    import inspect

    sig = inspect.signature(mi.mine).parameters
    for name, value in vars(DEFAULTS).items():
        assert sig[name].default == value, name
    assert DEFAULTS.inputs == "rank" and DEFAULTS.hidden == (32, 32) and DEFAULTS.lr == 3e-3


def test_rank_transform_is_the_gaussian_rank_transform():
    scipy_stats = pytest.importorskip("scipy.stats")
    w = np.random.default_rng(0).integers(0, 5, size=(200, 3)).astype(float)
    w[:, 2] = np.random.default_rng(1).standard_cauchy(200)
    expected = scipy_stats.norm.ppf((scipy_stats.rankdata(w, axis=0) - 0.5) / 200)
    np.testing.assert_allclose(driver.transform_columns(w, "rank"), expected, atol=1e-8)
    assert np.all(driver.transform_columns(np.ones((10, 2)), "rank") == 0.0)  # constant columns -> 0
