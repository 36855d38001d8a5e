"""A small fully connected network with hand-written backpropagation and Adam, in numpy.

Just enough for a MINE critic T(x, z) -> R (unbounded linear output), so the
framework-free estimator needs no deep-learning framework.  All parameters
(and all gradients) live in one flat buffer with per-layer views, so Adam and
weight averaging are a handful of whole-buffer operations per step: at
critic sizes like 32 x 32 the per-call overhead of numpy, not arithmetic, is
what costs time.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("relu", "elu", "tanh", "softplus", "squareplus")


def _act(name: str, a: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(a, 0.0)
    if name == "elu":
        return np.where(a > 0, a, np.expm1(np.minimum(a, 0.0)))
    if name == "tanh":
        return np.tanh(a)
    if name == "squareplus":  # (a + sqrt(a^2 + 4)) / 2, a smooth rectifier without transcendentals (Barron 2021)
        return 0.5 * (a + np.sqrt(a * a + 4.0))
    # softplus, overflow-free: max(a, 0) + log(1 + exp(-|a|)); log rather than log1p, which numpy
    # does not vectorise (the absolute error is below float32 resolution of the result anyway)
    return np.maximum(a, 0.0) + np.log(1.0 + np.exp(-np.abs(a)))


def _act_grad(name: str, a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """d act / d a, from the pre-activation ``a`` and the activation ``h``."""
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "elu":
        return np.where(a > 0, 1.0, h + 1.0).astype(a.dtype, copy=False)
    if name == "tanh":
        return 1.0 - h * h
    if name == "squareplus":
        return 0.5 * (1.0 + a / (2.0 * h - a))  # sqrt(a^2 + 4) = 2h - a
    return 1.0 - np.exp(-h)  # sigmoid(a) = 1 - exp(-softplus(a))


def _views(flat: np.ndarray, sizes: tuple[int, ...]) -> list[np.ndarray]:
    out, pos = [], 0
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        out.append(flat[pos : pos + fan_in * fan_out].reshape(fan_in, fan_out))
        pos += fan_in * fan_out
        out.append(flat[pos : pos + fan_out])
        pos += fan_out
    return out


class MLP:
    """Layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them (none after the last).

    ``params`` are views into ``flat``; :meth:`backward` writes into views of ``grad``.
    """

    def __init__(self, sizes: tuple[int, ...], *, activation: str, rng: np.random.Generator, dtype=np.float64):
        self.sizes = tuple(sizes)
        self.activation = activation
        n = sum(i * o + o for i, o in zip(sizes[:-1], sizes[1:]))
        self.flat = np.zeros(n, dtype=dtype)
        self.params = _views(self.flat, self.sizes)
        weights = self.params[0::2]
        for w in weights:
            # He initialisation for the rectifiers, Glorot for tanh
            gain = 1.0 if activation == "tanh" else 2.0
            w[...] = rng.standard_normal(w.shape) * np.sqrt(gain / w.shape[0])
        # a small output layer starts the critic near T = 0: exp(T) terms of the bounds then
        # start near 1 instead of e^(+-5), whose first huge gradient would inflate Adam's
        # second moment and stall training for hundreds of steps
        weights[-1] *= 0.1
        self.grad = np.zeros_like(self.flat)
        self.grads = _views(self.grad, self.sizes)

    def with_params(self, flat: np.ndarray) -> MLP:
        """The same network reading its parameters from ``flat`` (shared, not copied)."""
        other = object.__new__(MLP)
        other.sizes, other.activation, other.flat = self.sizes, self.activation, flat
        other.params = _views(flat, self.sizes)
        other.grad, other.grads = self.grad, self.grads
        return other

    def forward(self, a: np.ndarray, *, keep: bool = False):
        """Output of shape (rows,); with ``keep`` also the activations the backward pass needs."""
        cache = [a]
        n_layers = len(self.params) // 2
        for layer in range(n_layers):
            pre = a @ self.params[2 * layer]
            pre += self.params[2 * layer + 1]
            if layer < n_layers - 1:
                a = _act(self.activation, pre)
                if keep:
                    cache.extend((pre, a))
            else:
                a = pre
        out = a[:, 0]
        return (out, cache) if keep else out

    def backward(self, cache: list[np.ndarray], grad_out: np.ndarray) -> np.ndarray:
        """The flat gradient of sum_r grad_out[r] * out[r] with respect to ``flat`` (a reused buffer)."""
        n_layers = len(self.params) // 2
        delta = grad_out[:, None]
        for layer in range(n_layers - 1, -1, -1):
            inp = cache[0] if layer == 0 else cache[2 * layer]
            np.matmul(inp.T, delta, out=self.grads[2 * layer])
            np.sum(delta, axis=0, out=self.grads[2 * layer + 1])
            if layer > 0:
                pre, h = cache[2 * layer - 1], cache[2 * layer]
                delta = (delta @ self.params[2 * layer].T) * _act_grad(self.activation, pre, h)
        return self.grad


class Adam:
    """Adam (Kingma and Ba 2015) with bias-corrected moments, updating a flat parameter buffer in place."""

    def __init__(self, flat: np.ndarray, *, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.flat, self.lr, self.b1, self.b2, self.eps = flat, lr, betas[0], betas[1], eps
        self.m = np.zeros_like(flat)
        self.v = np.zeros_like(flat)
        self.t = 0

    def step(self, grad: np.ndarray) -> None:
        self.t += 1
        c1 = 1.0 - self.b1**self.t
        c2 = 1.0 - self.b2**self.t
        self.m *= self.b1
        self.m += (1.0 - self.b1) * grad
        self.v *= self.b2
        self.v += (1.0 - self.b2) * grad * grad
        denom = np.sqrt(self.v / c2)
        denom += self.eps
        self.flat -= (self.lr / c1) * self.m / denom
