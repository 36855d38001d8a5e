"""The inputs of every MINE estimator: samples copied to the host and one invertible map per column."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import check_choice
from ..stats import rankdata
from ._special import normal_quantile

__all__ = ["INPUTS", "host_samples", "transform_columns"]

#: the invertible per-column maps applied to the inputs first (see :func:`transform_columns`)
INPUTS = ("rank", "asinh", "standardize")


def transform_columns(w: np.ndarray, inputs: str) -> np.ndarray:
    """Per-column invertible maps of (n, d) samples, which leave I(x; z) unchanged.

    Parameters
    ----------
    w : (n, d) real samples.
    inputs : ``"rank"`` (the default of every estimator): the Gaussian rank transform
        Phi^{-1}((rank - 1/2) / n), ties sharing their average rank, which makes every marginal
        standard normal: nearly the identity on Gaussian data, and heavy tails cannot saturate
        the critic (with standardisation, Cauchy samples of 1e4 gave -11 nats on the Student-t
        task of ``docs/bench_mi.md``, with ranks 0.32 to 0.35 for the true 0.43).
        ``"asinh"``: asinh((w - median) / s), s the normal-consistent interquartile range (the sd
        where that is 0). ``"standardize"``: (w - mean) / sd.

    Returns
    -------
    out : (n, d) float64; constant columns become 0. Statistics of all samples are used: they
        leak nothing about the pairing of x with z.
    """
    check_choice(inputs, "inputs", INPUTS)
    w = np.asarray(w, dtype=np.float64)
    if inputs == "rank":
        return normal_quantile((rankdata(w, axis=0) - 0.5) / w.shape[0])
    if inputs == "standardize":
        centre, scale = w.mean(axis=0), w.std(axis=0)
    else:
        q1, centre, q3 = np.percentile(w, [25, 50, 75], axis=0)
        scale = (q3 - q1) / 1.3489795
        scale = np.where(scale > 0, scale, w.std(axis=0))
    scale = np.where(scale > 0, scale, 1.0)
    w = (w - centre) / scale
    return np.arcsinh(w) if inputs == "asinh" else w


def host_samples(v: Any, name: str) -> np.ndarray:
    """(n, ...) samples as a float64 numpy array, (n, 1) for a vector; framework tensors are copied to the host.

    A ``TypeError`` for non-real data, a ``ValueError`` for a scalar or NaN / infinite values.
    """
    if not isinstance(v, np.ndarray):
        if hasattr(v, "detach"):  # torch; half and bfloat16 have no numpy dtype
            v = v.detach().cpu()
            v = (v.double() if v.is_floating_point() else v).numpy()
        elif hasattr(v, "numpy") and callable(v.numpy):  # TensorFlow eager tensors, Keras variables
            v = v.numpy()
    arr = np.asarray(v)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must hold (n, ...) samples; got a scalar")
    arr = arr.astype(np.float64).reshape(arr.shape[0], -1) if arr.ndim == 1 else arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr
