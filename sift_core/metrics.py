"""Image reconstruction metrics: MSE, PSNR, SSIM and cosine similarity, per image.

One definition of each formula, written against :mod:`sift_core._backend`, so
the same call works on numpy arrays (float64 results) and on torch,
TensorFlow/Keras and JAX tensors (results of the input's dtype, on its device,
differentiable: ``1 - ssim(...)`` is a training loss).

Batches are (N, C, H, W) by default or (N, H, W, C) with ``channels_last=True``.
Every metric returns one value per image (shape (N,)); ``reduction="mean"``
averages those per-image values (the mean PSNR, not the PSNR of the mean MSE;
the per-image SSIM averaged, not one SSIM over the stacked batch, which is
inflated) and ``reduction="sum"`` adds them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._backend import NUMPY, Ops, get_ops
from ._validation import as_float, check_choice, check_finite, check_positive

__all__ = ["mse", "psnr", "ssim", "cosine_similarity", "gaussian_window", "total_variation"]

_REDUCTIONS = ("none", "mean", "sum")
#: Gaussian window truncated at 3.5 sigma: 11 taps at sigma = 1.5 (Wang et al. 2004; skimage's choice)
SSIM_TRUNCATE = 3.5


def _pair(a: Any, b: Any, *, min_ndim: int, what: str, channels_last: bool, reduction: str):
    """Validate a pair of image batches; return (ops, a, b) as float arrays of one shape."""
    if not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be a bool; got {type(channels_last).__name__}")
    check_choice(reduction, "reduction", _REDUCTIONS)
    ops = get_ops(a, b)
    out = []
    for name, v in (("a", a), ("b", b)):
        v = as_float(ops, v, name)
        shape = ops.shape(v)
        if len(shape) < min_ndim:
            raise ValueError(f"{name} must be a batch {what} with at least {min_ndim} dimensions; got shape {shape}")
        if shape[0] is not None and shape[0] < 1:
            raise ValueError(f"{name} holds no images; got shape {shape}")
        check_finite(ops, v, name)
        out.append(v)
    a, b = out
    if ops.shape(a) != ops.shape(b):
        raise ValueError(f"a and b must have the same shape; got {ops.shape(a)} and {ops.shape(b)}")
    if ops is not NUMPY and a.dtype != b.dtype:
        b = ops.cast_like(b, a)
    return ops, a, b


def _per_image_axes(ops: Ops, x) -> tuple[int, ...]:
    return tuple(range(1, len(ops.shape(x))))


def _reduce(ops: Ops, values, reduction: str):
    if reduction == "mean":
        values = ops.mean(values)
    elif reduction == "sum":
        values = ops.sum(values)
    if ops is NUMPY:
        return np.float64(values) if np.ndim(values) == 0 else np.asarray(values, dtype=np.float64)
    return values


def _check_range(data_range: Any) -> float:
    check_positive(data_range, "data_range")
    if not math.isfinite(data_range):
        raise ValueError(f"data_range must be finite; got {data_range!r}")
    return float(data_range)


def mse(a: Any, b: Any, *, channels_last: bool = False, reduction: str = "none"):
    r"""Mean squared error of each image: ``MSE_i = mean_{c,h,w} (a_i - b_i)^2``.

    ``a`` and ``b`` are (N, ...) batches of the same shape; the per-image mean
    runs over all non-batch axes, so the layout (``channels_last``, accepted for
    a uniform signature) does not change the value.  Returns shape (N,) or, with
    ``reduction``, the mean or sum of the per-image values.
    """
    ops, a, b = _pair(a, b, min_ndim=2, what="(N, ...)", channels_last=channels_last, reduction=reduction)
    d = a - b
    return _reduce(ops, ops.mean(d * d, axis=_per_image_axes(ops, d)), reduction)


def psnr(a: Any, b: Any, *, data_range: float, channels_last: bool = False, reduction: str = "none",
         max_db: float | None = None):
    r"""Peak signal-to-noise ratio of each image, in dB.

    .. math:: \mathrm{PSNR}_i = 10 \log_{10} \frac{R^2}{\mathrm{MSE}_i}

    with ``R = data_range`` (1 for images in [0, 1], 255 for uint8 pixels), as
    in ``skimage.metrics.peak_signal_noise_ratio``.  Identical images
    (``MSE_i = 0``) give ``+inf`` by default, never NaN; their gradient is 0.
    ``max_db`` caps every value at that many dB (``min(PSNR_i, max_db)``), which
    keeps a ``reduction="mean"`` finite when some reconstructions are exact.
    ``reduction="mean"`` averages the per-image PSNR values.
    """
    r = _check_range(data_range)
    if max_db is not None:
        if isinstance(max_db, bool) or not isinstance(max_db, (int, float)) or not math.isfinite(max_db):
            raise ValueError(f"max_db must be a finite number or None; got {max_db!r}")
    ops, a, b = _pair(a, b, min_ndim=2, what="(N, ...)", channels_last=channels_last, reduction=reduction)
    # in units of R: the value is scale-free, and R^2 or the MSE of 1e200-scaled pixels would overflow
    d = (a - b) / r if r != 1.0 else a - b
    m = ops.mean(d * d, axis=_per_image_axes(ops, d))
    pos = m > 0
    # the where-inside-where keeps log's gradient finite for exact reconstructions
    safe = ops.where(pos, m, ops.scalar(1.0, m))
    db = (-10.0 / math.log(10.0)) * ops.log(safe)
    db = ops.where(pos, db, ops.scalar(math.inf, m))
    if max_db is not None:
        db = ops.minimum(db, float(max_db))
    return _reduce(ops, db, reduction)


def gaussian_window(sigma: float = 1.5, truncate: float = SSIM_TRUNCATE) -> np.ndarray:
    """Normalised 1-D Gaussian taps ``exp(-t^2 / (2 sigma^2))``, ``|t| <= int(truncate * sigma + 0.5)``.

    The radius rule is ``scipy.ndimage``'s, so sigma = 1.5 gives the 11-tap
    window of Wang et al. (2004) that ``skimage`` uses for SSIM.
    """
    check_positive(sigma, "sigma")
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (t / sigma) ** 2)
    return w / w.sum()


def ssim(a: Any, b: Any, *, data_range: float, channels_last: bool = False, reduction: str = "none",
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03):
    r"""Structural similarity of each image (Wang et al. 2004), Gaussian-weighted.

    With ``w`` the 2-D Gaussian window (separable, ``sigma`` = 1.5, 11 taps),
    local statistics per channel ``mu_a = w * a``, ``s_a^2 = w * a^2 - mu_a^2``,
    ``s_ab = w * (ab) - mu_a mu_b`` (population covariance), and
    ``C1 = (k1 R)^2``, ``C2 = (k2 R)^2`` with ``R = data_range``:

    .. math::
        \mathrm{SSIM}(p) = \frac{(2\mu_a\mu_b + C_1)(2 s_{ab} + C_2)}
                                {(\mu_a^2 + \mu_b^2 + C_1)(s_a^2 + s_b^2 + C_2)}

    averaged over the positions whose window lies inside the image and over the
    channels.  This equals ``skimage.metrics.structural_similarity(a_i, b_i,
    data_range=R, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    channel_axis=...)`` image by image: skimage filters with reflected borders
    and then discards a border of the window radius, which leaves exactly the
    "valid" positions computed here.

    ``a``, ``b``: (N, C, H, W), or (N, H, W, C) with ``channels_last=True``
    (colour SSIM is the mean over channels).  H and W must be at least the
    window length (11 at sigma = 1.5); pass a smaller ``sigma`` for tiny images.
    Returns (N,) values in [-1, 1] (1 for identical images), or their mean/sum.
    """
    r = _check_range(data_range)
    check_positive(sigma, "sigma")
    check_positive(k1, "k1")
    check_positive(k2, "k2")
    layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
    ops, a, b = _pair(a, b, min_ndim=4, what=layout, channels_last=channels_last, reduction=reduction)
    shape = ops.shape(a)
    if len(shape) != 4:
        raise ValueError(f"a and b must be 4-D batches {layout}; got shape {shape}")
    window = gaussian_window(sigma)
    h, w = (shape[1], shape[2]) if channels_last else (shape[2], shape[3])
    for name, size in (("height", h), ("width", w)):
        if size is not None and size < window.size:
            raise ValueError(
                f"image {name} {size} is smaller than the SSIM window ({window.size} taps at sigma={sigma}); "
                "pass a smaller sigma"
            )

    def filt(v):
        return ops.separable_filter2d(v, window, channels_last=channels_last)

    if r != 1.0:  # in units of R (SSIM is scale-free): squares of 1e200 or 1e-200 pixels would over/underflow
        a, b, r = a / r, b / r, 1.0

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a * mu_a
    var_b = filt(b * b) - mu_b * mu_b
    cov = filt(a * b) - mu_a * mu_b
    c1 = (k1 * r) ** 2
    c2 = (k2 * r) ** 2
    num = (2.0 * mu_a * mu_b + c1) * (2.0 * cov + c2)
    den = (mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2)
    smap = num / den
    return _reduce(ops, ops.mean(smap, axis=(1, 2, 3)), reduction)


def cosine_similarity(a: Any, b: Any, *, channels_last: bool = False, reduction: str = "none"):
    r"""Cosine similarity of each pair of flattened images.

    .. math:: \cos_i = \frac{\langle a_i, b_i \rangle}{\|a_i\|\,\|b_i\|}

    An all-zero image has no direction: its cosine with anything is 0 (the
    convention of ``torch.nn.functional.cosine_similarity`` and scikit-learn),
    with a finite gradient.  The layout does not change the value.
    """
    ops, a, b = _pair(a, b, min_ndim=2, what="(N, ...)", channels_last=channels_last, reduction=reduction)
    axes = _per_image_axes(ops, a)
    dot = ops.sum(a * b, axis=axes)
    den2 = ops.sum(a * a, axis=axes) * ops.sum(b * b, axis=axes)
    pos = den2 > 0
    safe = ops.where(pos, den2, ops.scalar(1.0, den2))
    cos = ops.where(pos, dot / ops.sqrt(safe), ops.scalar(0.0, den2))
    return _reduce(ops, ops.clip(cos, -1.0, 1.0), reduction)


def total_variation(x: Any, *, channels_last: bool = False, reduction: str = "none"):
    r"""Anisotropic (L1) total variation of each image, averaged so one weight suits every size.

    .. math::
        \mathrm{TV}(x_i) = \operatorname{mean}_{c,h,w} |x_{i,c,h+1,w} - x_{i,c,h,w}|
                         + \operatorname{mean}_{c,h,w} |x_{i,c,h,w+1} - x_{i,c,h,w}|

    (the L1 form of Rudin, Osher and Fatemi 1992, the image prior of inversion
    attacks since Mahendran and Vedaldi 2015).  A direction of length 1
    contributes 0; a constant image has TV 0.  ``x``: (N, C, H, W), or
    (N, H, W, C) with ``channels_last=True``.  Returns (N,) values, or their
    mean/sum; differentiable in every framework.
    """
    if not isinstance(channels_last, bool):
        raise TypeError(f"channels_last must be a bool; got {type(channels_last).__name__}")
    check_choice(reduction, "reduction", _REDUCTIONS)
    ops = get_ops(x)
    x = as_float(ops, x, "x")
    shape = ops.shape(x)
    if len(shape) != 4:
        layout = "(N, H, W, C)" if channels_last else "(N, C, H, W)"
        raise ValueError(f"x must be a batch of images {layout}; got shape {shape}")
    check_finite(ops, x, "x")
    h_axis, w_axis = (1, 2) if channels_last else (2, 3)
    axes = (1, 2, 3)
    tv = None
    for axis in (h_axis, w_axis):
        if shape[axis] is not None and shape[axis] < 2:
            continue
        hi = [slice(None)] * 4
        lo = [slice(None)] * 4
        hi[axis], lo[axis] = slice(1, None), slice(None, -1)
        term = ops.mean(ops.abs(x[tuple(hi)] - x[tuple(lo)]), axis=axes)
        tv = term if tv is None else tv + term
    if tv is None:
        tv = ops.mean(x, axis=axes) * 0.0
    return _reduce(ops, tv, reduction)
