"""A small fully connected network with hand-written backpropagation and Adam, in numpy.

Just enough for a MINE critic T(x, z) -> R (unbounded linear output), so the
framework-free estimator needs no deep-learning framework.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("relu", "elu", "tanh", "softplus")


def _act(name: str, a: np.ndarray) -> np.ndarray:
    if name == "relu":
        return np.maximum(a, 0.0)
    if name == "elu":
        return np.where(a > 0, a, np.expm1(np.minimum(a, 0.0)))
    if name == "tanh":
        return np.tanh(a)
    return np.logaddexp(0.0, a)  # softplus


def _act_grad(name: str, a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """d act / d a, from the pre-activation ``a`` and the activation ``h``."""
    if name == "relu":
        return (a > 0).astype(a.dtype)
    if name == "elu":
        return np.where(a > 0, 1.0, h + 1.0)
    if name == "tanh":
        return 1.0 - h * h
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # sigmoid, overflow-free


class MLP:
    """Layers ``sizes[0] -> ... -> sizes[-1]`` with ``activation`` between them (none after the last)."""

    def __init__(self, sizes: tuple[int, ...], *, activation: str, rng: np.random.Generator):
        self.activation = activation
        self.params: list[np.ndarray] = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            # He initialisation for the rectifiers, Glorot for the saturating ones
            scale = np.sqrt((2.0 if activation in ("relu", "elu") else 1.0) / fan_in)
            self.params.append(rng.standard_normal((fan_in, fan_out)) * scale)
            self.params.append(np.zeros(fan_out))

    def forward(self, a: np.ndarray, *, keep: bool = False):
        """Output of shape (rows,); with ``keep`` also the activations the backward pass needs."""
        cache = [a]
        n_layers = len(self.params) // 2
        for layer in range(n_layers):
            w, b = self.params[2 * layer], self.params[2 * layer + 1]
            pre = a @ w + b
            if layer < n_layers - 1:
                a = _act(self.activation, pre)
                if keep:
                    cache.extend((pre, a))
            else:
                a = pre
        out = a[:, 0]
        return (out, cache) if keep else out

    def backward(self, cache: list[np.ndarray], grad_out: np.ndarray) -> list[np.ndarray]:
        """Gradients of sum_r grad_out[r] * out[r] with respect to every parameter."""
        n_layers = len(self.params) // 2
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        delta = grad_out[:, None]
        for layer in range(n_layers - 1, -1, -1):
            inp = cache[0] if layer == 0 else cache[2 * layer]
            grads[2 * layer] = inp.T @ delta
            grads[2 * layer + 1] = delta.sum(axis=0)
            if layer > 0:
                pre, h = cache[2 * layer - 1], cache[2 * layer]
                delta = (delta @ self.params[2 * layer].T) * _act_grad(self.activation, pre, h)
        return grads

    def copy_params(self) -> list[np.ndarray]:
        return [p.copy() for p in self.params]


class Adam:
    """Adam (Kingma and Ba 2015) with bias-corrected moments, updating arrays in place."""

    def __init__(self, params: list[np.ndarray], *, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps = params, lr, betas[0], betas[1], eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        c1 = 1.0 - self.b1**self.t
        c2 = 1.0 - self.b2**self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= self.b1
            m += (1.0 - self.b1) * g
            v *= self.b2
            v += (1.0 - self.b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)
