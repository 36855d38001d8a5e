"""The hybrid attack for Keras: rMLE started from the inverse network's reconstruction."""

from __future__ import annotations

import numpy as np

from ._common import as_images, check_target, observe, progress_flag
from .inverse_network import InverseNetworkAttack
from .results import AttackResult
from .rmle import RMLEAttack

__all__ = ["HybridAttack"]


class HybridAttack:
    """The decoder's guess, refined on the white-box edge (``sift_torch.attacks.HybridAttack``).

    :meth:`fit` trains the inverse network (:class:`InverseNetworkAttack`, or pass a trained
    one as ``inverse``); :meth:`reconstruct` runs :class:`RMLEAttack` from its reconstruction
    instead of noise, with a smaller step size (lr 0.02) that keeps the start's structure.
    """

    name = "hybrid"

    def __init__(self, edge, *, image_shape, inverse: InverseNetworkAttack | None = None, inverse_options=None,
                 steps: int = 3000, lr: float = 0.01, tv_weight: float = 0.0, patience: int = 6,
                 check_every: int = 25, batch_size: int = 128, seed: int = 0, progress: bool = True,
                 ssim_sigma: float = 1.5, verbose=None):
        self.target = check_target(edge)
        if inverse is not None and not isinstance(inverse, InverseNetworkAttack):
            raise TypeError(f"inverse must be an InverseNetworkAttack or None; got {type(inverse).__name__}")
        if inverse is not None and inverse_options:
            raise ValueError("pass either inverse or inverse_options, not both")
        self.inverse = inverse or InverseNetworkAttack(edge, image_shape=image_shape, seed=seed,
                                                       **(inverse_options or {}))
        self.rmle = RMLEAttack(edge, image_shape=image_shape, steps=steps, lr=lr, tv_weight=tv_weight,
                               patience=patience, check_every=check_every, batch_size=batch_size, seed=seed,
                               progress=progress_flag(progress, verbose, type(self).__name__),
                               ssim_sigma=ssim_sigma)
        self.image_shape = self.rmle.image_shape
        self.ssim_sigma = ssim_sigma

    def fit(self, aux_x) -> HybridAttack:
        self.inverse.fit(aux_x)
        return self

    def reconstruct(self, z, *, init=None) -> np.ndarray:
        start = self.inverse.reconstruct(z) if init is None else init
        return self.rmle.reconstruct(z, init=start)

    def evaluate(self, private_x) -> AttackResult:
        x = as_images(private_x, "private_x", self.image_shape)
        x_hat = self.reconstruct(observe(self.target, x, batch_size=256))
        return AttackResult.from_images(self.name, x, x_hat, ssim_sigma=self.ssim_sigma)
