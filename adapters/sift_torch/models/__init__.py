"""Split models: the SiftFunnel edge and cloud, and undefended CNN / VGG-16 / ResNet-18 splits."""

from .blocks import ACTIVATIONS, InputAdapter, ResidualBlock, conv_block, make_activation
from .funnel import FunnelEdge, UpsamplingCloud, funnel_head
from .split import SplitModel
from .zoo import ARCHS, FUNNEL_CHANNELS, build_split, split_parts

__all__ = [
    "ACTIVATIONS",
    "ARCHS",
    "FUNNEL_CHANNELS",
    "FunnelEdge",
    "InputAdapter",
    "ResidualBlock",
    "SplitModel",
    "UpsamplingCloud",
    "build_split",
    "conv_block",
    "funnel_head",
    "make_activation",
    "split_parts",
]
