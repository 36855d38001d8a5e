"""Variational MI bounds: plain formulas, conventions, stability, backend parity and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import sift_core.mi as mi
from sift_core import bounds

SETTINGS = settings(max_examples=30, deadline=None)
scores_1d = arrays(np.float64, st.integers(1, 40), elements=st.floats(-20, 20))
matrices = st.integers(2, 12).flatmap(lambda n: arrays(np.float64, (n, n), elements=st.floats(-20, 20)))


def _offdiag(s):
    return s[~np.eye(len(s), dtype=bool)]


@SETTINGS
@given(tj=scores_1d, tm=scores_1d)
def test_bounds_equal_their_plain_formulas(tj, tm):
    lme = math.log(np.mean(np.exp(tm)))
    assert bounds.dv(tj, tm) == pytest.approx(tj.mean() - lme, abs=1e-9)
    assert bounds.nwj(tj, tm) == pytest.approx(tj.mean() - np.mean(np.exp(tm - 1.0)), rel=1e-9, abs=1e-9)
    clipped = math.log(np.mean(np.exp(np.clip(tm, -3.0, 3.0))))
    assert bounds.smile(tj, tm, clip=3.0) == pytest.approx(tj.mean() - clipped, abs=1e-9)
    value, state = bounds.mine_ema(tj, tm)
    assert value == pytest.approx(tj.mean() - lme, abs=1e-9)
    assert state == pytest.approx(lme, abs=1e-9)


@SETTINGS
@given(s=matrices)
def test_matrix_convention_is_diagonal_against_off_diagonal(s):
    tj, tm = np.diagonal(s), _offdiag(s)
    assert bounds.dv(s) == pytest.approx(bounds.dv(tj, tm), abs=1e-9)
    assert bounds.nwj(s) == pytest.approx(bounds.nwj(tj, tm), rel=1e-9, abs=1e-9)
    assert bounds.smile(s) == pytest.approx(bounds.smile(tj, tm), abs=1e-9)
    assert bounds.mine_ema(s, None, 0.5)[1] == pytest.approx(bounds.mine_ema(tj, tm, 0.5)[1], abs=1e-9)
    n = len(s)
    plain = np.mean(np.diagonal(s) - np.log(np.exp(s).sum(axis=1))) + math.log(n)
    assert bounds.infonce(s) == pytest.approx(plain, abs=1e-9)


@SETTINGS
@given(s=matrices, c=st.floats(-1e3, 1e3))
def test_dv_and_infonce_are_shift_invariant(s, c):
    assert bounds.dv(s + c) == pytest.approx(bounds.dv(s), abs=1e-8)
    rows = np.linspace(-c, c, len(s))[:, None]
    assert bounds.infonce(s + rows) == pytest.approx(bounds.infonce(s), abs=1e-8)


def test_scores_of_1e4_do_not_overflow():
    rng = np.random.default_rng(0)
    s = 1e4 * rng.standard_normal((16, 16))
    for value in (bounds.dv(s), bounds.infonce(s), bounds.smile(s), *bounds.mine_ema(s, None, 9e3)):
        assert np.isfinite(value)
    assert bounds.nwj(s) == -math.inf  # the value itself is -exp(~1e4): documented, never NaN
    assert bounds.log_mean_exp(np.array([1e4, 1e4])) == pytest.approx(1e4)


def test_mine_ema_state_update():
    tm = np.array([0.1, -0.4, 2.0])
    prev, rate = math.log(1.7), 0.1
    _, state = bounds.mine_ema(np.zeros(2), tm, prev, rate=rate)
    assert state == pytest.approx(math.log((1 - rate) * 1.7 + rate * np.mean(np.exp(tm))))
    assert bounds.mine_ema(np.zeros(2), tm, prev, rate=1.0)[1] == pytest.approx(math.log(np.mean(np.exp(tm))))


def _log_ratio_critic(task):
    """The optimal DV critic log p(x, z) / (p(x) p(z)) of a Gaussian task."""
    c, dx = task.matrix, task.dim_x
    p, px, pz = np.linalg.inv(c), np.linalg.inv(c[:dx, :dx]), np.linalg.inv(c[dx:, dx:])

    def critic(x, z):
        w = np.hstack([x, z])
        form = lambda a, m: np.einsum("ij,jk,ik->i", a, m, a)
        return task.mi + 0.5 * (form(x, px) + form(z, pz) - form(w, p))

    return critic


@pytest.mark.parametrize("scale", [0.0, 0.5, 1.0, 1.5])
@pytest.mark.parametrize("offset", [-1.0, 0.0, 1.0])
def test_bounds_stay_below_the_true_mi(scale, offset):
    """Any critic gives an estimate below I(x; z) up to its statistical error (4 standard errors over 20 batches)."""
    task = mi.gaussian_task(mi.dense_covariance(2, 2, off_diag=0.6), dim_x=2)
    x, z = task.sample(4000, seed=11)
    t = _log_ratio_critic(task)
    batches = np.array_split(np.arange(4000), 20)
    fns = {
        "dv": lambda i: bounds.dv(scale * t(x[i], z[i]) + offset, scale * t(x[i], np.roll(z[i], 1, 0)) + offset),
        "nwj": lambda i: bounds.nwj(scale * t(x[i], z[i]) + offset, scale * t(x[i], np.roll(z[i], 1, 0)) + offset),
        "smile": lambda i: bounds.smile(scale * t(x[i], z[i]) + offset, scale * t(x[i], np.roll(z[i], 1, 0)) + offset),
        "infonce": lambda i: bounds.infonce(
            scale * np.stack([t(x[i], np.roll(z[i], -s, 0)) for s in range(len(i))], axis=1) + offset
        ),
    }
    for name, fn in fns.items():
        per_batch = np.array([fn(i) for i in batches])
        se = per_batch.std(ddof=1) / math.sqrt(len(per_batch))
        assert per_batch.mean() <= task.mi + 4 * se + 1e-9, name
    if scale == 1.0:  # the optimal critic makes DV (and NWJ with offset 1) tight
        dv = np.array([fns["dv"](i) for i in batches])
        assert dv.mean() == pytest.approx(task.mi, abs=4 * dv.std(ddof=1) / math.sqrt(20) + 0.02)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: bounds.dv(np.zeros((3, 4))), "t_joint must be a square"),
        (lambda: bounds.dv(np.zeros((1, 1))), "n >= 2"),
        (lambda: bounds.infonce(np.zeros(4)), "scores must be a square"),
        (lambda: bounds.nwj(np.zeros(3), np.array([np.nan])), "t_marginal contains NaN"),
        (lambda: bounds.dv(np.zeros(3), np.zeros(0)), "t_marginal is empty"),
        (lambda: bounds.mine_ema(np.zeros(3), np.zeros(3), rate=0.0), "rate"),
        (lambda: bounds.mine_ema(np.zeros(3), np.zeros(3), rate=1.5), "rate"),
        (lambda: bounds.smile(np.zeros(3), np.zeros(3), clip=-1.0), "clip"),
        (lambda: bounds.dv(np.array(["a"]), np.zeros(2)), "t_joint"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# ------------------------------------------------------------------ frameworks


def _all_bounds(tj, tm, s, log_ema):
    return {
        "dv": bounds.dv(tj, tm),
        "dv_matrix": bounds.dv(s),
        "nwj": bounds.nwj(tj, tm),
        "smile": bounds.smile(tj, tm, clip=1.0),
        "smile_matrix": bounds.smile(s, clip=1.0),
        "infonce": bounds.infonce(s),
        "mine": bounds.mine_ema(tj, tm, log_ema)[0],
        "mine_state": bounds.mine_ema(tj, tm, log_ema)[1],
        "mine_matrix": bounds.mine_ema(s, None, log_ema)[0],
    }


def _example(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(7), 2 * rng.standard_normal(9), rng.standard_normal((6, 6)), 0.3


def test_torch_bounds_equal_numpy():
    torch = pytest.importorskip("torch")
    tj, tm, s, ema = _example()
    ref = _all_bounds(tj, tm, s, ema)
    got = _all_bounds(torch.tensor(tj), torch.tensor(tm), torch.tensor(s), torch.tensor(ema, dtype=torch.float64))
    for name, value in got.items():
        assert isinstance(value, torch.Tensor), name
        assert value.item() == pytest.approx(ref[name], abs=1e-12), name
    got32 = bounds.infonce(torch.tensor(s, dtype=torch.float32))
    assert got32.dtype == torch.float32 and got32.item() == pytest.approx(ref["infonce"], abs=1e-5)


def test_torch_mine_ema_gradient_is_the_bias_corrected_one():
    torch = pytest.importorskip("torch")
    tj_np, tm_np, s_np, prev = _example(1)
    tj = torch.tensor(tj_np, requires_grad=True)
    tm = torch.tensor(tm_np, requires_grad=True)
    value, state = bounds.mine_ema(tj, tm, prev, rate=0.05)
    value.backward()
    ema = 0.95 * math.exp(prev) + 0.05 * np.mean(np.exp(tm_np))  # the moving average of E_Q[e^T]
    assert state.item() == pytest.approx(math.log(ema))
    assert not state.requires_grad
    # grad = E_P[grad T] - E_Q[e^T grad T] / ema, by hand
    np.testing.assert_allclose(tj.grad.numpy(), np.full(7, 1 / 7), rtol=1e-12)
    np.testing.assert_allclose(tm.grad.numpy(), -np.exp(tm_np) / (9 * ema), rtol=1e-12)
    # the plain DV gradient differs: softmax weights, i.e. the batch mean in the denominator
    tm2 = torch.tensor(tm_np, requires_grad=True)
    bounds.dv(torch.tensor(tj_np), tm2).backward()
    np.testing.assert_allclose(tm2.grad.numpy(), -np.exp(tm_np) / np.exp(tm_np).sum(), rtol=1e-12)
    # matrix convention: the diagonal is the joint sample
    s = torch.tensor(s_np, requires_grad=True)
    _, st_ = bounds.mine_ema(s, None, prev, rate=0.05)
    bounds.mine_ema(s, None, prev, rate=0.05)[0].backward()
    off = ~np.eye(6, dtype=bool)
    expected = np.where(off, -np.exp(s_np - st_.item()) / 30, 1 / 6)
    np.testing.assert_allclose(s.grad.numpy(), expected, rtol=1e-12)


def test_torch_smile_trains_with_the_js_gradient_and_large_scores_stay_finite():
    torch = pytest.importorskip("torch")
    tj_np, tm_np, _, _ = _example(2)
    tj = torch.tensor(tj_np, requires_grad=True)
    tm = torch.tensor(tm_np, requires_grad=True)
    bounds.smile(tj, tm, clip=1.0).backward()
    sig = lambda v: 1 / (1 + np.exp(-v))
    np.testing.assert_allclose(tj.grad.numpy(), sig(-tj_np) / 7, rtol=1e-12)
    np.testing.assert_allclose(tm.grad.numpy(), -sig(tm_np) / 9, rtol=1e-12)
    big = torch.tensor(1e4 * np.random.default_rng(0).standard_normal((8, 8)), requires_grad=True)
    total = bounds.dv(big) + bounds.infonce(big) + bounds.mine_ema(big, None, 5e3)[0] + bounds.smile(big)
    total.backward()
    assert torch.isfinite(total) and torch.isfinite(big.grad).all()


def test_tensorflow_bounds_equal_numpy_and_mine_gradient():
    tf = pytest.importorskip("tensorflow")
    tj, tm, s, ema = _example()
    ref = _all_bounds(tj, tm, s, ema)
    got = _all_bounds(tf.constant(tj), tf.constant(tm), tf.constant(s), tf.constant(ema, dtype=tf.float64))
    for name, value in got.items():
        assert float(value) == pytest.approx(ref[name], abs=1e-12), name
    tmv = tf.Variable(tm)
    with tf.GradientTape() as tape:
        value, state = bounds.mine_ema(tf.constant(tj), tmv, ema, rate=0.05)
    grad = tape.gradient(value, tmv).numpy()
    np.testing.assert_allclose(grad, -np.exp(tm - float(state)) / 9, rtol=1e-12)


def test_tensorflow_graph_with_a_dynamic_batch_size():
    tf = pytest.importorskip("tensorflow")
    tj, tm, s, ema = _example()
    ref = _all_bounds(tj, tm, s, ema)
    spec = [tf.TensorSpec(shape, tf.float64) for shape in ([None], [None], [None, None])]

    @tf.function(input_signature=spec)
    def run(a, b, m):
        return _all_bounds(a, b, m, ema)

    got = run(tf.constant(tj), tf.constant(tm), tf.constant(s))
    for name, value in got.items():
        assert float(value) == pytest.approx(ref[name], abs=1e-12), name
