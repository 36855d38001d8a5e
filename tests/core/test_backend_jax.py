"""The same formulas on JAX arrays (sift_core/_backend/_jax.py): values equal numpy's, ``jax.grad`` agrees
with numpy finite differences and is finite, ``jax.jit`` gives the eager value.

Skips when JAX is absent.  64-bit runs use JAX's x64 context only inside a test: Keras on JAX may
share the process and expects JAX's float32 default.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_backends import CASES, _data, _reference

import sift_core as sc

jax = pytest.importorskip("jax")
jnp = jax.numpy


def _x64():
    """JAX's 64-bit mode for a ``with`` block (``jax.enable_x64`` in newer JAX, ``jax.experimental`` before)."""
    if hasattr(jax, "enable_x64"):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64

    return enable_x64()


class _JaxMod:
    @staticmethod
    def transpose(f):
        return jnp.transpose(f, (0, 2, 3, 1))


def _terms_batch(seed=0, n=16):
    """x (n, 1, 6, 6), a channels-first feature map z (n, 4, 3, 3) that depends on x, logits, labels."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1, 6, 6))
    z = np.tanh(x[:, :, ::2, ::2].repeat(4, axis=1) * rng.normal(size=(1, 4, 1, 1)))
    z = z + 0.2 * rng.normal(size=z.shape)
    logits = rng.normal(size=(n, 5))
    return x, z, logits, rng.integers(0, 5, n)


def test_values_equal_numpy_in_float32():
    x, z, f = _data()
    ref = _reference()
    jx, jz, jf = (jnp.asarray(a, dtype=jnp.float32) for a in (x, z, f))
    for name, fn in CASES:
        v = fn(_JaxMod, jx, jz, jf)
        assert isinstance(v, jax.Array) and v.shape == () and v.dtype == jnp.float32, name
        assert float(v) == pytest.approx(ref[name], rel=1e-4, abs=1e-5), name


def test_values_equal_numpy_in_float64():
    x, z, f = _data()
    ref = _reference()
    with _x64():
        jx, jz, jf = (jnp.asarray(a, dtype=jnp.float64) for a in (x, z, f))
        for name, fn in CASES:
            v = fn(_JaxMod, jx, jz, jf)
            assert v.dtype == jnp.float64, name
            assert float(v) == pytest.approx(ref[name], abs=1e-10), name


def test_siftfunnel_terms_equal_numpy():
    x, z, logits, labels = _terms_batch()
    ref = sc.siftfunnel_terms(x, z, logits, labels, epsilon=0.3)
    got = sc.siftfunnel_terms(*(jnp.asarray(a, dtype=jnp.float32) for a in (x, z, logits)), jnp.asarray(labels),
                              epsilon=0.3)
    assert set(got) == set(ref) == {"task", "dcor", "l1", "redundancy", "total"}
    for k in ref:
        assert isinstance(got[k], jax.Array), k
        assert float(got[k]) == pytest.approx(float(ref[k]), rel=1e-5, abs=1e-6), k
    assert float(ref["dcor"]) > 0.05 and float(ref["redundancy"]) > 0.05  # the batch exercises every term


# each scalar function of (x, z, feature map) whose gradient is checked; HSIC with a fixed bandwidth, because
# the median bandwidth is held constant under differentiation (stop_gradient) and finite differences move it
GRADS = [
    ("dcor_v_sq", lambda x, z, f: sc.distance_correlation(x, z, squared=True)),
    ("dcor_u", lambda x, z, f: sc.distance_correlation(x, z, unbiased=True)),
    ("hsic_norm", lambda x, z, f: sc.hsic(x, z, bandwidth=0.9, normalized=True)),
    ("hsic_u_fixed", lambda x, z, f: sc.hsic(x, z, bandwidth=1.3, unbiased=True)),
    ("redundancy", lambda x, z, f: sc.channel_redundancy(f)),
]


def _directional_fd(fn, args, direction, h=1e-6):
    """Central difference of the numpy (float64) core along ``direction`` (one array per argument)."""
    plus = fn(*(a + h * d for a, d in zip(args, direction)))
    minus = fn(*(a - h * d for a, d in zip(args, direction)))
    return (float(plus) - float(minus)) / (2 * h)


@pytest.mark.parametrize("name,fn", GRADS, ids=[g[0] for g in GRADS])
def test_grad_matches_numpy_finite_differences(name, fn):
    x, z, f = _data(seed=5)
    args = (x, z, f)
    rng = np.random.default_rng(1)
    direction = [rng.normal(size=a.shape) for a in args]
    grads = jax.grad(fn, argnums=(0, 1, 2))(*(jnp.asarray(a, dtype=jnp.float32) for a in args))
    for g in grads:
        assert g.dtype == jnp.float32 and bool(jnp.all(jnp.isfinite(g)))
    got = sum(float(jnp.sum(g * d)) for g, d in zip(grads, direction))
    want = _directional_fd(fn, args, direction)
    assert abs(want) > 1e-3  # the direction moves the value: the comparison tests something
    assert got == pytest.approx(want, rel=2e-3, abs=1e-5)


def test_grad_of_the_siftfunnel_total_matches_finite_differences():
    x, z, logits, labels = _terms_batch(seed=2)

    def total(zv, lv):
        return sc.siftfunnel_terms(x, zv, lv, labels)["total"]

    gz, gl = jax.grad(total, argnums=(0, 1))(jnp.asarray(z, jnp.float32), jnp.asarray(logits, jnp.float32))
    assert bool(jnp.all(jnp.isfinite(gz))) and bool(jnp.all(jnp.isfinite(gl)))
    rng = np.random.default_rng(3)
    dz, dl = rng.normal(size=z.shape), rng.normal(size=logits.shape)
    got = float(jnp.sum(gz * dz) + jnp.sum(gl * dl))
    assert got == pytest.approx(_directional_fd(total, (z, logits), (dz, dl)), rel=2e-3)


def test_constant_input_gives_zero_with_finite_gradients():
    rng = np.random.default_rng(4)
    x = jnp.full((12, 4), 0.1, jnp.float32)
    z = jnp.asarray(rng.normal(size=(12, 2)), jnp.float32)
    fmap = jnp.full((2, 3, 4, 4), 0.3, jnp.float32)
    for fn in (lambda a, b, m: sc.distance_correlation(a, b), lambda a, b, m: sc.hsic(a, b, normalized=True),
               lambda a, b, m: sc.channel_redundancy(m)):
        value, grads = jax.value_and_grad(fn, argnums=(0, 1, 2))(x, z, fmap)
        assert float(value) == 0.0
        assert all(bool(jnp.all(jnp.isfinite(g))) for g in grads)


def test_jit_equals_eager_and_numpy():
    x, z, f = _data()
    ref = _reference()
    jx, jz, jf = (jnp.asarray(a, dtype=jnp.float32) for a in (x, z, f))
    for name, fn in CASES:
        eager = fn(_JaxMod, jx, jz, jf)
        jitted = jax.jit(lambda a, b, m, fn=fn: fn(_JaxMod, a, b, m))(jx, jz, jf)
        assert float(jitted) == pytest.approx(float(eager), rel=1e-5, abs=1e-6), name
        assert float(jitted) == pytest.approx(ref[name], rel=1e-4, abs=1e-5), name
    x, z, logits, labels = _terms_batch(seed=6)
    args = [jnp.asarray(a, dtype=jnp.float32) for a in (x, z, logits)] + [jnp.asarray(labels)]
    eager = sc.siftfunnel_terms(*args)
    jitted = jax.jit(sc.siftfunnel_terms)(*args)
    numpy = sc.siftfunnel_terms(x, z, logits, labels)
    for k in eager:
        assert float(jitted[k]) == pytest.approx(float(eager[k]), rel=1e-5, abs=1e-6), k
        assert float(jitted[k]) == pytest.approx(float(numpy[k]), rel=1e-5, abs=1e-6), k
    # a jitted training-style step: the gradient of the total, compiled, equals the eager gradient
    step = jax.jit(jax.grad(lambda zv: sc.siftfunnel_terms(args[0], zv, args[2], args[3])["total"]))
    eager_grad = jax.grad(lambda zv: sc.siftfunnel_terms(args[0], zv, args[2], args[3])["total"])(args[1])
    np.testing.assert_allclose(np.asarray(step(args[1])), np.asarray(eager_grad), rtol=1e-4, atol=1e-6)


def test_numpy_inputs_stay_numpy_and_jax_inputs_stay_jax():
    x, z, _ = _data()
    assert isinstance(sc.distance_correlation(x, z), np.floating)
    assert isinstance(sc.distance_correlation(jnp.asarray(x, jnp.float32), z), jax.Array)  # numpy mixes in
