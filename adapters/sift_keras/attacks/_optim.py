"""The white-box attacks' optimiser as one traced TensorFlow step: Adam on a batch of independent
variables (one per image or latent code) with a per-row step multiplier.

The rule is ``sift_torch``'s (``RMLEAttack._solve``): an Adam step (PyTorch's form and defaults:
betas (0.9, 0.999), eps 1e-8 added to the bias-corrected root), then each row moves by its
multiplier (``PlateauPerImage.step_scale``: halved on plateaus, 0 once stopped), a row whose
move is not finite stays where it was, and rMLE's pixels are clipped to [0, 1]. Doing all of it
inside one ``tf.function`` keeps the loop from copying the variable to the host twice per step,
which made the eager version ~10x slower than sift_torch's.
"""

from __future__ import annotations

import numpy as np


class ScaledAdam:
    """``objective(value) -> tuple`` of per-row tensors; the first is summed and minimised.

    ``evaluate()`` returns the objective's outputs at the current value (numpy), ``step(scale)``
    takes one step with the (rows,) multipliers and returns the mask of rows whose move was not
    finite, ``value()`` the current value (numpy).
    """

    def __init__(self, init: np.ndarray, objective, *, lr: float, clip01: bool = False,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        import tensorflow as tf

        init = np.asarray(init, dtype=np.float32)
        self._var = tf.Variable(init)
        self._m = tf.Variable(tf.zeros_like(init))
        self._v = tf.Variable(tf.zeros_like(init))
        self._t = tf.Variable(0.0)
        rows, view = init.shape[0], (-1,) + (1,) * (init.ndim - 1)
        b1, b2 = float(betas[0]), float(betas[1])
        lr, eps = float(lr), float(eps)

        def step(scale):
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(objective(self._var)[0])  # a sum of independent per-row objectives
            grad = tape.gradient(total, self._var)
            self._t.assign_add(1.0)
            self._m.assign(b1 * self._m + (1.0 - b1) * grad)
            self._v.assign(b2 * self._v + (1.0 - b2) * grad * grad)
            m_hat = self._m / (1.0 - b1 ** self._t)
            v_hat = self._v / (1.0 - b2 ** self._t)
            before = tf.identity(self._var)
            moved = before - tf.reshape(scale, view) * lr * m_hat / (tf.sqrt(v_hat) + eps)
            bad = tf.logical_not(tf.reduce_all(tf.math.is_finite(tf.reshape(moved, (rows, -1))), axis=1))
            moved = tf.where(tf.reshape(bad, view), before, moved)
            self._var.assign(tf.clip_by_value(moved, 0.0, 1.0) if clip01 else moved)
            return bad

        self._step = tf.function(step)
        self._evaluate = tf.function(lambda: objective(self._var))

    def evaluate(self) -> tuple[np.ndarray, ...]:
        return tuple(np.asarray(t) for t in self._evaluate())

    def step(self, scale: np.ndarray) -> np.ndarray:
        return np.asarray(self._step(np.asarray(scale, dtype=np.float32)))

    def value(self) -> np.ndarray:
        return self._var.numpy()
