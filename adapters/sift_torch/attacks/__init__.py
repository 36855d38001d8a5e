"""Model inversion attacks on split-inference features: what an attacker recovers from z.

* :class:`InverseNetworkAttack`: black box, trains a decoder on (f(x_aux), x_aux) pairs.
* :class:`RMLEAttack`: white box, optimises the input to reproduce the observed features.

Both return an :class:`AttackResult` with per-image MSE, PSNR, SSIM and cosine similarity
(computed by ``sift_core.metrics``) and can save a PNG grid of originals over reconstructions.
"""

from .decoder import InversionDecoder, build_decoder
from .inverse_network import InverseNetworkAttack
from .results import AttackResult, reconstruction_metrics
from .rmle import RMLEAttack, total_variation

__all__ = [
    "AttackResult",
    "InverseNetworkAttack",
    "InversionDecoder",
    "RMLEAttack",
    "build_decoder",
    "reconstruction_metrics",
    "total_variation",
]
