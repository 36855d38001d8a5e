"""The outcome of an inversion attack: per-image reconstruction quality and its means."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np

__all__ = ["AttackResult", "reconstruction_metrics", "ssim_sigma"]


def ssim_sigma(height: int, width: int, sigma: float = 1.5) -> float:
    """The SSIM Gaussian sigma used for images of this size: 1.5 (the 11-tap window of Wang et al.
    2004) when it fits, else the largest sigma whose window (2 * int(3.5 sigma + 0.5) + 1 taps)
    fits the smaller side, so that small images (8x8 digits) still get a per-image SSIM."""
    radius = (min(height, width) - 1) // 2
    if 2 * int(3.5 * sigma + 0.5) + 1 <= min(height, width):
        return sigma
    return max(radius / 3.5, 0.1)


def reconstruction_metrics(originals: Any, reconstructions: Any) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR, SSIM and cosine similarity of ``reconstructions`` against ``originals``.

    Both are (N, C, H, W) arrays in [0, 1] (data range 1). Every value is computed by
    ``sift_core.metrics``, one value per image (SSIM is the per-image SSIM of Wang et al. 2004,
    never one SSIM over the whole batch, which inflates the score), with the window of
    :func:`ssim_sigma`. An exact reconstruction has PSNR +inf.
    """
    from sift_core import metrics

    a = _numpy(originals)
    b = _numpy(reconstructions)
    if a.shape != b.shape:
        raise ValueError(f"originals and reconstructions must have the same shape; got {a.shape} and {b.shape}")
    if a.ndim != 4:
        raise ValueError(f"originals must have shape (N, C, H, W); got {a.shape}")
    sigma = ssim_sigma(a.shape[2], a.shape[3])
    return {
        "mse": np.asarray(metrics.mse(a, b), dtype=np.float64).reshape(-1),
        "psnr": np.asarray(metrics.psnr(a, b, data_range=1.0), dtype=np.float64).reshape(-1),
        "ssim": np.asarray(metrics.ssim(a, b, data_range=1.0, sigma=sigma), dtype=np.float64).reshape(-1),
        "cosine": np.asarray(metrics.cosine_similarity(a, b), dtype=np.float64).reshape(-1),
    }


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class AttackResult:
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
    """

    attack: str
    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    cosine: np.ndarray
    originals: np.ndarray = dataclasses.field(repr=False)
    reconstructions: np.ndarray = dataclasses.field(repr=False)

    @classmethod
    def from_images(cls, attack: str, originals: Any, reconstructions: Any) -> AttackResult:
        """Measure ``reconstructions`` against ``originals`` and keep both."""
        m = reconstruction_metrics(originals, reconstructions)
        return cls(
            attack=attack,
            mse=m["mse"],
            psnr=m["psnr"],
            ssim=m["ssim"],
            cosine=m["cosine"],
            originals=_numpy(originals).astype(np.float32),
            reconstructions=_numpy(reconstructions).astype(np.float32),
        )

    @property
    def n(self) -> int:
        return int(self.mse.shape[0])

    @property
    def mean_mse(self) -> float:
        return float(np.mean(self.mse))

    @property
    def mean_psnr(self) -> float:
        # Averaging dB values per image (as the literature does); an exact reconstruction has
        # infinite PSNR, which then makes the mean infinite too: reported, never hidden.
        return float(np.mean(self.psnr))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim))

    @property
    def mean_cosine(self) -> float:
        return float(np.mean(self.cosine))

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary: ``attack``, ``n``, the means ``mse``, ``psnr``, ``ssim``, ``cosine``
        and the spreads ``mse_std``, ``psnr_std``, ``ssim_std``.

        Means and (population) standard deviations over the N images, as Python floats.
        """
        return {
            "attack": self.attack,
            "n": self.n,
            "mse": self.mean_mse,
            "psnr": self.mean_psnr,
            "ssim": self.mean_ssim,
            "cosine": self.mean_cosine,
            "mse_std": float(np.std(self.mse)),
            # An exact reconstruction has infinite PSNR; the spread is then reported as infinite.
            "psnr_std": float(np.std(self.psnr)) if np.all(np.isfinite(self.psnr)) else float("inf"),
            "ssim_std": float(np.std(self.ssim)),
        }

    def save_grid(self, path: str | os.PathLike, *, n: int = 8, scale: int | None = None, labels: bool = True) -> str:
        """Save the first ``n`` originals (top row) over their reconstructions as a PNG; returns the path.

        See :func:`sift_torch.viz.save_reconstruction_grid` (``labels`` names the rows).
        """
        from ..viz import save_reconstruction_grid

        return save_reconstruction_grid(
            path, self.originals, {self.attack: self.reconstructions}, n=n, scale=scale, labels=labels
        )

    def __str__(self) -> str:
        return (
            f"{self.attack}: n={self.n} MSE={self.mean_mse:.4f} PSNR={self.mean_psnr:.2f} dB "
            f"SSIM={self.mean_ssim:.3f}"
        )
