"""White-box, optimisation-based model inversion: regularised maximum-likelihood estimation (rMLE)."""

from __future__ import annotations

import numpy as np

from sift_core.metrics import total_variation as _core_tv

from .._keras import keras, ops
from ._common import as_images, check_int, check_positive, check_target, observe, white_box_edge
from .results import AttackResult

__all__ = ["RMLEAttack", "total_variation"]

_PARAMETRISATIONS = ("sigmoid", "clamp")
_SCALE_FLOOR = 1e-12


def total_variation(x):
    """Total variation of each channels-last image, (N,): ``sift_core.metrics.total_variation``."""
    return _core_tv(x, channels_last=True)


class RMLEAttack:
    """rMLE attack (He, Zhang and Lee 2019): from uniform noise, solve per image

        x_hat = argmin_{x in [0, 1]^d}  mean_j (f(x)_j - z_j)^2 / mean_j z_j^2 + tv_weight * TV(x)

    with Adam; ``f`` is the edge (white box: for a SplitModel its edge before
    the defence), ``z`` the observed features.  ``parametrization="clamp"``
    projects onto [0, 1] after every step (the paper's projected gradient);
    ``"sigmoid"`` optimises ``w`` with ``x = sigmoid(w)``.  The squared error is
    divided by each image's mean ``z^2`` so that ``tv_weight`` means the same on
    edges of any feature scale (as in ``sift_torch``).  The objective is a sum
    of per-image terms, so an image's result does not depend on its batch.
    The objective and its gradient are one ``tf.function`` (TensorFlow backend),
    traced once for all batches of a shape.
    """

    name = "rmle"

    def __init__(self, edge, *, image_shape=None, steps: int = 500, lr: float = 0.1, tv_weight: float = 0.05,
                 parametrization: str = "clamp", batch_size: int = 128, seed: int = 0, verbose: bool = True,
                 ssim_sigma: float = 1.5):
        self.target = check_target(edge)
        self.edge = white_box_edge(self.target)
        if parametrization not in _PARAMETRISATIONS:
            raise ValueError(f"parametrization must be one of {_PARAMETRISATIONS}; got {parametrization!r}")
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.steps = check_int(steps, "steps", 1)
        self.lr = check_positive(lr, "lr")
        self.tv_weight = check_positive(tv_weight, "tv_weight", allow_zero=True)
        self.parametrization = parametrization
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.seed = check_int(seed, "seed", 0)
        self.verbose = bool(verbose)
        self.ssim_sigma = check_positive(ssim_sigma, "ssim_sigma")
        #: mean objective over all images at each step of the last reconstruction
        self.history: list[float] = []

    def reconstruct(self, z) -> np.ndarray:
        """Reconstruct inputs (N, H, W, C) in [0, 1] from observed features ``z`` (N, ...)."""
        if self.image_shape is None:
            raise ValueError("image_shape is needed to reconstruct from features alone; pass it to RMLEAttack")
        z = np.asarray(z, dtype=np.float32)
        n = z.shape[0]
        init = np.random.default_rng(self.seed).random((n, *self.image_shape), dtype=np.float32)
        total = np.zeros(self.steps)
        out = []
        bar = keras.utils.Progbar(-(-n // self.batch_size) * self.steps, verbose=1 if self.verbose else 0)
        for i in range(0, n, self.batch_size):
            x_hat, losses = self._solve(init[i:i + self.batch_size], z[i:i + self.batch_size], bar)
            total += losses
            out.append(x_hat)
        self.history = (total / n).tolist()
        return np.concatenate(out)

    def _objective_and_gradient(self):
        """One traced function of (variable value, target, scale) -> (objective, gradient), reused by every batch."""
        import tensorflow as tf

        if getattr(self, "_grad_fn", None) is None:
            sigmoid = self.parametrization == "sigmoid"
            edge, tv_weight = self.edge, self.tv_weight

            def fn(value, target, scale):
                with tf.GradientTape() as tape:
                    tape.watch(value)
                    x = tf.sigmoid(value) if sigmoid else value
                    diff = edge(x, training=False) - target
                    per_image = tf.reduce_mean(tf.reshape(diff * diff, (tf.shape(diff)[0], -1)), axis=1) / scale
                    if tv_weight > 0:
                        per_image = per_image + tv_weight * total_variation(x)
                    loss = tf.reduce_sum(per_image)  # a sum of independent per-image objectives
                return loss, tape.gradient(loss, value)

            self._grad_fn = tf.function(fn, reduce_retracing=True)
        return self._grad_fn

    def _solve(self, init, target, bar):
        import tensorflow as tf

        sigmoid = self.parametrization == "sigmoid"
        eps = 1e-4
        start = np.log(np.clip(init, eps, 1 - eps) / (1 - np.clip(init, eps, 1 - eps))) if sigmoid else init
        var = keras.Variable(start.astype("float32"), name="x_hat")
        optimizer = keras.optimizers.Adam(self.lr)
        optimizer.build([var])
        target = tf.constant(target)
        scale = tf.maximum(tf.reduce_mean(tf.reshape(target * target, (target.shape[0], -1)), axis=1), _SCALE_FLOOR)
        grad_fn = self._objective_and_gradient()
        losses = np.zeros(self.steps)
        for s in range(self.steps):
            loss, grad = grad_fn(var.value, target, scale)
            optimizer.apply_gradients([(grad, var)])
            if not sigmoid:
                var.assign(ops.clip(var.value, 0.0, 1.0))
            losses[s] = float(loss)
            bar.add(1)
        x = 1 / (1 + np.exp(-var.numpy())) if sigmoid else np.clip(var.numpy(), 0.0, 1.0)
        return x.astype(np.float32), losses

    def evaluate(self, private_x) -> AttackResult:
        """Attack ``private_x``: observe its features as transmitted, reconstruct, measure per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        if self.image_shape is None:
            self.image_shape = tuple(int(s) for s in x.shape[1:])
        x_hat = self.reconstruct(observe(self.target, x, batch_size=max(self.batch_size, 256)))
        return AttackResult.from_images(self.name, x, x_hat, ssim_sigma=self.ssim_sigma)
