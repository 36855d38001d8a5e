"""The generative-prior attack (the GLASS family): search a generator's latent space for an image
whose features match the observed ones, then refine its pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from sift_core.inversion import PlateauPerImage, feature_matching_objective, latent_prior

from ._common import as_features, as_images, check_image_shape, edge_device, frozen_edge, iter_batches, query_edge
from .generator import Generator, train_generator
from .inverse_network import _check_int, _check_positive
from .results import AttackResult
from .rmle import RMLEAttack

__all__ = ["GenerativePriorAttack"]


class GenerativePriorAttack:
    """Generative-prior model inversion (after GLASS, Li et al. 2023, with a DCGAN prior).

    1. :meth:`fit`: the attacker trains a generator ``G`` on its auxiliary data
       (:func:`~sift_torch.attacks.generator.train_generator`), or brings a trained one.
    2. :meth:`reconstruct`: per observed ``z`` and each of ``restarts`` latent starts
       ``w ~ N(0, I)``, Adam minimises

           feature_matching_objective(f(G(w)), z, G(w), tv_weight=0) + prior_weight * mean(w^2)

       (:mod:`sift_core.inversion`) to convergence (a per-image plateau rule); the restart with
       the lowest feature error wins.
    3. Optionally (``pixel_steps`` > 0) rMLE refines the pixels from ``G(w*)`` (the GLASS
       "pixel after latent" step), leaving the generator's range where the edge demands it.

    The generator keeps the search on images like the attacker's data, which helps where the
    edge discards information (many images share the features): among them, the search finds a
    plausible one rather than the noisy average a pixel search reaches.

    Parameters
    ----------
    edge : nn.Module (white box); image_shape : (C, H, W).
    generator : a trained :class:`Generator` (else :meth:`fit` trains one).
    latent_dim, gan_width, gan_epochs, gan_batch_size, gan_lr : the generator and its training.
    restarts : latent starts per image; steps, lr, prior_weight : the latent search.
    patience, check_every : its stopping rule (see :class:`RMLEAttack`).
    pixel_steps, pixel_lr, pixel_tv_weight : the rMLE refinement (0 steps: none).
    batch_size, seed, device, progress : as for the other attacks.
    """

    name = "generative"

    def __init__(
        self,
        edge: nn.Module,
        *,
        image_shape: tuple[int, int, int],
        generator: Generator | None = None,
        latent_dim: int = 64,
        gan_width: int = 128,
        gan_epochs: int = 60,
        gan_batch_size: int = 64,
        gan_lr: float = 2e-4,
        restarts: int = 8,
        steps: int = 1500,
        lr: float = 0.05,
        prior_weight: float = 1e-3,
        patience: int = 6,
        check_every: int = 25,
        pixel_steps: int = 1000,
        pixel_lr: float = 0.02,
        pixel_tv_weight: float = 0.0,
        batch_size: int = 256,
        seed: int = 0,
        device: torch.device | str | None = None,
        progress: bool = True,
    ):
        if not isinstance(edge, nn.Module):
            raise TypeError(f"edge must be a torch.nn.Module; got {type(edge).__name__}")
        if generator is not None and not isinstance(generator, Generator):
            raise TypeError(f"generator must be a sift_torch Generator or None; got {type(generator).__name__}")
        self.edge = edge
        self.image_shape = check_image_shape(image_shape)
        self.generator = generator
        self.latent_dim = _check_int(latent_dim if generator is None else generator.latent_dim, "latent_dim", 1)
        self.gan_width = _check_int(gan_width, "gan_width", 1)
        self.gan_epochs = _check_int(gan_epochs, "gan_epochs", 1)
        self.gan_batch_size = _check_int(gan_batch_size, "gan_batch_size", 2)
        self.gan_lr = _check_positive(gan_lr, "gan_lr")
        self.restarts = _check_int(restarts, "restarts", 1)
        self.steps = _check_int(steps, "steps", 1)
        self.lr = _check_positive(lr, "lr")
        self.prior_weight = _check_positive(prior_weight, "prior_weight", allow_zero=True)
        self.patience = _check_int(patience, "patience", 1)
        self.check_every = _check_int(check_every, "check_every", 1)
        self.pixel_steps = _check_int(pixel_steps, "pixel_steps", 0)
        self.pixel_lr = _check_positive(pixel_lr, "pixel_lr")
        self.pixel_tv_weight = _check_positive(pixel_tv_weight, "pixel_tv_weight", allow_zero=True)
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.seed = _check_int(seed, "seed", 0)
        self._default_device = device
        self.progress = bool(progress)
        #: per-epoch GAN losses of :meth:`fit`
        self.gan_history: list[dict[str, float]] = []
        #: relative feature error of the latent stage's winner, per image of the last reconstruction
        self.latent_feature_error: list[float] = []

    @property
    def device(self) -> torch.device:
        return edge_device(self.edge, default=self._default_device)

    def fit(self, aux_x: Any) -> GenerativePriorAttack:
        """Train the generator on the attacker's auxiliary images (N, C, H, W); returns ``self``."""
        x = as_images(aux_x, "aux_x", self.image_shape)
        self.generator, self.gan_history = train_generator(
            x, latent_dim=self.latent_dim, width=self.gan_width, epochs=self.gan_epochs,
            batch_size=self.gan_batch_size, lr=self.gan_lr, seed=self.seed, device=self.device,
            progress=self.progress)
        return self

    def reconstruct(self, z: Any) -> torch.Tensor:
        """Reconstructions (N, C, H, W) in [0, 1] of observed features ``z`` (N, ...), on the CPU."""
        if self.generator is None:
            raise RuntimeError("no generator yet: call fit(aux_x) or pass generator=")
        z = as_features(z, "z")
        device = self.device
        gen = self.generator.to(device).eval()
        for p in gen.parameters():
            p.requires_grad_(False)
        n, r = z.shape[0], self.restarts
        rng = torch.Generator().manual_seed(self.seed)
        w0 = torch.randn((n, r, self.latent_dim), generator=rng)
        per_batch = max(1, self.batch_size // r)
        starts, errors = [], []
        bar = _bar(self.progress, -(-n // per_batch) * self.steps, "generative (latent)")
        with frozen_edge(self.edge):
            for sl in iter_batches(n, per_batch):
                k = sl.stop - sl.start
                target = z[sl].to(device).repeat_interleave(r, dim=0)
                w_best, obj = self._search(gen, w0[sl].reshape(k * r, -1).to(device), target, bar)
                obj = obj.reshape(k, r)
                pick = np.argmin(np.where(np.isfinite(obj), obj, np.inf), axis=1)
                w_pick = w_best.reshape(k, r, -1)[torch.arange(k), torch.from_numpy(pick)]
                with torch.no_grad():
                    starts.append(gen(w_pick).float().cpu())
                errors += [float(obj[i, pick[i]]) for i in range(k)]
        if bar is not None:
            bar.close()
        if not np.any(np.isfinite(errors)):
            raise FloatingPointError("generative: the latent search diverged for every image; lower lr")
        self.latent_feature_error = errors
        start = torch.cat(starts).clamp(0.0, 1.0)
        if self.pixel_steps == 0:
            return start
        refine = RMLEAttack(self.edge, image_shape=self.image_shape, steps=self.pixel_steps, lr=self.pixel_lr,
                            tv_weight=self.pixel_tv_weight, patience=self.patience, check_every=self.check_every,
                            batch_size=self.batch_size, seed=self.seed, device=self._default_device,
                            progress=self.progress)
        return refine.reconstruct(z, init=start)

    def _search(self, gen: nn.Module, w0: torch.Tensor, target: torch.Tensor, bar) -> tuple[torch.Tensor, np.ndarray]:
        """Adam on the latent codes to convergence; returns the best codes and their feature objective."""
        w = w0.clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=self.lr)
        m = w.shape[0]
        rule = PlateauPerImage(m, patience=self.patience, reductions=2, reduce_patience=max(1, self.patience // 2))
        best = w.detach().clone()
        best_fit = np.full(m, np.inf)
        move = torch.ones((m, 1), device=w.device)  # per-code step multiplier (PlateauPerImage.step_scale)
        for step in range(self.steps):
            x = gen(w)
            fit = feature_matching_objective(self.edge(x), target, x, tv_weight=0.0)
            per = fit + latent_prior(w, weight=self.prior_weight)
            if step % self.check_every == 0 or step == self.steps - 1:
                improved = rule.update(per.detach().double().cpu().numpy())
                keep = torch.from_numpy(improved).to(w.device).view(m, 1)
                best = torch.where(keep, w.detach(), best)
                best_fit = np.where(improved, fit.detach().double().cpu().numpy(), best_fit)
                move = torch.from_numpy(rule.step_scale).to(w.device, w.dtype).view(m, 1)
                if rule.stop:
                    if bar is not None:
                        bar.update(self.steps - step)
                    break
            opt.zero_grad(set_to_none=True)
            per.sum().backward()
            before = w.detach().clone()
            opt.step()
            with torch.no_grad():
                w.copy_(before + (w - before) * move)
                bad = ~torch.isfinite(w).all(1)
                if bool(bad.any()):  # a diverged code stops where it was, keeping its best
                    w.copy_(torch.where(bad.view(m, 1), before, w))
                    rule.halt(bad.cpu().numpy())
                    move = torch.from_numpy(rule.step_scale).to(w.device, w.dtype).view(m, 1)
            if bar is not None:
                bar.update(1)
        return best, best_fit

    def evaluate(self, private_x: Any) -> AttackResult:
        """Attack ``private_x``: observe its features, reconstruct, measure MSE / PSNR / SSIM per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        z = query_edge(self.edge, x, batch_size=256, device=self.device)
        return AttackResult.from_images(self.name, x.cpu(), self.reconstruct(z))


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, leave=False)
