"""Effective information volume of features z: how many numbers they really carry.

SiftFunnel argues that features with a smaller *effective information
volume* are harder to invert; its authors' code reports the mean number of
non-zero entries per sample.  A raw count ignores linear redundancy, so these
measures are reported side by side:

* ``nonzero_fraction`` -- mean fraction of entries with ``|z| > rtol max|z|``;
* ``effective_rank`` -- ``exp`` of the Shannon entropy of the normalised
  singular values of the centred features (Roy and Vetterli 2007);
* ``participation_ratio`` -- ``(sum lambda)^2 / sum lambda^2`` over the
  covariance eigenvalues (Gao et al. 2017, "A theory of multineuronal
  dimensionality");
* ``effective_dof = min(mean non-zero count, effective rank)``: a sample with
  m non-zero entries lies in an m-dimensional coordinate subspace and the
  sample set in an (effectively) r-dimensional linear subspace, so neither
  can carry more real degrees of freedom than the smaller of the two.

:func:`sift_core.criterion.assess` reports these for z but does not score them:
a count relative to x's degrees of freedom saturates once z has more non-zero
entries than x has degrees of freedom (a 768-value funnel and an 8,192-value
edge then look alike), and neither measure says whether z can be inverted.

All take (n, ...) arrays (flattened per sample); numpy arrays or framework
tensors (copied to the host).  Constant features have effective rank 0 and
participation ratio 0 (no variance at all), documented instead of NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._projection import spectrum
from ._validation import check_int, check_positive

__all__ = [
    "nonzero_fraction",
    "effective_rank",
    "participation_ratio",
    "effective_volume",
    "Volume",
    "to_numpy_matrix",
    "SPECTRUM_MAX_ROWS",
]

#: spectrum-based measures use at most this many (seeded) rows: the eigenproblem is cubic
SPECTRUM_MAX_ROWS = 1000


def to_numpy_matrix(x: Any, name: str, *, min_n: int = 1) -> np.ndarray:
    """A float64 (n, d) copy of ``x``; torch/TensorFlow tensors are detached and brought to the host."""
    from ._backend import NUMPY
    from ._validation import as_samples

    if not isinstance(x, np.ndarray):
        if hasattr(x, "detach"):  # torch
            x = x.detach().cpu().numpy()
        elif hasattr(x, "numpy") and callable(x.numpy):  # TensorFlow eager tensors, keras variables
            x = x.numpy()
    return np.ascontiguousarray(as_samples(NUMPY, x, name, min_n=min_n), dtype=np.float64)


def _check_rtol(rtol: Any) -> float:
    check_positive(rtol, "rtol", allow_zero=True)
    if rtol >= 1:
        raise ValueError(f"rtol must be below 1; got {rtol!r}")
    return float(rtol)


def nonzero_fraction(z: Any, *, rtol: float = 1e-6) -> float:
    """Mean over samples of the fraction of entries with ``|z_ij| > rtol * max |z|``.

    ``rtol = 0`` counts exact non-zeros, as the SiftFunnel authors' code does;
    the small default also treats round-off around a ReLU's zero as zero.  An
    all-zero z gives 0.
    """
    rtol = _check_rtol(rtol)
    z = to_numpy_matrix(z, "z")
    scale = float(np.max(np.abs(z)))
    if scale == 0.0:
        return 0.0
    return float(np.mean(np.abs(z) > rtol * scale))


def _entropy_rank(eigenvalues: np.ndarray) -> float:
    s = np.sqrt(eigenvalues[eigenvalues > 0])
    if s.size == 0:
        return 0.0
    p = s / s.sum()
    return float(math.exp(-np.sum(p * np.log(p))))


def _participation(eigenvalues: np.ndarray) -> float:
    total = float(eigenvalues.sum())
    if total <= 0:
        return 0.0
    return total * total / float(np.sum(eigenvalues * eigenvalues))


def effective_rank(z: Any, *, max_rows: int = SPECTRUM_MAX_ROWS, seed: int = 0) -> float:
    r"""Effective rank of the centred features (Roy and Vetterli 2007).

    .. math:: \mathrm{erank} = \exp\Big(-\sum_i p_i \log p_i\Big),\quad p_i = \sigma_i / \sum_j \sigma_j

    over the non-zero singular values :math:`\sigma_i` of the centred (n, d)
    matrix.  Between 1 and min(n, d); 0 for constant features.  Computed on at
    most ``max_rows`` seeded rows (it is bounded by the row count, so compare
    values computed with the same setting).
    """
    max_rows = check_int(max_rows, "max_rows", minimum=2)
    z = to_numpy_matrix(z, "z", min_n=2)
    return _entropy_rank(spectrum(z, max_rows=max_rows, seed=seed))


def participation_ratio(z: Any, *, max_rows: int = SPECTRUM_MAX_ROWS, seed: int = 0) -> float:
    r"""Participation ratio :math:`(\sum_i \lambda_i)^2 / \sum_i \lambda_i^2` of the covariance eigenvalues.

    Between 1 and min(n, d); 0 for constant features.  Same row cap as
    :func:`effective_rank`.
    """
    max_rows = check_int(max_rows, "max_rows", minimum=2)
    z = to_numpy_matrix(z, "z", min_n=2)
    return _participation(spectrum(z, max_rows=max_rows, seed=seed))


@dataclass(frozen=True)
class Volume:
    """The effective-volume measures of one feature matrix (see the module docstring)."""

    raw_size: int
    nonzero_fraction: float
    nonzero_count: float
    effective_rank: float
    participation_ratio: float
    effective_dof: float

    def to_dict(self) -> dict:
        return asdict(self)


def effective_volume(z: Any, *, rtol: float = 1e-6, max_rows: int = SPECTRUM_MAX_ROWS, seed: int = 0) -> Volume:
    """All effective-volume measures of ``z`` (n, ...) at once (one eigendecomposition)."""
    rtol = _check_rtol(rtol)
    max_rows = check_int(max_rows, "max_rows", minimum=2)
    z = to_numpy_matrix(z, "z", min_n=2)
    return _volume_of_matrix(z, rtol=rtol, max_rows=max_rows, seed=seed)


def _volume_of_matrix(z: np.ndarray, *, rtol: float, max_rows: int, seed: int) -> Volume:
    """:func:`effective_volume` of a validated float64 (n, d) matrix."""
    d = z.shape[1]
    scale = float(np.max(np.abs(z)))
    frac = 0.0 if scale == 0.0 else float(np.mean(np.abs(z) > rtol * scale))
    eig = spectrum(z, max_rows=max_rows, seed=seed)
    erank = _entropy_rank(eig)
    return Volume(
        raw_size=int(d),
        nonzero_fraction=frac,
        nonzero_count=frac * d,
        effective_rank=erank,
        participation_ratio=_participation(eig),
        effective_dof=min(frac * d, erank),
    )
