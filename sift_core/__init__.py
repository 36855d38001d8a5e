"""sift_core: framework-free measures of how invertible split-inference features are.

Every formula lives here once, over numpy (with numba fast paths), and runs
unchanged on torch, TensorFlow/Keras and JAX tensors, which are recognised by
type without this package importing any framework.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version

from .dependence import distance_correlation, distance_covariance, distance_variance, hsic
from .objective import (
    bido_terms,
    distillation_kl,
    gaussian_kl,
    label_smoothed_cross_entropy,
    mid_terms,
    nopeek_terms,
    siftfunnel_terms,
)
from .redundancy import channel_redundancy


def _version() -> str:
    """The installed ``siftfunnel`` distribution's version; "0+unknown" when running from an uninstalled tree."""
    try:
        return _dist_version("siftfunnel")
    except PackageNotFoundError:
        return "0+unknown"


#: version of the ``siftfunnel`` distribution (one number for sift_core, sift_torch, sift_keras, sift_reference)
__version__ = _version()

#: the package logger; the library adds no handlers (applications configure logging, as ``siftfunnel`` does)
logger = logging.getLogger("sift_core")

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
    "files",
    "attack_result",
    "inversion",
    "probe",
    "frontier",
    "stats",
    "training_checks",
    "validation",
    "label_smoothed_cross_entropy",
    "siftfunnel_terms",
    "nopeek_terms",
    "bido_terms",
    "distillation_kl",
    "gaussian_kl",
    "mid_terms",
    "__version__",
]

#: submodules imported on first attribute access (PEP 562), so ``import sift_core; sift_core.mi.ksg(...)``
#: works while ``import sift_core`` stays light
_SUBMODULES = frozenset({"bounds", "criterion", "metrics", "mi", "objective", "volume", "imaging", "files",
                         "attack_result", "inversion", "probe", "frontier", "stats", "training_checks", "validation"})


def __getattr__(name: str):
    if name in _SUBMODULES:
        import importlib

        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'sift_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES)
