"""Closed-form entropies and mutual informations, and covariances with a chosen MI.

These are the ground truths the estimators are tested and benchmarked against:
the jointly Gaussian vector, the split multivariate Student-t and the uniform
box.  The covariance builders reproduce the tasks of the "Beyond Normal"
benchmark (Czyz et al., NeurIPS 2023, package ``bmi``):

* bivariate normal with correlation rho;
* "dense": every off-diagonal correlation of the (dim_x + dim_z) vector equals
  ``off_diag`` (0.5 in the benchmark; 5 x 5 gives 0.5928 nats);
* "2-pair" (``pairs_covariance``): the latent-variable model X_i = lambda Z_i +
  E_i, Y_i = lambda Z_i + F_i for the first two coordinates and independent
  noise elsewhere, normalised to unit variances; with lambda = 2 (the
  benchmark's strength) each pair has correlation lambda^2 / (1 + lambda^2) = 0.8.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_int
from ._special import digamma, lgamma

__all__ = [
    "gaussian_mi",
    "gaussian_entropy",
    "uniform_entropy",
    "student_t_mi",
    "student_t_correction",
    "bivariate_covariance",
    "correlation_for_mi",
    "dense_covariance",
    "dense_mi",
    "dense_off_diag_for_mi",
    "pairs_covariance",
    "pair_correlation_for_mi",
]


def _covariance(cov, name: str = "covariance") -> np.ndarray:
    cov = np.asarray(cov, dtype=np.float64)
    if cov.ndim != 2 or cov.shape[0] != cov.shape[1] or cov.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix; got shape {cov.shape}")
    if not np.isfinite(cov).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if not np.allclose(cov, cov.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(cov).max()))):
        raise ValueError(f"{name} must be symmetric")
    return 0.5 * (cov + cov.T)


def _logdet_pd(cov: np.ndarray, name: str) -> float:
    try:
        chol = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite") from None
    return 2.0 * float(np.sum(np.log(np.diag(chol))))


def _split(cov: np.ndarray, dim_x, name: str) -> int:
    dx = check_int(dim_x, "dim_x", minimum=1)
    if dx >= cov.shape[0]:
        raise ValueError(f"dim_x must be below the size of {name} ({cov.shape[0]}); got {dx}")
    return dx


def gaussian_mi(covariance, *, dim_x: int) -> float:
    r"""Mutual information (nats) between the first ``dim_x`` and the remaining coordinates.

    For a jointly Gaussian vector (x, z) with covariance
    :math:`\Sigma = [[\Sigma_{xx}, \Sigma_{xz}], [\Sigma_{zx}, \Sigma_{zz}]]`:

    .. math::
        I(x; z) = \tfrac12 \left(\log\det\Sigma_{xx} + \log\det\Sigma_{zz} - \log\det\Sigma\right)

    (Cover and Thomas, *Elements of Information Theory*, 2nd ed., 8.5).
    """
    cov = _covariance(covariance)
    dx = _split(cov, dim_x, "covariance")
    full = _logdet_pd(cov, "covariance")
    value = 0.5 * (_logdet_pd(cov[:dx, :dx], "covariance") + _logdet_pd(cov[dx:, dx:], "covariance") - full)
    return max(0.0, value)


def gaussian_entropy(covariance) -> float:
    r"""Differential entropy (nats) of N(mu, Sigma): :math:`\tfrac12 \log\det(2\pi e \Sigma)`."""
    cov = _covariance(covariance)
    d = cov.shape[0]
    return 0.5 * (d * math.log(2.0 * math.pi * math.e) + _logdet_pd(cov, "covariance"))


def uniform_entropy(low, high) -> float:
    r"""Differential entropy (nats) of the uniform law on the box prod_i [low_i, high_i]: sum_i log(high_i - low_i)."""
    low = np.atleast_1d(np.asarray(low, dtype=np.float64))
    high = np.atleast_1d(np.asarray(high, dtype=np.float64))
    if low.shape != high.shape:
        raise ValueError(f"low and high must have the same shape; got {low.shape} and {high.shape}")
    if not (np.isfinite(low).all() and np.isfinite(high).all()):
        raise ValueError("low and high must be finite")
    if not (high > low).all():
        raise ValueError("high must exceed low in every coordinate")
    return float(np.sum(np.log(high - low)))


def _student_entropy_standard(k: int, df: float) -> float:
    """Entropy of the standard k-variate Student-t (identity dispersion), Arellano-Valle et al. (2013), eq. 7."""
    h = 0.5 * (df + k)
    return lgamma(0.5 * df) - lgamma(h) + 0.5 * k * math.log(df * math.pi) + h * (digamma(h) - digamma(0.5 * df))


def student_t_correction(dim_x: int, dim_z: int, df: float) -> float:
    r"""The part of the split Student-t MI that depends only on the dimensions and ``df``.

    .. math::
        c(d_x, d_z, \nu) = h_{d_x,\nu} + h_{d_z,\nu} - h_{d_x + d_z,\nu}

    with :math:`h_{k,\nu}` the entropy of the standard k-variate Student-t
    (Arellano-Valle, Contreras-Reyes and Genton 2013).  It is positive and
    tends to 0 as ``df`` grows (the Gaussian limit).
    """
    dx = check_int(dim_x, "dim_x", minimum=1)
    dz = check_int(dim_z, "dim_z", minimum=1)
    if isinstance(df, bool) or not isinstance(df, (int, float)) or not df > 0 or math.isinf(df):
        raise ValueError(f"df must be a finite positive number; got {df!r}")
    return _student_entropy_standard(dx, df) + _student_entropy_standard(dz, df) - _student_entropy_standard(
        dx + dz, df
    )


def student_t_mi(dispersion, *, dim_x: int, df: float) -> float:
    r"""MI (nats) between the blocks of a multivariate Student-t (dispersion ``Sigma``, ``df`` degrees of freedom).

    .. math::
        I(x; z) = I_\text{Gauss}(\Sigma) + c(d_x, d_z, \nu)

    the Gaussian MI of the dispersion matrix plus :func:`student_t_correction`
    (Arellano-Valle et al. 2013; as used by Czyz et al. 2023).  The
    dispersion is not the covariance (that is ``nu / (nu - 2) Sigma``).
    """
    cov = _covariance(dispersion, "dispersion")
    dx = _split(cov, dim_x, "dispersion")
    full = _logdet_pd(cov, "dispersion")
    gauss = 0.5 * (_logdet_pd(cov[:dx, :dx], "dispersion") + _logdet_pd(cov[dx:, dx:], "dispersion") - full)
    return max(0.0, gauss) + student_t_correction(dx, cov.shape[0] - dx, df)


# ------------------------------------------------------------------ covariance builders


def _check_mi(mi) -> float:
    if isinstance(mi, bool) or not isinstance(mi, (int, float)) or not (0 <= mi < math.inf):
        raise ValueError(f"mi must be a finite non-negative number of nats; got {mi!r}")
    return float(mi)


def _check_corr(value, name: str, lo: float = -1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (lo < value < 1.0):
        raise ValueError(f"{name} must lie in ({lo:g}, 1); got {value!r}")
    return float(value)


def bivariate_covariance(rho: float) -> np.ndarray:
    """2 x 2 correlation matrix [[1, rho], [rho, 1]]; its MI is -log(1 - rho^2) / 2."""
    rho = _check_corr(rho, "rho")
    return np.array([[1.0, rho], [rho, 1.0]])


def correlation_for_mi(mi: float) -> float:
    """The bivariate correlation rho >= 0 with MI ``mi`` nats: sqrt(1 - exp(-2 mi))."""
    return math.sqrt(-math.expm1(-2.0 * _check_mi(mi)))


def dense_covariance(dim_x: int, dim_z: int, *, off_diag: float = 0.5) -> np.ndarray:
    """Equicorrelated (dim_x + dim_z) correlation matrix: every off-diagonal entry is ``off_diag``.

    The "dense" task of Czyz et al. (2023).  See :func:`dense_mi` for its MI.
    """
    dx = check_int(dim_x, "dim_x", minimum=1)
    dz = check_int(dim_z, "dim_z", minimum=1)
    d = dx + dz
    rho = _check_corr(off_diag, "off_diag", lo=-1.0 / (d - 1))
    return np.full((d, d), rho) + (1.0 - rho) * np.eye(d)


def dense_mi(dim_x: int, dim_z: int, off_diag: float) -> float:
    r"""Closed form MI of :func:`dense_covariance` (from det of an equicorrelation matrix).

    .. math::
        I = \tfrac12\left[\log(1 + (d_x-1)\rho) + \log(1 + (d_z-1)\rho) - \log(1 + (d-1)\rho) - \log(1-\rho)\right]
    """
    dx = check_int(dim_x, "dim_x", minimum=1)
    dz = check_int(dim_z, "dim_z", minimum=1)
    d = dx + dz
    rho = _check_corr(off_diag, "off_diag", lo=-1.0 / (d - 1))
    return 0.5 * (
        math.log1p((dx - 1) * rho) + math.log1p((dz - 1) * rho) - math.log1p((d - 1) * rho) - math.log1p(-rho)
    )


def dense_off_diag_for_mi(dim_x: int, dim_z: int, mi: float) -> float:
    """The ``off_diag`` in [0, 1) whose dense covariance has MI ``mi`` (bisection; MI increases with it)."""
    target = _check_mi(mi)
    lo, hi = 0.0, 1.0 - 1e-15
    if target >= dense_mi(dim_x, dim_z, hi):
        raise ValueError(f"mi={mi} is out of reach of the dense {dim_x} x {dim_z} structure")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if dense_mi(dim_x, dim_z, mid) < target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-15:
            break
    return 0.5 * (lo + hi)


def pairs_covariance(dim_x: int, dim_z: int, *, n_pairs: int = 2, correlation: float = 0.8) -> np.ndarray:
    """Correlation matrix with ``n_pairs`` interacting pairs (x_i, z_i) and all other coordinates independent.

    ``correlation`` is that of each pair; the "2-pair" task of Czyz et al.
    (2023) is ``n_pairs=2, correlation=0.8`` (latent strength lambda = 2:
    lambda^2 / (1 + lambda^2)).  MI = -n_pairs * log(1 - correlation^2) / 2.
    """
    dx = check_int(dim_x, "dim_x", minimum=1)
    dz = check_int(dim_z, "dim_z", minimum=1)
    k = check_int(n_pairs, "n_pairs", minimum=0)
    if k > min(dx, dz):
        raise ValueError(f"n_pairs must not exceed min(dim_x, dim_z) = {min(dx, dz)}; got {k}")
    rho = _check_corr(correlation, "correlation")
    cov = np.eye(dx + dz)
    for i in range(k):
        cov[i, dx + i] = cov[dx + i, i] = rho
    return cov


def pair_correlation_for_mi(mi: float, *, n_pairs: int = 2) -> float:
    """The per-pair correlation giving total MI ``mi`` over ``n_pairs`` independent pairs."""
    k = check_int(n_pairs, "n_pairs", minimum=1)
    return correlation_for_mi(_check_mi(mi) / k)
