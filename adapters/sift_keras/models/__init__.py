"""Edge and cloud models: the SiftFunnel funnel/upsampling pair and undefended split baselines."""

from .blocks import ConvBlock, InputAdapter, ResidualBlock
from .funnel import ACTIVATIONS, FunnelEdge, FunnelHead, UpsamplingCloud, UpsamplingModule, funnel_split
from .zoo import (
    PlainCNNCloud,
    PlainCNNEdge,
    ResNet18Cloud,
    ResNet18Edge,
    VGG16Cloud,
    VGG16Edge,
    split_baseline,
)

__all__ = [
    "InputAdapter", "ConvBlock", "ResidualBlock", "PlainCNNEdge", "PlainCNNCloud", "VGG16Edge", "VGG16Cloud",
    "ResNet18Edge", "ResNet18Cloud", "split_baseline", "FunnelEdge", "FunnelHead", "UpsamplingModule",
    "UpsamplingCloud", "ACTIVATIONS", "funnel_split",
]
