"""White-box, optimisation-based model inversion: regularised maximum-likelihood estimation (rMLE)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from sift_core.metrics import total_variation as _core_tv

from ._common import as_features, as_images, check_image_shape, edge_device, frozen_edge, iter_batches, query_edge
from .inverse_network import _check_int, _check_positive, _progress
from .results import AttackResult

__all__ = ["RMLEAttack", "total_variation"]

_PARAMETRISATIONS = ("sigmoid", "clamp")
_SCALE_FLOOR = 1e-12


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Total variation of each (N, C, H, W) image, (N,): ``sift_core.metrics.total_variation``."""
    return _core_tv(x)


class RMLEAttack:
    """rMLE attack of He, Zhang & Lee (2019, "Model inversion attacks against collaborative
    inference", ACSAC): the attacker knows the edge ``f`` (white box) and the observed features
    ``z`` of a private input, and solves, per image, starting from uniform noise,

        x_hat = argmin_{x in [0, 1]^d}  mean_j (f(x)_j - z_j)^2 + tv_weight * TV(x)

    with Adam, where ``TV`` is :func:`total_variation`. The box constraint is enforced by
    ``parametrization``:

    * ``"sigmoid"`` (default): optimise unconstrained ``w`` with ``x = sigmoid(w)``; every
      iterate lies in (0, 1) and the gradient is never cut off by a clamp;
    * ``"clamp"``: optimise ``x`` directly and project onto [0, 1] after every step
      (projected gradient descent, as in the paper).

    The objective is a sum of independent per-image terms and Adam acts elementwise, so an
    image's reconstruction does not depend on which others share its batch. The edge runs in
    eval mode with frozen parameters (no gradients reach them, BatchNorm statistics do not
    change; both restored afterwards).

    Parameters
    ----------
    edge : nn.Module mapping (N, C, H, W) in [0, 1] to features of any shape.
    image_shape : (C, H, W), optional; needed by :meth:`reconstruct`, inferred by :meth:`evaluate`.
    steps, lr : Adam iterations and step size (on ``w`` for ``"sigmoid"``, on ``x`` for ``"clamp"``).
    tv_weight : weight of the total-variation prior (0 disables it).
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
        steps: int = 500,
        lr: float = 0.1,
        tv_weight: float = 0.05,
        parametrization: str = "clamp",
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
        self.batch_size = _check_int(batch_size, "batch_size", 1)
        self.seed = _check_int(seed, "seed", 0)
        self._default_device = device
        self.progress = bool(progress)
        #: mean objective over all images at each step of the last reconstruction
        self.history: list[float] = []

    @property
    def device(self) -> torch.device:
        """Where the optimisation runs: the edge's device (looked up at each call)."""
        return edge_device(self.edge, default=self._default_device)

    def reconstruct(self, z: Any) -> torch.Tensor:
        """Reconstruct inputs (N, C, H, W) in [0, 1] from observed features ``z`` (N, ...); on the CPU."""
        if self.image_shape is None:
            raise ValueError("image_shape is needed to reconstruct from features alone; pass it to RMLEAttack")
        z = as_features(z, "z")
        n = z.shape[0]
        # All initial noise drawn at once on the CPU: the result depends on the seed only.
        generator = torch.Generator().manual_seed(self.seed)
        init = torch.rand((n, *self.image_shape), generator=generator)
        total = torch.zeros(self.steps, dtype=torch.float64)
        out = []
        batches = list(iter_batches(n, self.batch_size))
        bar = _progress(range(len(batches) * self.steps), self.progress, "rMLE")
        bar_iter = iter(bar)
        device = self.device
        with frozen_edge(self.edge):
            for sl in batches:
                x_hat, losses = self._solve(init[sl].to(device), z[sl].to(device), bar_iter)
                total += losses
                out.append(x_hat.cpu())
        if hasattr(bar, "close"):
            bar.close()
        self.history = (total / n).tolist()
        return torch.cat(out)

    def _solve(self, init: torch.Tensor, target: torch.Tensor, ticks) -> tuple[torch.Tensor, torch.Tensor]:
        sigmoid = self.parametrization == "sigmoid"
        eps = 1e-4
        # Inverse of the parametrisation at the initial noise.
        var = torch.logit(init.clamp(eps, 1 - eps)) if sigmoid else init.clone()
        var.requires_grad_(True)
        optimiser = torch.optim.Adam([var], lr=self.lr)
        # Kept on the device: no host round-trip per step.
        losses = torch.zeros(self.steps, dtype=torch.float32, device=var.device)
        # Relative squared error: dividing by each image's mean z^2 makes tv_weight mean the same
        # on edges whose features differ in scale by orders of magnitude. Floored for an all-zero z.
        scale = (target**2).flatten(1).mean(1).clamp_min(_SCALE_FLOOR)
        for step in range(self.steps):
            x = torch.sigmoid(var) if sigmoid else var
            feat = self.edge(x)
            if feat.shape != target.shape:
                raise ValueError(f"z must have the edge's output shape {tuple(feat.shape)}; got {tuple(target.shape)}")
            per_image = ((feat - target) ** 2).flatten(1).mean(1) / scale
            if self.tv_weight > 0:
                per_image = per_image + self.tv_weight * total_variation(x)
            loss = per_image.sum()  # a sum of independent per-image objectives
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if not sigmoid:
                with torch.no_grad():
                    var.clamp_(0.0, 1.0)
            losses[step] = loss.detach()
            next(ticks, None)
        with torch.no_grad():
            x = torch.sigmoid(var) if sigmoid else var.clamp(0.0, 1.0)
        return x.detach(), losses.double().cpu()

    def evaluate(self, private_x: Any) -> AttackResult:
        """Attack ``private_x``: observe the edge's features, reconstruct, measure MSE / PSNR / SSIM per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        if self.image_shape is None:
            self.image_shape = tuple(int(s) for s in x.shape[1:])  # type: ignore[assignment]
        z = query_edge(self.edge, x, batch_size=max(self.batch_size, 256), device=self.device)
        x_hat = self.reconstruct(z)
        return AttackResult.from_images(self.name, x.cpu(), x_hat)
