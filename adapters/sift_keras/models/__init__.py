"""Edge and cloud models: the SiftFunnel funnel/upsampling pair and undefended split baselines."""

from ._blocks import ConvBlock, InputAdapter, ResidualBlock
from .baselines import (
    PlainCNNCloud,
    PlainCNNEdge,
    ResNet18Cloud,
    ResNet18Edge,
    VGG16Cloud,
    VGG16Edge,
    split_baseline,
)
from .funnel import ACTIVATIONS, FunnelEdge, FunnelHead, UpsamplingCloud, UpsamplingModule, funnel_split
from .report import EdgeReport, edge_report

__all__ = [
    "InputAdapter", "ConvBlock", "ResidualBlock", "PlainCNNEdge", "PlainCNNCloud", "VGG16Edge", "VGG16Cloud",
    "ResNet18Edge", "ResNet18Cloud", "split_baseline", "FunnelEdge", "FunnelHead", "UpsamplingModule",
    "UpsamplingCloud", "EdgeReport", "edge_report", "ACTIVATIONS", "funnel_split",
]
