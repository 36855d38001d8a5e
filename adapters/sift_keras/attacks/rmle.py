"""White-box, optimisation-based model inversion: regularised maximum-likelihood estimation (rMLE)."""

from __future__ import annotations

import numpy as np

from sift_core.inversion import PlateauPerImage, feature_matching_objective
from sift_core.metrics import total_variation as _core_tv

from .._keras import keras, require_tensorflow
from ._common import as_images, check_int, check_positive, check_target, observe, progress_flag, white_box_edge
from ._optim import ScaledAdam
from .results import AttackResult

__all__ = ["RMLEAttack", "total_variation"]

_PARAMETRISATIONS = ("clamp", "sigmoid")


def total_variation(x):
    """Total variation of each channels-last image, (N,): ``sift_core.metrics.total_variation``."""
    return _core_tv(x, channels_last=True)


class RMLEAttack:
    """rMLE attack (He, Zhang and Lee 2019), run to convergence: from uniform noise (or ``init``,
    e.g. the inverse network's reconstruction: the hybrid attack), solve per image

        x_hat = argmin_{x in [0, 1]^d}  mean_j (f(x)_j - z_j)^2 / max(mean_j z_j^2, 1e-12) + tv_weight * TV(x)

    (:func:`sift_core.inversion.feature_matching_objective`) with Adam; ``f`` is the edge
    (white box: for a SplitModel its edge before the defence), ``z`` the observed features.
    ``parametrization="clamp"`` (default, as in ``sift_torch``) projects onto [0, 1] after
    every step; ``"sigmoid"`` optimises ``w`` with ``x = sigmoid(w)``. The stopping rule is
    ``sift_torch``'s (:class:`sift_core.inversion.PlateauPerImage` every ``check_every``
    steps: step size halved twice on plateaus of ``patience // 2`` checks, stop after
    ``patience`` more, best iterate kept), per image, so an image's result does not depend on
    its batch. ``steps`` is only the most it may take. The objective and its gradient are one
    ``tf.function`` (TensorFlow backend), traced once for all batches of a shape.
    """

    name = "rmle"

    def __init__(self, edge, *, image_shape=None, steps: int = 3000, lr: float = 0.1, tv_weight: float = 0.05,
                 parametrization: str = "clamp", patience: int = 6, check_every: int = 25, batch_size: int = 128,
                 seed: int = 0, progress: bool = True, ssim_sigma: float = 1.5, verbose=None):
        self.target = check_target(edge)
        self.edge = white_box_edge(self.target)
        if parametrization not in _PARAMETRISATIONS:
            raise ValueError(f"parametrization must be one of {_PARAMETRISATIONS}; got {parametrization!r}")
        self.image_shape = None if image_shape is None else tuple(int(s) for s in image_shape)
        self.steps = check_int(steps, "steps", 1)
        self.lr = check_positive(lr, "lr")
        self.tv_weight = check_positive(tv_weight, "tv_weight", allow_zero=True)
        self.parametrization = parametrization
        self.patience = check_int(patience, "patience", 1)
        self.check_every = check_int(check_every, "check_every", 1)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.seed = check_int(seed, "seed", 0)
        self.progress = progress_flag(progress, verbose, type(self).__name__)
        self.ssim_sigma = check_positive(ssim_sigma, "ssim_sigma")
        #: mean best objective over all images at each check of the last reconstruction
        self.history: list[float] = []
        #: steps each image of the last reconstruction ran before it stopped
        self.steps_run: list[int] = []
        #: whether each image of the last reconstruction stopped on a non-finite step (not its plateau)
        self.halted: list[bool] = []

    def reconstruct(self, z, *, init=None) -> np.ndarray:
        """Reconstruct inputs (N, H, W, C) in [0, 1] from observed features ``z`` (N, ...).

        ``init``: starting images (N, H, W, C) in [0, 1]; default seeded uniform noise.
        Raises FloatingPointError when no image reaches a finite objective (diverged).
        """
        require_tensorflow("RMLEAttack (and HybridAttack)")
        if self.image_shape is None:
            raise ValueError("image_shape is needed to reconstruct from features alone; pass it to RMLEAttack")
        z = np.asarray(z, dtype=np.float32)
        n = z.shape[0]
        if init is None:
            start = np.random.default_rng(self.seed).random((n, *self.image_shape), dtype=np.float32)
        else:
            start = as_images(init, "init", self.image_shape)
            if start.shape[0] != n:
                raise ValueError(f"init must hold one image per feature vector ({n}); got {start.shape[0]}")
        checks = -(-self.steps // self.check_every)
        total = np.zeros(checks)
        out, steps_run, halted = [], [], []
        bar = keras.utils.Progbar(-(-n // self.batch_size) * self.steps, verbose=1 if self.progress else 0)
        for i in range(0, n, self.batch_size):
            x_hat, losses, ran, stopped = self._solve(start[i:i + self.batch_size], z[i:i + self.batch_size], bar)
            total += losses
            out.append(x_hat)
            steps_run += ran
            halted += stopped
        self.history = (total / n).tolist()
        self.steps_run, self.halted = steps_run, halted
        return np.concatenate(out)

    def _solve(self, init, target, bar):
        import tensorflow as tf

        sigmoid = self.parametrization == "sigmoid"
        eps = 1e-4
        start = np.log(np.clip(init, eps, 1 - eps) / (1 - np.clip(init, eps, 1 - eps))) if sigmoid else init
        edge, tv_weight, target = self.edge, self.tv_weight, tf.constant(target)

        def objective(value):
            x = tf.sigmoid(value) if sigmoid else value
            return (feature_matching_objective(edge(x, training=False), target, x, tv_weight=tv_weight,
                                               channels_last=True),)

        opt = ScaledAdam(start, objective, lr=self.lr, clip01=not sigmoid)
        n = init.shape[0]
        rule = PlateauPerImage(n, patience=self.patience, reductions=2, reduce_patience=max(1, self.patience // 2))
        best = opt.value().copy()
        checks = -(-self.steps // self.check_every)
        losses = np.zeros(checks)
        step_scale = np.ones(n, dtype=np.float32)
        ran = np.full(n, self.steps, dtype=np.int64)
        running = np.ones(n, dtype=bool)
        for s in range(self.steps):
            if s % self.check_every == 0 or s == self.steps - 1:
                # the objective of the current iterate (before this step's update)
                improved = rule.update(opt.evaluate()[0])
                best[improved] = opt.value()[improved]
                losses[min(s // self.check_every, checks - 1)] = float(np.sum(np.where(np.isfinite(rule.best),
                                                                                       rule.best, 0.0)))
                step_scale = rule.step_scale.astype(np.float32)
                ran[rule.done & running] = s
                running = ~rule.done
                if rule.stop:
                    bar.add(self.steps - s)
                    break
            # per-image step size (halved on plateaus), no move for stopped images; a diverged image
            # stays where it was and stops, keeping its best iterate
            bad = opt.step(step_scale)
            if bad.any():
                rule.halt(bad)
                step_scale = rule.step_scale.astype(np.float32)
            bar.add(1)
        if not np.any(np.isfinite(rule.best)):
            raise FloatingPointError("rMLE: the objective is not finite for any image (diverged); lower lr")
        x = 1 / (1 + np.exp(-best)) if sigmoid else np.clip(best, 0.0, 1.0)
        return x.astype(np.float32), losses, ran.tolist(), rule.halted.tolist()

    def evaluate(self, private_x) -> AttackResult:
        """Attack ``private_x``: observe its features as transmitted, reconstruct, measure per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        if self.image_shape is None:
            self.image_shape = tuple(int(s) for s in x.shape[1:])
        x_hat = self.reconstruct(observe(self.target, x, batch_size=max(self.batch_size, 256)))
        return AttackResult.from_images(self.name, x, x_hat, ssim_sigma=self.ssim_sigma)
