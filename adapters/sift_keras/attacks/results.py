"""The outcome of an inversion attack: per-image MSE, PSNR and SSIM (``sift_core.metrics``) and their means.

The measures, means, summary and grid are :mod:`sift_core.attack_result`; this module declares
the result's fields for channels-last (N, H, W, C) images.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from sift_core import attack_result as _core

__all__ = ["AttackResult", "reconstruction_metrics"]


def reconstruction_metrics(originals, reconstructions, *, ssim_sigma: float = 1.5) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR (dB) and SSIM, data range 1, of channels-last (N, H, W, C) batches in [0, 1].

    Every value comes from :mod:`sift_core.metrics` (SSIM per image, Gaussian
    window of ``ssim_sigma``; images smaller than its 11 taps need a smaller sigma).
    See :func:`sift_core.attack_result.reconstruction_metrics`.
    """
    return _core.reconstruction_metrics(originals, reconstructions, channels_last=True, sigma=ssim_sigma,
                                        cosine=False)


@dataclasses.dataclass(frozen=True)
class AttackResult(_core.AttackResultBase):
    """Reconstruction quality of one attack on N private images (the fields of ``sift_torch``'s result).

    ``mse``, ``psnr``, ``ssim``: per-image arrays (N,); ``originals`` and
    ``reconstructions``: float32 (N, H, W, C) in [0, 1], kept for plotting. ``n``, the means,
    ``to_dict()``, ``save_grid(path, n=8)`` and ``str()`` come from
    :class:`sift_core.attack_result.AttackResultBase`.
    """

    attack: str
    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    originals: np.ndarray = dataclasses.field(repr=False)
    reconstructions: np.ndarray = dataclasses.field(repr=False)

    _channels_last = True
    _per_image = ("mse", "psnr", "ssim")

    @classmethod
    def from_images(cls, attack: str, originals, reconstructions, *, ssim_sigma: float = 1.5) -> AttackResult:
        return super().from_images(attack, originals, reconstructions, sigma=ssim_sigma)
