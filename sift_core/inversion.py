"""The inversion attacks' objectives, stopping rule and scores, written once for every framework.

An attack adapter (``sift_torch.attacks``, ``sift_keras.attacks``) supplies the networks,
autodiff and the optimiser; what it minimises, when it stops and how its reconstructions
are scored are defined here:

* :func:`feature_matching_objective`: the white-box objective of rMLE, the hybrid attack and
  the pixel stage of the generative-prior attack, per image;
* :func:`latent_prior`: the Gaussian prior on the generator's latent code;
* :func:`relative_feature_error`: how well reconstructions reproduce the observed features;
* :class:`Plateau`: the convergence rule (early stopping on a held-out loss, or on the
  objective of an optimisation);
* :func:`reconstruction_scores` and :func:`worst_case`: the one rule by which every
  attack's reconstructions are scored and a defence's privacy is summarised.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import metrics
from ._backend import get_ops
from ._validation import as_float, check_finite

__all__ = [
    "FEATURE_SCALE_FLOOR",
    "PSNR_CAP_DB",
    "Plateau",
    "PlateauPerImage",
    "feature_matching_objective",
    "latent_prior",
    "reconstruction_scores",
    "relative_feature_error",
    "worst_case",
]

#: floor of the per-image feature scale: an all-zero observed z keeps a finite objective
FEATURE_SCALE_FLOOR = 1e-12
#: PSNR of an exact reconstruction is +inf; reports cap it so a mean stays a finite number
PSNR_CAP_DB = 100.0


def feature_matching_objective(features: Any, target: Any, images: Any, *, tv_weight: float,
                               channels_last: bool = False) -> Any:
    r"""Per-image objective of the white-box attacks (rMLE, hybrid, generative pixel stage).

    .. math::
        L_i = \frac{\operatorname{mean}_j (f(\hat x_i)_j - z_{i,j})^2}
                   {\max(\operatorname{mean}_j z_{i,j}^2, 10^{-12})}
              + \lambda_{TV}\, \mathrm{TV}(\hat x_i)

    (He, Zhang and Lee 2019, with the squared error made *relative*: dividing by each image's
    mean ``z^2`` makes one ``tv_weight`` mean the same on edges whose features differ in scale
    by orders of magnitude). ``features`` = f(x_hat) and ``target`` = z have one shape
    (N, ...); ``images`` = x_hat is (N, C, H, W), or (N, H, W, C) with ``channels_last``.
    Returns (N,) values in the framework of the inputs, differentiable in ``features`` and
    ``images``; the sum over images is what an optimiser minimises (the terms are independent,
    so an image's result does not depend on its batch).
    """
    ops = get_ops(features, target, images)
    feat, tgt = as_float(ops, features, "features"), as_float(ops, target, "target")
    if ops.shape(feat) != ops.shape(tgt):
        raise ValueError(f"features must have the observed features' shape {ops.shape(tgt)}; got {ops.shape(feat)}")
    if tv_weight < 0 or not math.isfinite(tv_weight):
        raise ValueError(f"tv_weight must be finite and >= 0; got {tv_weight}")
    diff = ops.flatten_from(feat - tgt, 1)
    scale = ops.mean(ops.flatten_from(tgt * tgt, 1), axis=1)
    scale = ops.maximum(ops.stop_gradient(scale), ops.scalar(FEATURE_SCALE_FLOOR, scale))
    per_image = ops.mean(diff * diff, axis=1) / scale
    if tv_weight > 0:
        per_image = per_image + tv_weight * metrics.total_variation(images, channels_last=channels_last)
    return per_image


def latent_prior(latents: Any, *, weight: float) -> Any:
    r"""``weight * mean_k w_{i,k}^2`` per sample: the negative log-density of the generator's
    N(0, I) latent prior up to a constant, keeping a latent search where the generator was trained."""
    ops = get_ops(latents)
    w = as_float(ops, latents, "latents")
    return weight * ops.mean(ops.flatten_from(w * w, 1), axis=1)


def relative_feature_error(z_hat: Any, z: Any) -> float:
    """``sum (z_hat - z)^2 / sum z^2`` over a batch (numpy); 0 when both are all zero, inf when only z is.

    A small error with a large image MSE means the edge maps different images to the same
    features (no white-box attacker can tell them apart); a large one, that the optimisation
    did not converge.
    """
    a = np.asarray(z_hat, dtype=np.float64)
    b = np.asarray(z, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"z_hat and z must have the same shape; got {a.shape} and {b.shape}")
    num, den = float(np.sum((a - b) ** 2)), float(np.sum(b**2))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


class Plateau:
    """Stop when a loss has not improved for ``patience`` checks; remember the best check.

    With ``reductions`` > 0, the first plateaus do not stop: :attr:`reduce` turns True for
    that check (the caller then lowers its learning rate, typically by half) and the count
    starts again; only a plateau with no reduction left stops. ``reduce_patience`` (default
    ``patience``) is the plateau length that triggers a reduction.

    A check improves when ``loss < best - max(min_delta * |best|, abs_delta)`` (a relative
    threshold, as Keras's and PyTorch's plateau rules offer): every attack uses this one
    rule, the inverse network on its held-out MSE once per epoch, the white-box attacks on
    their objective every few steps. A non-finite loss never improves, so a diverging run
    stops after ``patience`` checks and keeps its best state.

    >>> p = Plateau(patience=2)
    >>> [p.update(v) for v in (1.0, 0.5, 0.5, 0.5)]
    [True, True, False, False]
    >>> p.stop, p.best, p.best_index
    (True, 0.5, 1)
    """

    def __init__(self, *, patience: int, min_delta: float = 1e-3, abs_delta: float = 0.0, reductions: int = 0,
                 reduce_patience: int | None = None):
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be a positive integer; got {patience!r}")
        if not (0 <= min_delta < 1):
            raise ValueError(f"min_delta must be in [0, 1); got {min_delta!r}")
        if not (abs_delta >= 0 and math.isfinite(abs_delta)):
            raise ValueError(f"abs_delta must be finite and >= 0; got {abs_delta!r}")
        if isinstance(reductions, bool) or not isinstance(reductions, int) or reductions < 0:
            raise ValueError(f"reductions must be a non-negative integer; got {reductions!r}")
        self.patience, self.min_delta, self.abs_delta = patience, float(min_delta), float(abs_delta)
        self.reductions_left = reductions
        self.reduce_patience = patience if reduce_patience is None else reduce_patience
        if isinstance(self.reduce_patience, bool) or not isinstance(self.reduce_patience, int) or \
                self.reduce_patience < 1:
            raise ValueError(f"reduce_patience must be a positive integer; got {reduce_patience!r}")
        self.reduce = False
        self.best = math.inf
        self.best_index = -1
        self.index = -1
        self.bad = 0

    def update(self, loss: float) -> bool:
        """Record the next check's loss; True when it is the new best."""
        self.index += 1
        loss = float(loss)
        threshold = self.best - max(self.min_delta * abs(self.best), self.abs_delta) if math.isfinite(
            self.best) else math.inf
        if math.isfinite(loss) and loss < threshold:
            self.best, self.best_index, self.bad, self.reduce = loss, self.index, 0, False
            return True
        self.bad += 1
        self.reduce = False
        if self.reductions_left > 0 and self.bad >= self.reduce_patience:
            # a plateau at this step size: the caller lowers its learning rate and goes on
            self.reductions_left -= 1
            self.bad = 0
            self.reduce = True
        return False

    @property
    def stop(self) -> bool:
        """True once ``patience`` consecutive checks did not improve."""
        return self.bad >= self.patience


def reconstruction_scores(originals: Any, reconstructions: Any, *, channels_last: bool = False) -> dict[str, float]:
    """The one scoring rule of the bench: mean per-image MSE, PSNR and SSIM, data range 1.

    Reconstructions are clipped to [0, 1] (the data range; an attack's output outside it is
    its own loss), PSNR is capped at :data:`PSNR_CAP_DB` so an exact reconstruction keeps a
    finite mean, and SSIM uses the window of :func:`sift_core.attack_result.ssim_sigma`
    (sigma 1.5, narrower for images under 11 pixels). Images are (N, C, H, W), or
    (N, H, W, C) with ``channels_last``. Returns ``{"mse", "psnr", "ssim"}`` as floats.
    """
    from .attack_result import ssim_sigma

    a = np.asarray(originals, dtype=np.float64)
    b = np.asarray(reconstructions, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 4:
        raise ValueError(f"originals and reconstructions must be batches of images of one shape; got {a.shape} "
                         f"and {b.shape}")
    check_finite(get_ops(a), a, "originals")
    if not np.all(np.isfinite(b)):
        raise ValueError("reconstructions contain NaN or infinite values")
    b = np.clip(b, 0.0, 1.0)
    h, w = (a.shape[1], a.shape[2]) if channels_last else (a.shape[2], a.shape[3])
    return {
        "mse": float(metrics.mse(a, b, channels_last=channels_last, reduction="mean")),
        "psnr": float(metrics.psnr(a, b, data_range=1.0, channels_last=channels_last, reduction="mean",
                                   max_db=PSNR_CAP_DB)),
        "ssim": float(metrics.ssim(a, b, data_range=1.0, channels_last=channels_last, reduction="mean",
                                   sigma=ssim_sigma(h, w))),
    }


def worst_case(attacks: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A defence's privacy: the worst case over the attacks that finished.

    ``attacks`` maps an attack's name to its scores (``{"mse", "psnr", "ssim", ...}``; an
    attack that failed carries ``"failed"`` and no scores). Returns ``{"ssim", "ssim_attack",
    "mse", "mse_attack", "psnr", "psnr_attack", "n_attacks"}``: the highest SSIM, the lowest
    MSE and the highest PSNR, each with the attack that reached it (they can differ), or None
    values when no attack finished.
    """
    done = {k: v for k, v in attacks.items() if not v.get("failed") and _finite(v.get("mse"))}
    out: dict[str, Any] = {"n_attacks": len(done)}
    for metric, pick in (("ssim", max), ("mse", min), ("psnr", max)):
        names = [k for k in done if _finite(done[k].get(metric))]
        if not names:
            out[metric], out[f"{metric}_attack"] = None, None
            continue
        best = pick(names, key=lambda k: float(done[k][metric]))
        out[metric], out[f"{metric}_attack"] = float(done[best][metric]), best
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class PlateauPerImage:
    """:class:`Plateau` for each image of a batch at once: the white-box attacks' stopping rule.

    Each image keeps its own best objective, count of checks without improvement, step-size
    scale (halved on each of its first ``reductions`` plateaus of ``reduce_patience`` checks)
    and stop flag, so an image's result never depends on which images share its batch.
    ``update(losses)`` takes the (N,) objectives of one check and returns the mask of images
    that improved (whose current iterate the caller keeps as their best).
    """

    def __init__(self, n: int, *, patience: int, min_delta: float = 1e-3, reductions: int = 0,
                 reduce_patience: int | None = None):
        Plateau(patience=patience, min_delta=min_delta, reductions=reductions, reduce_patience=reduce_patience)
        self.patience, self.min_delta = patience, float(min_delta)
        self.reduce_patience = patience if reduce_patience is None else reduce_patience
        self.best = np.full(n, np.inf)
        self.bad = np.zeros(n, dtype=np.int64)
        self.reductions_left = np.full(n, reductions, dtype=np.int64)
        #: per-image multiplier of the step size (1, then halved on each reduction)
        self.scale = np.ones(n)
        #: images whose optimisation has stopped
        self.done = np.zeros(n, dtype=bool)
        #: images stopped by :meth:`halt` (a non-finite iterate), not by the plateau rule
        self.halted = np.zeros(n, dtype=bool)

    def update(self, losses: Any) -> np.ndarray:
        loss = np.asarray(losses, dtype=np.float64).reshape(-1)
        if loss.shape != self.best.shape:
            raise ValueError(f"losses must have {self.best.shape[0]} values; got {loss.shape[0]}")
        threshold = np.full(self.best.shape, np.inf)
        seen = np.isfinite(self.best)
        threshold[seen] = self.best[seen] - self.min_delta * np.abs(self.best[seen])
        improved = np.isfinite(loss) & (loss < threshold) & ~self.done
        self.best[improved] = loss[improved]
        self.bad[improved] = 0
        worse = ~improved & ~self.done
        self.bad[worse] += 1
        reduce = worse & (self.reductions_left > 0) & (self.bad >= self.reduce_patience)
        self.reductions_left[reduce] -= 1
        self.scale[reduce] *= 0.5
        self.bad[reduce] = 0
        self.done |= worse & ~reduce & (self.reductions_left == 0) & (self.bad >= self.patience)
        return improved

    @property
    def step_scale(self) -> np.ndarray:
        """Per-image multiplier of the optimiser's step: ``scale`` while running, 0 once stopped (a
        stopped image keeps its iterate)."""
        return np.where(self.done, 0.0, self.scale)

    def halt(self, mask: Any) -> None:
        """Stop the images of ``mask`` now (their iterate turned NaN or infinite: they keep their best)."""
        mask = np.asarray(mask, dtype=bool).reshape(-1)
        self.halted |= mask & ~self.done
        self.done |= mask

    @property
    def stop(self) -> bool:
        """True once every image has stopped."""
        return bool(np.all(self.done))
