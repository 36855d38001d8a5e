"""White-box, optimisation-based model inversion: regularised maximum-likelihood estimation (rMLE)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from sift_core.inversion import PlateauPerImage, feature_matching_objective
from sift_core.metrics import total_variation as _core_tv

from ._common import as_features, as_images, check_image_shape, edge_device, frozen_edge, iter_batches, query_edge
from .inverse_network import _check_int, _check_positive, _progress
from .results import AttackResult

__all__ = ["RMLEAttack", "total_variation"]

_PARAMETRISATIONS = ("clamp", "sigmoid")


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Total variation of each (N, C, H, W) image, (N,): ``sift_core.metrics.total_variation``."""
    return _core_tv(x)


class RMLEAttack:
    """rMLE attack of He, Zhang & Lee (2019, "Model inversion attacks against collaborative
    inference", ACSAC), run to convergence: the attacker knows the edge ``f`` (white box) and
    the observed features ``z`` of a private input, and solves, per image, from uniform noise
    (or from ``init``, e.g. another attack's reconstruction: the hybrid attack),

        x_hat = argmin_{x in [0, 1]^d}  mean_j (f(x)_j - z_j)^2 / max(mean_j z_j^2, 1e-12)
                                        + tv_weight * TV(x)

    (:func:`sift_core.inversion.feature_matching_objective`) with Adam. The box constraint is
    enforced by ``parametrization``:

    * ``"clamp"`` (default): optimise ``x`` and project onto [0, 1] after every step
      (projected gradient descent, as in the paper; measured better than the sigmoid,
      docs/attacks.md);
    * ``"sigmoid"``: optimise unconstrained ``w`` with ``x = sigmoid(w)``.

    Every ``check_every`` steps each image's objective is checked
    (:class:`sift_core.inversion.PlateauPerImage`): its step size halves after
    ``patience // 2`` checks without a 0.1 % improvement (twice at most), and it stops after
    ``patience`` more; its best iterate is kept. ``steps`` is only the most it may take. The
    objective is a sum of independent per-image terms, Adam acts elementwise and the stopping
    rule is per image, so an image's reconstruction does not depend on which others share its
    batch. The edge runs in eval mode with frozen parameters (no gradients reach them,
    BatchNorm statistics do not change; both restored afterwards).

    Parameters
    ----------
    edge : nn.Module mapping (N, C, H, W) in [0, 1] to features of any shape.
    image_shape : (C, H, W), optional; needed by :meth:`reconstruct`, inferred by :meth:`evaluate`.
    steps : the most Adam iterations per image.
    lr : Adam step size (on ``w`` for ``"sigmoid"``, on ``x`` for ``"clamp"``).
    tv_weight : weight of the total-variation prior (0 disables it).
    patience, check_every : the stopping rule (in checks, and steps between checks).
    batch_size : images optimised together (memory only; results do not depend on it).
    seed : seeds the initial noise.
    device : where to optimise when the edge has no parameters or buffers; otherwise the
        optimisation runs on the edge's device, which must hold the input too.
    progress : tqdm progress bar.
    """

    name = "rmle"

    def __init__(
        self,
        edge: nn.Module,
        *,
        image_shape: tuple[int, int, int] | None = None,
        steps: int = 3000,
        lr: float = 0.1,
        tv_weight: float = 0.05,
        parametrization: str = "clamp",
        patience: int = 6,
        check_every: int = 25,
        batch_size: int = 128,
        seed: int = 0,
        device: torch.device | str | None = None,
        progress: bool = True,
    ):
        if not isinstance(edge, nn.Module):
            raise TypeError(f"edge must be a torch.nn.Module; got {type(edge).__name__}")
        if parametrization not in _PARAMETRISATIONS:
            raise ValueError(f"parametrization must be one of {_PARAMETRISATIONS}; got {parametrization!r}")
        self.edge = edge
        self.image_shape = check_image_shape(image_shape) if image_shape is not None else None
        self.steps = _check_int(steps, "steps", 1)
        self.lr = _check_positive(lr, "lr")
        self.tv_weight = _check_positive(tv_weight, "tv_weight", allow_zero=True)
        self.parametrization = parametrization
        self.patience = _check_int(patience, "patience", 1)
        self.check_every = _check_int(check_every, "check_every", 1)
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.seed = _check_int(seed, "seed", 0)
        self._default_device = device
        self.progress = bool(progress)
        #: mean objective over all images at each check of the last reconstruction
        self.history: list[float] = []
        #: steps each image of the last reconstruction ran before it stopped
        self.steps_run: list[int] = []
        #: whether each image of the last reconstruction stopped on a non-finite step (not its plateau)
        self.halted: list[bool] = []

    @property
    def device(self) -> torch.device:
        """Where the optimisation runs: the edge's device (looked up at each call)."""
        return edge_device(self.edge, default=self._default_device)

    def reconstruct(self, z: Any, *, init: Any | None = None) -> torch.Tensor:
        """Reconstruct inputs (N, C, H, W) in [0, 1] from observed features ``z`` (N, ...); on the CPU.

        ``init``: starting images (N, C, H, W) in [0, 1]; default seeded uniform noise.
        Raises FloatingPointError when no image reaches a finite objective (diverged).
        """
        if self.image_shape is None:
            raise ValueError("image_shape is needed to reconstruct from features alone; pass it to RMLEAttack")
        z = as_features(z, "z")
        n = z.shape[0]
        if init is None:
            # All initial noise drawn at once on the CPU: the result depends on the seed only.
            generator = torch.Generator().manual_seed(self.seed)
            start = torch.rand((n, *self.image_shape), generator=generator)
        else:
            start = as_images(init, "init", self.image_shape).cpu()
            if start.shape[0] != n:
                raise ValueError(f"init must hold one image per feature vector ({n}); got {start.shape[0]}")
        checks = -(-self.steps // self.check_every)
        total = torch.zeros(checks, dtype=torch.float64)
        out, steps_run, halted = [], [], []
        batches = list(iter_batches(n, self.batch_size))
        bar = _progress(range(len(batches) * self.steps), self.progress, "rMLE")
        device = self.device
        with frozen_edge(self.edge):
            for sl in batches:
                x_hat, losses, ran, stopped = self._solve(start[sl].to(device), z[sl].to(device), bar)
                total += losses
                out.append(x_hat.cpu())
                steps_run += ran
                halted += stopped
        if hasattr(bar, "close"):
            bar.close()
        self.history = (total / n).tolist()
        self.steps_run, self.halted = steps_run, halted
        return torch.cat(out)

    def _solve(self, init: torch.Tensor, target: torch.Tensor,
               bar) -> tuple[torch.Tensor, torch.Tensor, list[int], list[bool]]:
        sigmoid = self.parametrization == "sigmoid"
        eps = 1e-4
        # Inverse of the parametrisation at the initial images.
        var = torch.logit(init.clamp(eps, 1 - eps)) if sigmoid else init.clone()
        var.requires_grad_(True)
        optimiser = torch.optim.Adam([var], lr=self.lr)
        n = init.shape[0]
        rule = PlateauPerImage(n, patience=self.patience, reductions=2, reduce_patience=max(1, self.patience // 2))
        best = var.detach().clone()
        checks = -(-self.steps // self.check_every)
        losses = torch.full((checks,), float("nan"), dtype=torch.float64)
        ran = [self.steps] * n
        view = (n,) + (1,) * (init.ndim - 1)
        move = torch.ones(view, device=var.device)  # per-image step multiplier (PlateauPerImage.step_scale)
        running = np.ones(n, dtype=bool)
        for step in range(self.steps):
            x = torch.sigmoid(var) if sigmoid else var
            feat = self.edge(x)
            if feat.shape != target.shape:
                raise ValueError(f"z must have the edge's output shape {tuple(feat.shape)}; got {tuple(target.shape)}")
            per_image = feature_matching_objective(feat, target, x, tv_weight=self.tv_weight)
            last = step == self.steps - 1
            if step % self.check_every == 0 or last:
                # the objective of the current iterate (before this step's update)
                values = per_image.detach().double().cpu().numpy()
                improved = rule.update(values)
                keep = torch.from_numpy(improved).to(var.device).view(view)
                best = torch.where(keep, var.detach(), best)
                losses[min(step // self.check_every, checks - 1)] = float(np.sum(np.where(
                    np.isfinite(rule.best), rule.best, 0.0)))
                for i in np.flatnonzero(rule.done & running):
                    ran[i] = step
                running = ~rule.done
                move = torch.from_numpy(rule.step_scale).to(var.device, var.dtype).view(view)
                if rule.stop:
                    if hasattr(bar, "update"):
                        bar.update(self.steps - step)
                    break
            loss = per_image.sum()  # a sum of independent per-image objectives
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            before = var.detach().clone()
            optimiser.step()
            with torch.no_grad():
                # per-image step size (halved on plateaus) and no move for stopped images
                var.copy_(before + (var - before) * move)
                bad = ~torch.isfinite(var).flatten(1).all(1)
                if bool(bad.any()):  # a diverged image stops where it was, keeping its best iterate
                    var.copy_(torch.where(bad.view(view), before, var))
                    rule.halt(bad.cpu().numpy())
                    move = torch.from_numpy(rule.step_scale).to(var.device, var.dtype).view(view)
                if not sigmoid:
                    var.clamp_(0.0, 1.0)
            if hasattr(bar, "update"):
                bar.update(1)
        if not np.any(np.isfinite(rule.best)):
            raise FloatingPointError("rMLE: the objective is not finite for any image (diverged); lower lr")
        with torch.no_grad():
            x = torch.sigmoid(best) if sigmoid else best.clamp(0.0, 1.0)
        return x.detach(), losses.nan_to_num(0.0), ran, rule.halted.tolist()

    def evaluate(self, private_x: Any) -> AttackResult:
        """Attack ``private_x``: observe the edge's features, reconstruct, measure MSE / PSNR / SSIM per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        if self.image_shape is None:
            self.image_shape = tuple(int(s) for s in x.shape[1:])  # type: ignore[assignment]
        z = query_edge(self.edge, x, batch_size=max(self.batch_size, 256), device=self.device)
        x_hat = self.reconstruct(z)
        return AttackResult.from_images(self.name, x.cpu(), x_hat)
