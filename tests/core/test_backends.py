"""The same formulas on torch and TensorFlow tensors: values equal numpy's, gradients correct and finite.

Each test skips cleanly when its framework is absent.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import sift_core as sc


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3, 4))
    z = np.tanh(x.reshape(n, -1)[:, :5]) + 0.3 * rng.normal(size=(n, 5))
    fmap = rng.normal(size=(4, 3, 5, 5))
    fmap[:, 2] += 0.8 * fmap[:, 0]
    return x, z, fmap


# every function and option whose backend value must equal the numpy value
CASES = [
    ("dcor_v", lambda m, x, z, f: sc.distance_correlation(x, z)),
    ("dcor_v_sq", lambda m, x, z, f: sc.distance_correlation(x, z, squared=True)),
    ("dcor_u", lambda m, x, z, f: sc.distance_correlation(x, z, unbiased=True)),
    ("dcor_u_sq", lambda m, x, z, f: sc.distance_correlation(x, z, unbiased=True, squared=True)),
    ("dcov_v", lambda m, x, z, f: sc.distance_covariance(x, z)),
    ("dcov_u_sq", lambda m, x, z, f: sc.distance_covariance(x, z, unbiased=True, squared=True)),
    ("dvar", lambda m, x, z, f: sc.distance_variance(x)),
    ("hsic", lambda m, x, z, f: sc.hsic(x, z)),
    ("hsic_u_norm", lambda m, x, z, f: sc.hsic(x, z, unbiased=True, normalized=True)),
    ("hsic_fixed", lambda m, x, z, f: sc.hsic(x, z, bandwidth=1.7, normalized=True)),
    ("hsic_linear", lambda m, x, z, f: sc.hsic(x, z, kernel="linear", unbiased=True)),
    ("redundancy", lambda m, x, z, f: sc.channel_redundancy(f)),
    ("redundancy_diag", lambda m, x, z, f: sc.channel_redundancy(f, include_diagonal=True)),
    ("redundancy_last", lambda m, x, z, f: sc.channel_redundancy(m.transpose(f), channels_last=True)),
]


class _NumpyMod:
    @staticmethod
    def transpose(f):
        return np.transpose(f, (0, 2, 3, 1))


def _reference():
    x, z, f = _data()
    return {name: fn(_NumpyMod, x, z, f) for name, fn in CASES}


# --------------------------------------------------------------------------- torch


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_torch_values_equal_numpy(torch, dtype, tol):
    x, z, f = _data()
    ref = _reference()
    dt = getattr(torch, dtype)

    class T:
        @staticmethod
        def transpose(t):
            return t.permute(0, 2, 3, 1)

    tx, tz, tf_ = (torch.tensor(a, dtype=dt) for a in (x, z, f))
    for name, fn in CASES:
        v = fn(T, tx, tz, tf_)
        assert isinstance(v, torch.Tensor) and v.ndim == 0 and v.dtype == dt, name
        assert float(v) == pytest.approx(ref[name], abs=tol), name
    v = sc.distance_correlation(tx, tz)
    assert float(v) <= 1.0


def test_torch_gradcheck(torch):
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(size=(9, 3)), requires_grad=True)
    z = torch.tensor(np.sin(x.detach().numpy()[:, :2]) + 0.3 * rng.normal(size=(9, 2)), requires_grad=True)
    f = torch.tensor(rng.normal(size=(2, 3, 3, 3)), requires_grad=True)
    checks = [
        lambda a, b: sc.distance_correlation(a, b),
        lambda a, b: sc.distance_correlation(a, b, squared=True),
        lambda a, b: sc.distance_correlation(a, b, unbiased=True, squared=True),
        lambda a, b: sc.distance_correlation(a, b, unbiased=True),
        lambda a, b: sc.distance_covariance(a, b, unbiased=True, squared=True),
        lambda a, b: sc.hsic(a, b, bandwidth=1.3),
        lambda a, b: sc.hsic(a, b, bandwidth=0.8, unbiased=True, normalized=True),
        lambda a, b: sc.hsic(a, b, kernel="linear", normalized=True),
    ]
    for fn in checks:
        assert torch.autograd.gradcheck(fn, (x, z))
    assert torch.autograd.gradcheck(lambda t: sc.channel_redundancy(t), (f,))
    assert torch.autograd.gradcheck(lambda t: sc.channel_redundancy(t, include_diagonal=True), (f,))


def test_torch_constant_variable_zero_with_finite_gradients(torch):
    rng = np.random.default_rng(2)
    for dt in (torch.float64, torch.float32):
        x = torch.full((12, 4), 0.1, dtype=dt, requires_grad=True)
        z = torch.tensor(rng.normal(size=(12, 2)), dtype=dt, requires_grad=True)
        fmap = torch.full((2, 3, 4, 4), 0.3, dtype=dt, requires_grad=True)
        values = [
            sc.distance_correlation(x, z),
            sc.distance_correlation(x, z, unbiased=True, squared=True),
            sc.hsic(x, z, normalized=True),
            sc.hsic(z, x, unbiased=True, normalized=True),
            sc.channel_redundancy(fmap),
        ]
        for v in values:
            assert float(v.detach()) == 0.0
            grads = torch.autograd.grad(v, [x, z, fmap], allow_unused=True)
            assert all(g is None or bool(torch.isfinite(g).all()) for g in grads)


def test_torch_duplicate_rows_have_finite_gradients(torch):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(6, 5))
    x = torch.tensor(np.vstack([base, base]), requires_grad=True)  # every sample twice
    z = torch.tensor(rng.normal(size=(12, 2)))
    v = sc.distance_correlation(x, z)
    (g,) = torch.autograd.grad(v, [x])
    assert bool(torch.isfinite(g).all())


def test_torch_integers_mixed_numpy_and_bad_input(torch):
    rng = np.random.default_rng(4)
    big = rng.integers(-(2**40), 2**40, size=(10, 3))
    z = rng.normal(size=(10, 2))
    v = sc.distance_correlation(torch.tensor(big), torch.tensor(z))
    assert v.dtype == torch.float64
    assert float(v) == pytest.approx(sc.distance_correlation(big, z), abs=1e-12)
    zt = torch.tensor(z, requires_grad=True)
    mixed = sc.distance_correlation(big.astype(np.float64), zt)  # a numpy array beside a tensor
    assert isinstance(mixed, torch.Tensor) and mixed.requires_grad
    bad = torch.tensor(z)
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="z contains NaN"):
        sc.distance_correlation(torch.tensor(z), bad)
    with pytest.raises(TypeError, match="x: .*complex"):
        sc.distance_correlation(torch.tensor(z, dtype=torch.complex128), torch.tensor(z))
    with pytest.raises(ValueError, match="same number of samples"):
        sc.hsic(torch.tensor(z), torch.tensor(z[:5]))
    with pytest.raises(ValueError, match="x needs at least 4"):
        sc.distance_correlation(torch.tensor(z[:3]), torch.tensor(z[:3]), unbiased=True)


# ---------------------------------------------------------------------- TensorFlow


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_tensorflow_values_equal_numpy(tf, dtype, tol):
    x, z, f = _data()
    ref = _reference()
    dt = getattr(tf, dtype)

    class T:
        @staticmethod
        def transpose(t):
            return tf.transpose(t, (0, 2, 3, 1))

    tx, tz, tf_ = (tf.constant(a, dtype=dt) for a in (x, z, f))
    for name, fn in CASES:
        v = fn(T, tx, tz, tf_)
        assert v.dtype == dt and v.shape.rank == 0, name
        assert float(v) == pytest.approx(ref[name], abs=tol), name


def test_tensorflow_gradients_exist_and_are_finite(tf):
    x, z, f = _data(seed=5)
    const = np.full_like(x, 0.25)
    for xs in (x, const):
        tx = tf.Variable(xs)
        tz = tf.Variable(z)
        tmap = tf.Variable(f if xs is x else np.full_like(f, 0.25))
        for fn in (
            lambda a, b, m: sc.distance_correlation(a, b),
            lambda a, b, m: sc.distance_correlation(a, b, unbiased=True, squared=True),
            lambda a, b, m: sc.hsic(a, b, normalized=True),
            lambda a, b, m: sc.hsic(a, b, unbiased=True),
            lambda a, b, m: sc.channel_redundancy(m),
        ):
            with tf.GradientTape() as tape:
                v = fn(tx, tz, tmap)
            grads = tape.gradient(v, [tx, tz, tmap], unconnected_gradients="zero")
            assert all(bool(tf.reduce_all(tf.math.is_finite(g))) for g in grads)
            if xs is x:
                assert float(tf.reduce_sum(tf.abs(grads[0])) + tf.reduce_sum(tf.abs(grads[2]))) > 0
            else:
                assert float(v) == pytest.approx(0.0, abs=1e-15)


def test_tensorflow_gradient_matches_torch(tf, torch):
    x, z, _ = _data(seed=6)
    tx = tf.Variable(x)
    with tf.GradientTape() as tape:
        v = sc.distance_correlation(tx, tf.constant(z), unbiased=True, squared=True)
    g_tf = tape.gradient(v, tx).numpy()
    px = torch.tensor(x, requires_grad=True)
    (g_torch,) = torch.autograd.grad(sc.distance_correlation(px, torch.tensor(z), unbiased=True, squared=True), [px])
    np.testing.assert_allclose(g_tf, g_torch.numpy(), rtol=1e-9, atol=1e-12)


def test_tensorflow_graph_mode_with_unknown_shapes(tf):
    x, z, f = _data()
    ref = _reference()

    @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float64), tf.TensorSpec([None, 5], tf.float64)])
    def stats(a, b):
        return (
            sc.distance_correlation(a, b),
            sc.distance_correlation(a, b, unbiased=True),
            sc.hsic(a, b, unbiased=True, normalized=True),
        )

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.float64)])
    def red(m):
        return sc.channel_redundancy(m), sc.channel_redundancy(m, include_diagonal=True)

    got = [float(v) for v in stats(tf.constant(x), tf.constant(z))]
    assert got == pytest.approx([ref["dcor_v"], ref["dcor_u"], ref["hsic_u_norm"]], abs=1e-10)
    got = [float(v) for v in red(tf.constant(f))]
    assert got == pytest.approx([ref["redundancy"], ref["redundancy_diag"]], abs=1e-10)
    one = [float(v) for v in red(tf.constant(f[:, :1]))]
    assert one == pytest.approx([0.0, 1.0])


def test_tensorflow_bad_input(tf):
    z = np.random.default_rng(7).normal(size=(8, 2))
    with pytest.raises(ValueError, match="x contains NaN"):
        sc.distance_correlation(tf.constant(np.full((8, 2), np.inf)), tf.constant(z))
    with pytest.raises(TypeError, match="z: .*complex"):
        sc.hsic(tf.constant(z), tf.constant(z.astype(np.complex128)))
    with pytest.raises(TypeError, match="x: .*not supported"):
        sc.distance_correlation(tf.constant(["a"] * 8), tf.constant(z))
    v = sc.distance_correlation(tf.constant(np.arange(8, dtype=np.int64)), tf.constant(z))
    assert v.dtype == tf.float64


def test_import_does_not_load_frameworks():
    code = "import sift_core, sys; assert not any(m in sys.modules for m in ('torch','tensorflow','keras','jax'))"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
