"""sift_core: framework-free measures of how invertible split-inference features are.

Every formula lives here once, over numpy (with numba fast paths), and runs
unchanged on torch, TensorFlow/Keras and JAX tensors, which are recognised by
type without this package importing any framework.
"""

from __future__ import annotations

from .dependence import distance_correlation, distance_covariance, distance_variance, hsic
from .objective import (
    bido_terms,
    gaussian_kl,
    label_smoothed_cross_entropy,
    nopeek_terms,
    siftfunnel_terms,
)
from .redundancy import channel_redundancy

__version__ = "0.1.0"

__all__ = [
    "distance_correlation",
    "distance_covariance",
    "distance_variance",
    "hsic",
    "channel_redundancy",
    "bounds",
    "criterion",
    "metrics",
    "mi",
    "objective",
    "volume",
    "imaging",
    "attack_result",
    "label_smoothed_cross_entropy",
    "siftfunnel_terms",
    "nopeek_terms",
    "bido_terms",
    "gaussian_kl",
    "__version__",
]
