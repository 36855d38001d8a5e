"""Model inversion attacks on split-inference features: what an attacker recovers from z.

* :class:`InverseNetworkAttack`: black box, trains a decoder on (f(x_aux), x_aux) pairs.
* :class:`RMLEAttack`: white box, optimises the input to reproduce the observed features.
* :class:`HybridAttack`: rMLE started from the inverse network's reconstruction.
* :class:`GenerativePriorAttack`: searches a DCGAN (trained on the attacker's data) for an
  image whose features match, then refines its pixels.

Each trains or optimises to convergence (:mod:`sift_core.inversion`). All return an
:class:`AttackResult` with per-image MSE, PSNR, SSIM and cosine similarity (computed by
``sift_core.metrics``) and can save a PNG grid of originals over reconstructions.
"""

from .decoder import InversionDecoder, build_decoder
from .generative import GenerativePriorAttack
from .generator import Generator, build_discriminator, build_generator, train_generator
from .hybrid import HybridAttack
from .inverse_network import InverseNetworkAttack
from .results import AttackResult, reconstruction_metrics
from .rmle import RMLEAttack, total_variation

__all__ = [
    "AttackResult",
    "GenerativePriorAttack",
    "Generator",
    "HybridAttack",
    "build_discriminator",
    "build_generator",
    "train_generator",
    "InverseNetworkAttack",
    "InversionDecoder",
    "RMLEAttack",
    "build_decoder",
    "reconstruction_metrics",
    "total_variation",
]
