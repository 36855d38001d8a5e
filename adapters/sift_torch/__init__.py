"""sift_torch: SiftFunnel for PyTorch split models.

Models (the funnel edge, the upsampling cloud, undefended CNN / VGG-16 /
ResNet-18 splits), the SiftFunnel objective and baseline defences, a
trainer with checkpoints, resume and DDP, and edge profiling.  Every formula
is a call into :mod:`sift_core`.
"""

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
from .losses import CrossEntropyLoss, DeadFeaturesWarning, FeatureLoss, SiftFunnelLoss, check_dead_features
from .models import FunnelEdge, InputAdapter, SplitModel, UpsamplingCloud, build_split, split_parts
from .profile import EdgeProfile, count_flops, count_parameters, profile_edge
from .trainer import TrainConfig, Trainer, evaluate, fit

__all__ = [
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
    "fit",
    "evaluate",
    "save_checkpoint",
    "load_checkpoint",
    "setup_distributed",
    "gather_batch",
]
