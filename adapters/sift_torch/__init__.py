"""sift_torch: SiftFunnel for PyTorch split models.

Models (the funnel edge, the upsampling cloud, undefended CNN / VGG-16 /
ResNet-18 splits), the SiftFunnel objective and baseline defences, a
trainer with checkpoints, resume and DDP, edge profiling, model inversion
attacks (inverse network, rMLE), MINE and ONNX export of the edge.  Every
formula is a call into :mod:`sift_core`.

The package logs to ``logging.getLogger("sift_torch")`` and adds no handlers.
"""

import logging

from sift_core import __version__

from .attacks import (
    AttackResult,
    GenerativePriorAttack,
    HybridAttack,
    InverseNetworkAttack,
    InversionDecoder,
    RMLEAttack,
    build_decoder,
    reconstruction_metrics,
    total_variation,
)
from .attention import CBAM, SqueezeExcitation, TripletAttention
from .checkpoint import load_checkpoint, save_checkpoint
from .defences import (
    DEFENCES,
    BiDOLoss,
    Defence,
    FeatureDropout,
    GaussianNoise,
    NoPeekLoss,
    VariationalBottleneck,
    make_defence,
    register_defence,
)
from .distributed import gather_batch, setup_distributed
from .export import export_onnx, onnx_features
from .losses import CrossEntropyLoss, DeadFeaturesWarning, FeatureLoss, SiftFunnelLoss, check_dead_features
from .mine import MineCritic, estimate_mi_torch
from .models import FunnelEdge, InputAdapter, SplitModel, UpsamplingCloud, build_split, split_parts
from .profile import EdgeProfile, count_flops, count_parameters, profile_edge
from .trainer import ChanceAccuracyWarning, TrainConfig, Trainer, evaluate, fit
from .viz import grid_image, save_reconstruction_grid

logger = logging.getLogger("sift_torch")

__all__ = [
    "__version__",
    "CBAM",
    "SqueezeExcitation",
    "TripletAttention",
    "FunnelEdge",
    "UpsamplingCloud",
    "InputAdapter",
    "SplitModel",
    "build_split",
    "split_parts",
    "SiftFunnelLoss",
    "CrossEntropyLoss",
    "FeatureLoss",
    "DeadFeaturesWarning",
    "check_dead_features",
    "Defence",
    "DEFENCES",
    "make_defence",
    "register_defence",
    "GaussianNoise",
    "FeatureDropout",
    "VariationalBottleneck",
    "NoPeekLoss",
    "BiDOLoss",
    "EdgeProfile",
    "profile_edge",
    "count_parameters",
    "count_flops",
    "TrainConfig",
    "Trainer",
    "ChanceAccuracyWarning",
    "fit",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
    "setup_distributed",
    "gather_batch",
    "InverseNetworkAttack",
    "RMLEAttack",
    "HybridAttack",
    "GenerativePriorAttack",
    "AttackResult",
    "InversionDecoder",
    "build_decoder",
    "reconstruction_metrics",
    "total_variation",
    "MineCritic",
    "estimate_mi_torch",
    "grid_image",
    "save_reconstruction_grid",
    "export_onnx",
    "onnx_features",
]
