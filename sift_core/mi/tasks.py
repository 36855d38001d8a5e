"""Seeded samplers for the closed-form distributions, and the benchmark tasks built on them.

A :class:`Task` bundles a distribution whose MI is known in closed form with a
sampler, so tests and ``benchmarks/bench_mi.py`` compare every estimator with
the same truth.  :func:`standard_tasks` lists the tasks of the "Beyond Normal"
benchmark (Czyz et al., NeurIPS 2023) that this library reports on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_int
from .closed_form import (
    _covariance,
    _split,
    bivariate_covariance,
    dense_covariance,
    gaussian_mi,
    pairs_covariance,
    student_t_mi,
)

__all__ = ["Task", "sample_gaussian", "sample_student_t", "gaussian_task", "student_t_task", "standard_tasks"]


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _chol(cov: np.ndarray, name: str) -> np.ndarray:
    try:
        return np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError(f"{name} must be positive definite") from None


def sample_gaussian(covariance, n: int, *, dim_x: int, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of (x, z) ~ N(0, covariance), split after ``dim_x`` coordinates.

    ``seed`` is an int or a ``numpy.random.Generator`` (``None``: fresh entropy).
    """
    cov = _covariance(covariance)
    dx = _split(cov, dim_x, "covariance")
    n = check_int(n, "n", minimum=1)
    w = _rng(seed).standard_normal((n, cov.shape[0])) @ _chol(cov, "covariance").T
    return w[:, :dx].copy(), w[:, dx:].copy()


def sample_student_t(dispersion, n: int, *, dim_x: int, df: float, seed=None) -> tuple[np.ndarray, np.ndarray]:
    """``n`` draws of a multivariate Student-t: w = g / sqrt(u / df), g ~ N(0, dispersion), u ~ chi^2(df)."""
    cov = _covariance(dispersion, "dispersion")
    dx = _split(cov, dim_x, "dispersion")
    n = check_int(n, "n", minimum=1)
    if isinstance(df, bool) or not isinstance(df, (int, float)) or not 0 < df < math.inf:
        raise ValueError(f"df must be a finite positive number; got {df!r}")
    rng = _rng(seed)
    g = rng.standard_normal((n, cov.shape[0])) @ _chol(cov, "dispersion").T
    w = g / np.sqrt(rng.chisquare(df, size=(n, 1)) / df)
    return w[:, :dx].copy(), w[:, dx:].copy()


@dataclass(frozen=True)
class Task:
    """A distribution of (x, z) with known mutual information ``mi`` (nats)."""

    name: str
    dim_x: int
    dim_z: int
    mi: float
    matrix: np.ndarray
    df: float | None = None  # None: Gaussian with covariance ``matrix``; else Student-t with dispersion ``matrix``

    def sample(self, n: int, *, seed=None) -> tuple[np.ndarray, np.ndarray]:
        """``n`` samples (x of shape (n, dim_x), z of shape (n, dim_z)), reproducible with ``seed``."""
        if self.df is None:
            return sample_gaussian(self.matrix, n, dim_x=self.dim_x, seed=seed)
        return sample_student_t(self.matrix, n, dim_x=self.dim_x, df=self.df, seed=seed)


def gaussian_task(covariance, *, dim_x: int, name: str = "gaussian") -> Task:
    cov = _covariance(covariance)
    dx = _split(cov, dim_x, "covariance")
    return Task(name, dx, cov.shape[0] - dx, gaussian_mi(cov, dim_x=dx), cov)


def student_t_task(dispersion, *, dim_x: int, df: float, name: str = "student-t") -> Task:
    cov = _covariance(dispersion, "dispersion")
    dx = _split(cov, dim_x, "dispersion")
    return Task(name, dx, cov.shape[0] - dx, student_t_mi(cov, dim_x=dx, df=df), cov, float(df))


def standard_tasks() -> list[Task]:
    """The benchmark tasks: bivariate normal (rho 0.75), dense 3x3 / 5x5 / 25x25 (off-diagonal 0.5),
    2-pair 5x5 (pair correlation 0.8) and Student-t 2x2 with identity dispersion and 1 degree of freedom."""
    tasks = [gaussian_task(bivariate_covariance(0.75), dim_x=1, name="bivariate normal 1x1 (rho=0.75)")]
    for d in (3, 5, 25):
        tasks.append(gaussian_task(dense_covariance(d, d, off_diag=0.5), dim_x=d, name=f"dense {d}x{d}"))
    tasks.append(gaussian_task(pairs_covariance(5, 5, n_pairs=2, correlation=0.8), dim_x=5, name="2-pair 5x5"))
    tasks.append(student_t_task(np.eye(4), dim_x=2, df=1, name="Student-t 2x2 (dof=1)"))
    return tasks
