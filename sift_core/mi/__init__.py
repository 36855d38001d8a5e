"""Mutual information and entropy: closed forms, k-NN estimators and a framework-free MINE.

* closed forms: :func:`gaussian_mi`, :func:`student_t_mi`, :func:`gaussian_entropy`,
  :func:`uniform_entropy`, and covariance builders with a chosen MI;
* seeded samplers and the benchmark tasks (:func:`standard_tasks`);
* non-parametric: :func:`ksg` (Kraskov et al. 2004) and :func:`entropy_knn`
  (Kozachenko-Leonenko), exact neighbour search in numba;
* neural: :func:`mine`, an MLP critic trained in numpy (Belghazi et al. 2018)
  with the bounds of :mod:`sift_core.bounds`.
"""

from __future__ import annotations

from .closed_form import (
    bivariate_covariance,
    correlation_for_mi,
    dense_covariance,
    dense_mi,
    dense_off_diag_for_mi,
    gaussian_entropy,
    gaussian_mi,
    pair_correlation_for_mi,
    pairs_covariance,
    student_t_correction,
    student_t_mi,
    uniform_entropy,
)
from .knn import entropy_knn, ksg
from .mine import MIEstimate, mine
from .tasks import Task, gaussian_task, sample_gaussian, sample_student_t, standard_tasks, student_t_task

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
    "sample_gaussian",
    "sample_student_t",
    "Task",
    "gaussian_task",
    "student_t_task",
    "standard_tasks",
    "ksg",
    "entropy_knn",
    "mine",
    "MIEstimate",
]
