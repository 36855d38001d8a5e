"""The framework-free part of an inversion attack's result: per-image reconstruction quality.

:func:`reconstruction_metrics` measures reconstructions against the private images with
:mod:`sift_core.metrics`, one value per image; :class:`AttackResultBase` derives from those
arrays the means, spreads, a plain dict, a one-line summary and a PNG grid. Each framework
adapter declares the result's dataclass fields and converts its tensors to numpy; everything
else is written here once.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, TypeVar

import numpy as np

from . import metrics
from .imaging import save_reconstruction_grid

__all__ = ["AttackResultBase", "reconstruction_metrics", "ssim_sigma"]

_Result = TypeVar("_Result", bound="AttackResultBase")


def ssim_sigma(height: int, width: int, sigma: float = 1.5) -> float:
    """The SSIM Gaussian sigma used for images of this size: 1.5 (the 11-tap window of Wang et al.
    2004) when it fits, else the largest sigma whose window (2 * int(3.5 sigma + 0.5) + 1 taps)
    fits the smaller side, so that small images (8x8 digits) still get a per-image SSIM."""
    radius = (min(height, width) - 1) // 2
    if 2 * int(3.5 * sigma + 0.5) + 1 <= min(height, width):
        return sigma
    return max(radius / 3.5, 0.1)


def _floats(x: Any, name: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be an array of images; got {type(x).__name__}") from err


def reconstruction_metrics(
    originals: Any,
    reconstructions: Any,
    *,
    channels_last: bool = False,
    sigma: float | None = None,
    cosine: bool = True,
) -> dict[str, np.ndarray]:
    """Per-image MSE, PSNR (dB), SSIM and, with ``cosine``, cosine similarity, data range 1.

    ``originals`` and ``reconstructions``: batches of one shape, (N, C, H, W), or (N, H, W, C)
    with ``channels_last``, in [0, 1]. For image i, with D values per image:
    MSE_i = sum (a_i - b_i)^2 / D; PSNR_i = 10 log10(1 / MSE_i), +inf for an exact
    reconstruction; SSIM_i the per-image SSIM of Wang et al. (2004), never one SSIM over the
    whole batch (which inflates the score), with a Gaussian window of ``sigma`` (default
    :func:`ssim_sigma` of the image size); cosine_i = <a_i, b_i> / (|a_i| |b_i|).
    Returns float64 arrays (N,) under ``"mse"``, ``"psnr"``, ``"ssim"`` (and ``"cosine"``).
    """
    if not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be a bool; got {type(channels_last).__name__}")
    a = _floats(originals, "originals")
    b = _floats(reconstructions, "reconstructions")
    if a.shape != b.shape:
        raise ValueError(f"originals and reconstructions must have the same shape; got {a.shape} and {b.shape}")
    if a.ndim != 4:
        layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
        raise ValueError(f"originals must have shape {layout}; got {a.shape}")
    if sigma is None:
        sigma = ssim_sigma(*((a.shape[1], a.shape[2]) if channels_last else (a.shape[2], a.shape[3])))
    out = {
        "mse": metrics.mse(a, b, channels_last=channels_last),
        "psnr": metrics.psnr(a, b, data_range=1.0, channels_last=channels_last),
        "ssim": metrics.ssim(a, b, data_range=1.0, channels_last=channels_last, sigma=sigma),
    }
    if cosine:
        out["cosine"] = metrics.cosine_similarity(a, b, channels_last=channels_last)
    return {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in out.items()}


class AttackResultBase:
    """Reconstruction quality of one attack on N private images.

    Subclasses are frozen dataclasses that declare the fields below, plus ``cosine`` when
    ``_per_image`` names it, and set ``_channels_last`` to their image layout.

    Attributes
    ----------
    attack : str
        The attack's name, e.g. ``"inverse_network"`` or ``"rmle"``.
    mse, psnr, ssim (, cosine) : numpy arrays of shape (N,)
        Per-image values of :func:`reconstruction_metrics`.
    originals, reconstructions : numpy float32 arrays in [0, 1]
        The private inputs and the attacker's reconstructions (kept for plotting), in the
        layout of ``_channels_last``.
    """

    attack: str
    mse: np.ndarray
    psnr: np.ndarray
    ssim: np.ndarray
    originals: np.ndarray
    reconstructions: np.ndarray

    #: Image layout: (N, H, W, C) when True, else (N, C, H, W).
    _channels_last: ClassVar[bool] = False
    #: The per-image metrics a subclass holds as fields, in the order of :meth:`to_dict`.
    _per_image: ClassVar[tuple[str, ...]] = ("mse", "psnr", "ssim", "cosine")

    @classmethod
    def from_images(
        cls: type[_Result], attack: str, originals: Any, reconstructions: Any, *, sigma: float | None = None
    ) -> _Result:
        """Measure ``reconstructions`` against ``originals`` (numpy arrays) and keep both as float32;
        ``sigma`` is the SSIM window (default :func:`ssim_sigma`)."""
        if not isinstance(attack, str):
            raise TypeError(f"attack must be a str; got {type(attack).__name__}")
        a = _floats(originals, "originals")
        b = _floats(reconstructions, "reconstructions")
        m = reconstruction_metrics(
            a, b, channels_last=cls._channels_last, sigma=sigma, cosine="cosine" in cls._per_image
        )
        # The subclass's dataclass __init__ takes exactly these fields as keywords.
        return cls(  # type: ignore[call-arg]
            attack=attack, **m, originals=a.astype(np.float32), reconstructions=b.astype(np.float32)
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

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python summary: ``attack``, ``n``, the means of the per-image metrics (``mse``,
        ``psnr``, ``ssim`` and ``cosine`` where held) and the spreads ``mse_std``, ``psnr_std``,
        ``ssim_std``: means and (population) standard deviations over the N images, as floats."""
        out: dict[str, Any] = {"attack": self.attack, "n": self.n}
        out.update({name: float(np.mean(getattr(self, name))) for name in self._per_image})
        out["mse_std"] = float(np.std(self.mse))
        # An exact reconstruction has infinite PSNR; the spread is then reported as infinite.
        out["psnr_std"] = float(np.std(self.psnr)) if np.all(np.isfinite(self.psnr)) else float("inf")
        out["ssim_std"] = float(np.std(self.ssim))
        return out

    def save_grid(self, path: str | os.PathLike, *, n: int = 8, scale: int | None = None, labels: bool = True) -> str:
        """Save the first ``n`` originals (top row) over their reconstructions as a PNG; returns the path.

        See :func:`sift_core.imaging.save_reconstruction_grid` (``labels`` names the rows).
        """
        return save_reconstruction_grid(
            path, self.originals, {self.attack: self.reconstructions}, n=n, scale=scale, labels=labels,
            channels_last=self._channels_last,
        )

    def __str__(self) -> str:
        return (
            f"{self.attack}: n={self.n} MSE={self.mean_mse:.4f} PSNR={self.mean_psnr:.2f} dB "
            f"SSIM={self.mean_ssim:.3f}"
        )
