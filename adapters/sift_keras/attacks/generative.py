"""The generative-prior attack for Keras: ``sift_torch``'s procedure, channels-last."""

from __future__ import annotations

import numpy as np

from sift_core.inversion import PlateauPerImage, feature_matching_objective, latent_prior

from .._keras import keras, require_tensorflow
from ._common import as_images, check_int, check_positive, check_target, observe, progress_flag, white_box_edge
from ._optim import ScaledAdam
from .generator import train_generator
from .results import AttackResult
from .rmle import RMLEAttack

__all__ = ["GenerativePriorAttack"]


class GenerativePriorAttack:
    """Generative-prior model inversion (after GLASS, Li et al. 2023, with a DCGAN prior).

    :meth:`fit` trains a generator ``G`` on the attacker's auxiliary data
    (:func:`~sift_keras.attacks.generator.train_generator`) unless one is given;
    :meth:`reconstruct` searches, per observed ``z`` and for each of ``restarts`` starts
    ``w ~ N(0, I)``, the latent code minimising
    ``feature_matching_objective(f(G(w)), z, G(w), tv_weight=0) + prior_weight * mean(w^2)``
    (:mod:`sift_core.inversion`) to convergence, keeps the restart with the lowest feature
    error and, with ``pixel_steps`` > 0, refines its pixels by rMLE from ``G(w*)``. The
    options and their defaults are ``sift_torch.attacks.GenerativePriorAttack``'s.
    """

    name = "generative"

    def __init__(self, edge, *, image_shape, generator=None, latent_dim: int = 64, gan_width: int = 128,
                 gan_epochs: int = 60, gan_batch_size: int = 64, gan_lr: float = 2e-4, restarts: int = 8,
                 steps: int = 1500, lr: float = 0.05, prior_weight: float = 1e-3, patience: int = 6,
                 check_every: int = 25, pixel_steps: int = 1000, pixel_lr: float = 0.02,
                 pixel_tv_weight: float = 0.0, batch_size: int = 256, seed: int = 0, progress: bool = True,
                 ssim_sigma: float = 1.5, verbose=None):
        self.target = check_target(edge)
        self.edge = white_box_edge(self.target)
        self.image_shape = tuple(int(s) for s in image_shape)
        self.generator = generator
        self.latent_dim = check_int(latent_dim if generator is None else int(generator.inputs[0].shape[-1]),
                                    "latent_dim", 1)
        self.gan_width = check_int(gan_width, "gan_width", 1)
        self.gan_epochs = check_int(gan_epochs, "gan_epochs", 1)
        self.gan_batch_size = check_int(gan_batch_size, "gan_batch_size", 2)
        self.gan_lr = check_positive(gan_lr, "gan_lr")
        self.restarts = check_int(restarts, "restarts", 1)
        self.steps = check_int(steps, "steps", 1)
        self.lr = check_positive(lr, "lr")
        self.prior_weight = check_positive(prior_weight, "prior_weight", allow_zero=True)
        self.patience = check_int(patience, "patience", 1)
        self.check_every = check_int(check_every, "check_every", 1)
        self.pixel_steps = check_int(pixel_steps, "pixel_steps", 0)
        self.pixel_lr = check_positive(pixel_lr, "pixel_lr")
        self.pixel_tv_weight = check_positive(pixel_tv_weight, "pixel_tv_weight", allow_zero=True)
        self.batch_size = check_int(batch_size, "batch_size", 1)
        self.seed = check_int(seed, "seed", 0)
        self.progress = progress_flag(progress, verbose, type(self).__name__)
        self.ssim_sigma = check_positive(ssim_sigma, "ssim_sigma")
        self.gan_history: list[dict[str, float]] = []
        self.latent_feature_error: list[float] = []

    def fit(self, aux_x) -> GenerativePriorAttack:
        """Train the generator on the attacker's auxiliary images (N, H, W, C); returns ``self``."""
        require_tensorflow("GenerativePriorAttack")
        x = as_images(aux_x, "aux_x", self.image_shape)
        self.generator, self.gan_history = train_generator(
            x, latent_dim=self.latent_dim, width=self.gan_width, epochs=self.gan_epochs,
            batch_size=self.gan_batch_size, lr=self.gan_lr, seed=self.seed, progress=self.progress)
        return self

    def reconstruct(self, z) -> np.ndarray:
        """Reconstructions (N, H, W, C) in [0, 1] of observed features ``z`` (N, ...)."""
        require_tensorflow("GenerativePriorAttack")
        if self.generator is None:
            raise RuntimeError("no generator yet: call fit(aux_x) or pass generator=")
        z = np.asarray(z, dtype=np.float32)
        n, r = z.shape[0], self.restarts
        w0 = np.random.default_rng(self.seed).standard_normal((n, r, self.latent_dim)).astype(np.float32)
        per_batch = max(1, self.batch_size // r)
        starts, errors = [], []
        for i in range(0, n, per_batch):
            k = min(per_batch, n - i)
            target = np.repeat(z[i:i + k], r, axis=0)
            w_best, fit = self._search(w0[i:i + k].reshape(k * r, -1), target)
            fit = fit.reshape(k, r)
            pick = np.argmin(np.where(np.isfinite(fit), fit, np.inf), axis=1)
            w_pick = w_best.reshape(k, r, -1)[np.arange(k), pick]
            starts.append(keras.ops.convert_to_numpy(self.generator(w_pick, training=False)))
            errors += [float(fit[j, pick[j]]) for j in range(k)]
        if not np.any(np.isfinite(errors)):
            raise FloatingPointError("generative: the latent search diverged for every image; lower lr")
        self.latent_feature_error = errors
        start = np.clip(np.concatenate(starts), 0.0, 1.0).astype(np.float32)
        if self.pixel_steps == 0:
            return start
        refine = RMLEAttack(self.target, image_shape=self.image_shape, steps=self.pixel_steps, lr=self.pixel_lr,
                            tv_weight=self.pixel_tv_weight, patience=self.patience, check_every=self.check_every,
                            batch_size=self.batch_size, seed=self.seed, progress=self.progress)
        return refine.reconstruct(z, init=start)

    def _search(self, w0: np.ndarray, target: np.ndarray):
        import tensorflow as tf

        gen, edge, prior, tgt = self.generator, self.edge, self.prior_weight, tf.constant(target)

        def objective(w):
            x = gen(w, training=False)
            fit = feature_matching_objective(edge(x, training=False), tgt, x, tv_weight=0.0, channels_last=True)
            return fit + latent_prior(w, weight=prior), fit

        opt = ScaledAdam(w0, objective, lr=self.lr)
        m = w0.shape[0]
        rule = PlateauPerImage(m, patience=self.patience, reductions=2, reduce_patience=max(1, self.patience // 2))
        best, best_fit = w0.copy(), np.full(m, np.inf)
        scale = np.ones(m, dtype=np.float32)
        for s in range(self.steps):
            if s % self.check_every == 0 or s == self.steps - 1:
                per, fit = opt.evaluate()
                improved = rule.update(per)
                best[improved] = opt.value()[improved]
                best_fit[improved] = fit[improved]
                scale = rule.step_scale.astype(np.float32)
                if rule.stop:
                    break
            bad = opt.step(scale)
            if bad.any():  # a diverged code stops where it was, keeping its best
                rule.halt(bad)
                scale = rule.step_scale.astype(np.float32)
        return best, best_fit

    def evaluate(self, private_x) -> AttackResult:
        """Attack ``private_x``: observe its features as transmitted, reconstruct, measure per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        x_hat = self.reconstruct(observe(self.target, x, batch_size=256))
        return AttackResult.from_images(self.name, x, x_hat, ssim_sigma=self.ssim_sigma)
