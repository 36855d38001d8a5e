"""sift_keras: SiftFunnel defences, inversion attacks and split training for Keras 3.

Channels-last Keras layers and models over the ``sift_core`` formulas:
attention blocks, the funnel edge and upsampling cloud, undefended split
baselines, the SiftFunnel objective and baseline defences, a ``SplitModel``
trained with ``model.fit``, the inverse-network and rMLE attacks, a MINE
critic (``estimate_mi_keras``), and TFLite export of the edge.  The
TensorFlow backend is selected unless ``KERAS_BACKEND`` is already set.

The package logs to ``logging.getLogger("sift_keras")`` and adds no handlers.
"""

from __future__ import annotations

import logging

from sift_core import __version__

from . import _keras  # noqa: F401  (fixes the backend before anything imports keras)
from .attacks import (
    AttackResult,
    GenerativePriorAttack,
    HybridAttack,
    InverseNetworkAttack,
    RMLEAttack,
    build_decoder,
    save_reconstruction_grid,
)
from .attention import CBAM, AttentionGate, SqueezeExcitation, TripletAttention
from .data import ShuffledArrays
from .defences import (
    DEFENCES,
    BiDODefence,
    Defence,
    DropoutDefence,
    GaussianNoiseDefence,  # noqa: F401  (NoiseDefence's old name, left out of __all__)
    MIDDefence,
    NoDefence,
    NoiseDefence,
    NoPeekDefence,
    SiftFunnelDefence,
    make_defence,
    register_defence,
)
from .export import export_tflite, tflite_features
from .losses import SiftFunnelLoss
from .mine import MineCritic, estimate_mi_keras
from .models import (
    FunnelEdge,
    FunnelHead,
    InputAdapter,
    PlainCNNCloud,
    PlainCNNEdge,
    ResNet18Cloud,
    ResNet18Edge,
    UpsamplingCloud,
    UpsamplingModule,
    VGG16Cloud,
    VGG16Edge,
    funnel_split,
    split_baseline,
)
from .profile import EdgeProfile, EdgeReport, count_parameters, edge_report, profile_edge
from .trainer import (
    ChanceAccuracyMonitor,
    ChanceAccuracyWarning,
    DeadFeatureMonitor,
    DeadFeaturesWarning,
    SplitModel,
    default_optimizer,
)

logger = logging.getLogger("sift_keras")

__all__ = [
    "__version__",
    "SqueezeExcitation", "TripletAttention", "CBAM", "AttentionGate",
    "FunnelEdge", "FunnelHead", "UpsamplingModule", "UpsamplingCloud", "funnel_split", "InputAdapter",
    "PlainCNNEdge", "PlainCNNCloud", "VGG16Edge", "VGG16Cloud", "ResNet18Edge", "ResNet18Cloud", "split_baseline",
    "EdgeProfile", "profile_edge", "count_parameters", "EdgeReport", "edge_report",
    "SiftFunnelLoss", "Defence", "NoDefence", "NoiseDefence", "DropoutDefence", "NoPeekDefence",
    "MIDDefence", "BiDODefence", "SiftFunnelDefence", "make_defence", "register_defence", "DEFENCES",
    "SplitModel", "DeadFeatureMonitor", "DeadFeaturesWarning", "ChanceAccuracyMonitor", "ChanceAccuracyWarning",
    "default_optimizer", "ShuffledArrays",
    "InverseNetworkAttack", "RMLEAttack", "HybridAttack", "GenerativePriorAttack", "AttackResult", "build_decoder",
    "save_reconstruction_grid",
    "export_tflite", "tflite_features",
    "MineCritic", "estimate_mi_keras",
]
