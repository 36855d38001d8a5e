"""Model inversion attacks on the transmitted features, each run to convergence: inverse network
(black box), rMLE (white box), hybrid (rMLE from the inverse network's reconstruction) and
generative prior (latent search of a DCGAN trained on the attacker's data, then pixels)."""

from ..viz import save_reconstruction_grid
from .decoder import build_decoder
from .generative import GenerativePriorAttack
from .generator import build_discriminator, build_generator, train_generator
from .hybrid import HybridAttack
from .inverse_network import InverseNetworkAttack, recalibrate_batchnorm
from .results import AttackResult, reconstruction_metrics
from .rmle import RMLEAttack, total_variation

__all__ = ["InverseNetworkAttack", "RMLEAttack", "HybridAttack", "GenerativePriorAttack", "AttackResult",
           "reconstruction_metrics", "build_decoder", "build_generator", "build_discriminator", "train_generator",
           "recalibrate_batchnorm", "total_variation", "save_reconstruction_grid"]
