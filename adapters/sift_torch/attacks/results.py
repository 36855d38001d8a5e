"""The outcome of an inversion attack: per-image reconstruction quality and its means.

The measures, means, summary and grid are :mod:`sift_core.attack_result`; this module declares
the result's fields for (N, C, H, W) images and moves tensors to numpy.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from sift_core import attack_result as _core
from sift_core.attack_result import ssim_sigma

from ..viz import _numpy

__all__ = ["AttackResult", "reconstruction_metrics", "ssim_sigma"]


def reconstruction_metrics(originals: Any, reconstructions: Any) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR, SSIM and cosine similarity of ``reconstructions`` against ``originals``.

    Both are (N, C, H, W) tensors or arrays in [0, 1] (data range 1). Every value is computed by
    ``sift_core.metrics``, one value per image (SSIM is the per-image SSIM of Wang et al. 2004,
    never one SSIM over the whole batch, which inflates the score), with the window of
    :func:`ssim_sigma`. An exact reconstruction has PSNR +inf.
    See :func:`sift_core.attack_result.reconstruction_metrics`.
    """
    return _core.reconstruction_metrics(_numpy(originals), _numpy(reconstructions))


@dataclasses.dataclass(frozen=True)
class AttackResult(_core.AttackResultBase):
    """Reconstruction quality of one attack on N private images.

    Attributes
    ----------
    attack : str
        ``"inverse_network"`` or ``"rmle"``.
    mse, psnr, ssim, cosine : numpy arrays of shape (N,)
        Per-image mean squared error, peak signal-to-noise ratio in dB (data range 1),
        structural similarity (data range 1) and cosine similarity, from ``sift_core.metrics``
        (see :func:`reconstruction_metrics`).
    originals, reconstructions : numpy float32 arrays (N, C, H, W) in [0, 1]
        The private inputs and the attacker's reconstructions (kept for plotting).

    ``n``, ``mean_mse``, ``mean_psnr``, ``mean_ssim``, ``mean_cosine``, ``to_dict()``,
    ``save_grid(path, n=8, scale=None, labels=True)`` and ``str()`` come from
    :class:`sift_core.attack_result.AttackResultBase`.
    """

    attack: str
    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    cosine: np.ndarray
    originals: np.ndarray = dataclasses.field(repr=False)
    reconstructions: np.ndarray = dataclasses.field(repr=False)

    _channels_last = False
    _per_image = ("mse", "psnr", "ssim", "cosine")

    @classmethod
    def from_images(cls, attack: str, originals: Any, reconstructions: Any) -> AttackResult:
        """Measure ``reconstructions`` against ``originals`` and keep both."""
        return super().from_images(attack, _numpy(originals), _numpy(reconstructions))

    @property
    def mean_cosine(self) -> float:
        return float(np.mean(self.cosine))
