"""The hybrid attack: rMLE started from the inverse network's reconstruction."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._common import as_images, query_edge
from .inverse_network import InverseNetworkAttack
from .results import AttackResult
from .rmle import RMLEAttack

__all__ = ["HybridAttack"]


class HybridAttack:
    """Black box and white box together: the decoder's guess, refined on the edge itself.

    The inverse network (:class:`InverseNetworkAttack`, trained on the attacker's auxiliary
    data) gives a reconstruction from the data prior; rMLE (:class:`RMLEAttack`) then moves it
    to reproduce the observed features ``z`` through the white-box edge, from that starting
    point instead of noise, with a small step size (lr 0.01) and no TV prior: the start already
    holds the data prior, and TV would pull it toward flat patches. For a linear edge the
    images with features ``z`` inside [0, 1]^d form a convex set holding the private image, so
    moving the start toward that set never moves it away from the private image; the hybrid
    gains where the decoder under-fits (short training, limited width, or an edge it cannot
    model) and cannot beat a decoder that already gives E[x | z] (the MSE-optimal guess).

    Parameters
    ----------
    edge : nn.Module; image_shape : (C, H, W).
    inverse : a trained or untrained :class:`InverseNetworkAttack` to start from; default one
        built with ``inverse_options`` (its ``fit`` is called by :meth:`fit`).
    steps, lr, tv_weight, patience, check_every, batch_size : the rMLE stage (see
        :class:`RMLEAttack`).
    seed, device, progress : as for the other attacks.
    """

    name = "hybrid"

    def __init__(
        self,
        edge: nn.Module,
        *,
        image_shape: tuple[int, int, int],
        inverse: InverseNetworkAttack | None = None,
        inverse_options: dict[str, Any] | None = None,
        steps: int = 3000,
        lr: float = 0.01,
        tv_weight: float = 0.0,
        patience: int = 6,
        check_every: int = 25,
        batch_size: int = 128,
        seed: int = 0,
        device: torch.device | str | None = None,
        progress: bool = True,
    ):
        if inverse is not None and not isinstance(inverse, InverseNetworkAttack):
            raise TypeError(f"inverse must be an InverseNetworkAttack or None; got {type(inverse).__name__}")
        if inverse is not None and inverse_options:
            raise ValueError("pass either inverse or inverse_options, not both")
        self.inverse = inverse or InverseNetworkAttack(edge, image_shape=image_shape, seed=seed, device=device,
                                                       progress=progress, **(inverse_options or {}))
        self.rmle = RMLEAttack(edge, image_shape=image_shape, steps=steps, lr=lr, tv_weight=tv_weight,
                               patience=patience, check_every=check_every, batch_size=batch_size, seed=seed,
                               device=device, progress=progress)
        self.edge = edge
        self.image_shape = self.rmle.image_shape

    def fit(self, aux_x: Any) -> HybridAttack:
        """Train the inverse network on the attacker's auxiliary images; returns ``self``."""
        self.inverse.fit(aux_x)
        return self

    def reconstruct(self, z: Any, *, init: Any | None = None) -> torch.Tensor:
        """rMLE from the decoder's reconstruction of ``z`` (or from ``init`` when given, e.g. a
        reconstruction already computed); (N, C, H, W) in [0, 1] on the CPU."""
        start = self.inverse.reconstruct(z) if init is None else init
        return self.rmle.reconstruct(z, init=start)

    def evaluate(self, private_x: Any) -> AttackResult:
        """Attack ``private_x``: observe its features, reconstruct, measure MSE / PSNR / SSIM per image."""
        x = as_images(private_x, "private_x", self.image_shape)
        z = query_edge(self.edge, x, batch_size=256, device=self.rmle.device)
        return AttackResult.from_images(self.name, x.cpu(), self.reconstruct(z))
