"""Model inversion attacks on the transmitted features: inverse network (black box) and rMLE (white box)."""

from ..viz import save_reconstruction_grid
from .decoder import build_decoder
from .inverse_network import InverseNetworkAttack
from .results import AttackResult, reconstruction_metrics
from .rmle import RMLEAttack, total_variation

__all__ = ["InverseNetworkAttack", "RMLEAttack", "AttackResult", "reconstruction_metrics", "build_decoder",
           "total_variation", "save_reconstruction_grid"]
