"""The outcome of an inversion attack: per-image MSE, PSNR and SSIM (``sift_core.metrics``) and their means."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

__all__ = ["AttackResult", "reconstruction_metrics"]


def reconstruction_metrics(originals, reconstructions, *, ssim_sigma: float = 1.5) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR (dB) and SSIM, data range 1, of channels-last (N, H, W, C) batches in [0, 1].

    Every value comes from :mod:`sift_core.metrics` (SSIM per image, Gaussian
    window of ``ssim_sigma``; images smaller than its 11 taps need a smaller sigma).
    """
    from sift_core import metrics

    a = np.asarray(originals, dtype=np.float64)
    b = np.asarray(reconstructions, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"originals and reconstructions must have the same shape; got {a.shape} and {b.shape}")
    if a.ndim != 4:
        raise ValueError(f"originals must have shape (N, H, W, C); got {a.shape}")
    return {
        "mse": np.asarray(metrics.mse(a, b, channels_last=True), dtype=np.float64),
        "psnr": np.asarray(metrics.psnr(a, b, data_range=1.0, channels_last=True), dtype=np.float64),
        "ssim": np.asarray(metrics.ssim(a, b, data_range=1.0, channels_last=True, sigma=ssim_sigma),
                           dtype=np.float64),
    }


@dataclasses.dataclass(frozen=True)
class AttackResult:
    """Reconstruction quality of one attack on N private images (the fields of ``sift_torch``'s result).

    ``mse``, ``psnr``, ``ssim``: per-image arrays (N,); ``originals`` and
    ``reconstructions``: float32 (N, H, W, C) in [0, 1], kept for plotting.
    """

    attack: str
    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    originals: np.ndarray = dataclasses.field(repr=False)
    reconstructions: np.ndarray = dataclasses.field(repr=False)

    @classmethod
    def from_images(cls, attack: str, originals, reconstructions, *, ssim_sigma: float = 1.5) -> AttackResult:
        m = reconstruction_metrics(originals, reconstructions, ssim_sigma=ssim_sigma)
        return cls(attack=attack, mse=m["mse"], psnr=m["psnr"], ssim=m["ssim"],
                   originals=np.asarray(originals, dtype=np.float32),
                   reconstructions=np.asarray(reconstructions, dtype=np.float32))

    @property
    def n(self) -> int:
        return int(self.mse.shape[0])

    @property
    def mean_mse(self) -> float:
        return float(np.mean(self.mse))

    @property
    def mean_psnr(self) -> float:
        # the mean of per-image dB values; an exact reconstruction (inf dB) makes it inf, never hidden
        return float(np.mean(self.psnr))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean(self.ssim))

    def to_dict(self) -> dict:
        """``{"attack", "n", "mse", "psnr", "ssim", "mse_std", "psnr_std", "ssim_std"}`` as Python numbers."""
        return {"attack": self.attack, "n": self.n, "mse": self.mean_mse, "psnr": self.mean_psnr,
                "ssim": self.mean_ssim, "mse_std": float(np.std(self.mse)),
                "psnr_std": float(np.std(self.psnr)) if np.all(np.isfinite(self.psnr)) else float("inf"),
                "ssim_std": float(np.std(self.ssim))}

    def save_grid(self, path: str | os.PathLike, *, n: int = 8, scale: int | None = None) -> str:
        """Save the first ``n`` originals over their reconstructions as a PNG; returns the path."""
        from ..viz import save_reconstruction_grid

        return save_reconstruction_grid(path, self.originals, {self.attack: self.reconstructions}, n=n, scale=scale)

    def __str__(self) -> str:
        return (f"{self.attack}: n={self.n} MSE={self.mean_mse:.4f} PSNR={self.mean_psnr:.2f} dB "
                f"SSIM={self.mean_ssim:.3f}")
